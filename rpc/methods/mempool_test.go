package methods

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/mempool/fees"
	"github.com/quarrychain/quarry/rpc"
)

// newPool returns a mempool on c and its transaction index (nil: off),
// closed when the test ends.
func newPool(t *testing.T, c *blockchain.Chain, txIndex *indexers.TxIndex, now func() time.Time) *mempool.Pool {
	t.Helper()
	pool, err := mempool.New(mempool.Config{Chain: c, TxIndex: txIndex, Logger: slog.New(slog.DiscardHandler), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// poolFixture is a regtest chain of 110 blocks, so that the coinbases of
// blocks 1 to 10 can be spent in the next block, with a real mempool, and a
// registry holding the chain and mempool methods. Long polling looks at the
// pool after 20 ms and then every 5 ms.
type poolFixture struct {
	*chainFixture
	pool *mempool.Pool
	fees *fees.Estimator

	mu      sync.Mutex
	relayed []chain.Hash
}

func newPoolFixture(t *testing.T) *poolFixture {
	t.Helper()
	f := &poolFixture{chainFixture: newChainFixture(t, 101)}
	for range 9 {
		b := f.gen.NextBlock(f.main[len(f.main)-1].Hash())
		if _, err := f.chain.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		f.main = append(f.main, b)
	}
	f.pool = newPool(t, f.chain, f.txIndex, func() time.Time { return f.now })
	f.fees = fees.New()
	f.reg = rpc.NewRegistry()
	RegisterChain(f.reg, f.backend())
	t.Cleanup(registerMempool(f.reg, MempoolBackend{Pool: f.pool, Chain: f.chain, Relay: f.relay, Fees: f.fees},
		20*time.Millisecond, 5*time.Millisecond))
	return f
}

func (f *poolFixture) relay(tx *chain.Tx) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.relayed = append(f.relayed, tx.TxID())
}

func (f *poolFixture) relays() []chain.Hash {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.relayed)
}

// spend spends the coinbase of block i whole but for fee.
func (f *poolFixture) spend(i int, fee uint64) *chain.Tx {
	return f.gen.SpendAll(f.gen.Coinbase(f.main[i].Hash()), fee)
}

// child spends output 0 of parent whole but for fee.
func (f *poolFixture) child(parent *chain.Tx, fee uint64) *chain.Tx {
	value := parent.Outputs[0].Value
	tx := &chain.Tx{Version: 1,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: parent.TxID()}}},
		Outputs: []chain.TxOut{{Value: value - fee, PubKeyHash: f.gen.PKH}}}
	chain.SignInput(tx, chain.NewSigHasher(tx, parent.Outputs[:1]), 0, f.gen.Key)
	return tx
}

// missingInputs is a signed transaction spending an output nobody made.
func (f *poolFixture) missingInputs() *chain.Tx {
	tx := &chain.Tx{Version: 1,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: chaintest.TxIDFromSeed(1)}}},
		Outputs: []chain.TxOut{{Value: chain.Coin, PubKeyHash: f.gen.PKH}}}
	chain.SignInput(tx, chain.NewSigHasher(tx, []chain.TxOut{{Value: 2 * chain.Coin, PubKeyHash: f.gen.PKH}}), 0, f.gen.Key)
	return tx
}

func (f *poolFixture) send(t *testing.T, tx *chain.Tx) {
	t.Helper()
	var txid chain.Hash
	f.call(t, "sendrawtransaction", []any{hexTx(tx)}, &txid)
	if txid != tx.TxID() {
		t.Fatalf("sendrawtransaction = %s, want %s", txid, tx.TxID())
	}
}

func hexTx(tx *chain.Tx) string { return hex.EncodeToString(tx.Encode()) }

const (
	testFee = 10_000
	lowFee  = 0
)

func TestSendRawTransaction(t *testing.T) {
	f := newPoolFixture(t)
	parent := f.spend(1, testFee)

	f.send(t, parent)
	if got := f.relays(); !slices.Equal(got, []chain.Hash{parent.TxID()}) {
		t.Errorf("relayed %v, want the transaction", got)
	}
	if !f.pool.Has(parent.TxID()) {
		t.Error("the transaction is not in the pool")
	}
	// Core announces a transaction submitted again, rather than failing.
	f.send(t, parent)
	if got := f.relays(); len(got) != 2 {
		t.Errorf("relayed %v after a resubmission, want the transaction twice", got)
	}
	f.send(t, f.child(parent, testFee))

	badSig := f.spend(2, testFee)
	badSig.Outputs[0].Value-- // after signing
	for _, c := range []struct {
		name   string
		params any
		code   int
		msg    string
	}{
		{"no hex", []any{"zz"}, rpc.CodeDeserialization, "TX decode failed: "},
		{"no transaction", []any{"00"}, rpc.CodeDeserialization, "TX decode failed: "},
		{"missing inputs", []any{hexTx(f.missingInputs())}, rpc.CodeVerify, "bad-txns-inputs-missingorspent"},
		{"low fee", []any{hexTx(f.spend(3, lowFee))}, rpc.CodeVerifyRejected, "min relay fee not met, 0 < "},
		{"bad signature", []any{hexTx(badSig)}, rpc.CodeVerifyRejected, chain.ErrBadSignature.Reason() + ", "},
		{"replacement paying less", []any{hexTx(f.spend(1, testFee/2))}, rpc.CodeVerifyRejected, "insufficient fee, "},
		{"coinbase", []any{hexTx(f.main[5].Txs[0])}, rpc.CodeVerifyRejected, "coinbase"},
		{"fee above the default maxfeerate", []any{hexTx(f.spend(4, chain.Coin))}, rpc.CodeVerify, maxFeeExceeded},
		{"fee above maxfeerate", []any{hexTx(f.spend(4, 10*testFee)), 0.0001}, rpc.CodeVerify, maxFeeExceeded},
		{"maxfeerate of a coin", []any{hexTx(f.spend(4, testFee)), 1}, rpc.CodeInvalidParameter, "Fee rates larger than or equal to 1QRY/kvB are not accepted"},
		{"negative maxfeerate", []any{hexTx(f.spend(4, testFee)), -0.1}, rpc.CodeType, "Amount out of range"},
		{"no parameters", nil, rpc.CodeMisc, "Missing required parameter 'hexstring'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.relays())
			f.callErr(t, "sendrawtransaction", c.params, c.code, c.msg)
			if len(f.relays()) != before {
				t.Error("a refused transaction was relayed")
			}
		})
	}
	if n := f.pool.Info().Count; n != 2 {
		t.Errorf("the pool holds %d transactions, want the parent and the child", n)
	}

	t.Run("maxfeerate 0", func(t *testing.T) {
		rich := f.spend(4, chain.Coin)
		var txid chain.Hash
		f.call(t, "sendrawtransaction", map[string]any{"hexstring": hexTx(rich), "maxfeerate": 0}, &txid)
		if txid != rich.TxID() || !f.pool.Has(txid) {
			t.Errorf("sendrawtransaction with maxfeerate 0 = %s, want %s accepted", txid, rich.TxID())
		}
	})
	t.Run("replacement", func(t *testing.T) {
		replacement := f.spend(1, 10*testFee)
		f.send(t, replacement)
		if f.pool.Has(parent.TxID()) || !f.pool.Has(replacement.TxID()) {
			t.Error("the replacement did not evict the transaction it conflicts with")
		}
	})
}

func TestTestMempoolAccept(t *testing.T) {
	f := newPoolFixture(t)
	good := f.spend(1, testFee)
	size := good.SerializeSize()

	var res []map[string]any
	f.call(t, "testmempoolaccept", []any{[]string{hexTx(good)}}, &res)
	if len(res) != 1 {
		t.Fatalf("testmempoolaccept gave %d results, want 1", len(res))
	}
	checkKeys(t, "allowed result", res[0], "txid", "wtxid", "allowed", "vsize", "fees")
	checkField(t, res[0], "txid", good.TxID())
	checkField(t, res[0], "wtxid", good.WitnessHash())
	checkField(t, res[0], "allowed", true)
	checkField(t, res[0], "vsize", size)
	fees, _ := res[0]["fees"].(map[string]any)
	checkKeys(t, "fees", fees, "base", "effective-feerate", "effective-includes")
	checkField(t, fees, "base", rpc.Amount(testFee))
	checkField(t, fees, "effective-feerate", rpc.Amount(testFee*1000/size))
	checkField(t, fees, "effective-includes", []chain.Hash{good.WitnessHash()})
	if f.pool.Info().Count != 0 {
		t.Error("testmempoolaccept changed the pool")
	}

	lowFeeTx := f.spend(2, lowFee)
	rich := f.spend(3, chain.Coin)
	res = nil // decoding into old maps would keep their fields
	f.call(t, "testmempoolaccept", []any{[]string{hexTx(f.missingInputs()), hexTx(lowFeeTx), hexTx(rich), hexTx(good)}}, &res)
	if len(res) != 4 {
		t.Fatalf("testmempoolaccept gave %d results, want 4", len(res))
	}
	checkKeys(t, "missing inputs", res[0], "txid", "wtxid", "allowed", "reject-reason")
	checkField(t, res[0], "allowed", false)
	checkField(t, res[0], "reject-reason", "missing-inputs")
	checkKeys(t, "low fee", res[1], "txid", "wtxid", "allowed", "reject-reason", "reject-details")
	checkField(t, res[1], "txid", lowFeeTx.TxID())
	checkField(t, res[1], "reject-reason", "min relay fee not met")
	if d, _ := res[1]["reject-details"].(string); !strings.HasPrefix(d, "min relay fee not met, 0 < ") {
		t.Errorf("reject-details = %q, want the reason and the fees", d)
	}
	checkKeys(t, "fee too high", res[2], "txid", "wtxid", "allowed", "reject-reason")
	checkField(t, res[2], "reject-reason", "max-fee-exceeded")
	checkField(t, res[3], "allowed", true)

	res = nil
	f.call(t, "testmempoolaccept", map[string]any{"rawtxs": []string{hexTx(rich)}, "maxfeerate": 0}, &res)
	checkField(t, res[0], "allowed", true)

	f.send(t, good)
	res = nil
	f.call(t, "testmempoolaccept", []any{[]string{hexTx(good)}}, &res)
	checkField(t, res[0], "reject-reason", "txn-already-in-mempool")

	many := make([]string, MaxTestAcceptTxs+1)
	for i := range many {
		many[i] = hexTx(good)
	}
	f.callErr(t, "testmempoolaccept", []any{[]string{}}, rpc.CodeInvalidParameter, "Array must contain between 1 and 25 transactions.")
	f.callErr(t, "testmempoolaccept", []any{many}, rpc.CodeInvalidParameter, "Array must contain between 1 and 25 transactions.")
	f.callErr(t, "testmempoolaccept", []any{[]string{hexTx(good), "zz"}}, rpc.CodeDeserialization, "TX decode failed for tx 1: ")
	f.callErr(t, "testmempoolaccept", []any{hexTx(good)}, rpc.CodeType, "Wrong type for parameter 'rawtxs'")
	f.callErr(t, "testmempoolaccept", []any{[]int{1}}, rpc.CodeType, "Wrong type for parameter 'rawtxs'")
	f.callErr(t, "testmempoolaccept", []any{[]string{hexTx(good)}, 2}, rpc.CodeInvalidParameter, "Fee rates larger than or equal to 1QRY/kvB")
}

var mempoolEntryKeys = []string{"vsize", "weight", "time", "height", "descendantcount", "descendantsize",
	"ancestorcount", "ancestorsize", "wtxid", "fees", "depends", "spentby", "bip125-replaceable", "unbroadcast"}

func TestMempoolQueries(t *testing.T) {
	f := newPoolFixture(t)

	var txids []chain.Hash
	f.call(t, "getrawmempool", nil, &txids)
	if txids == nil || len(txids) != 0 {
		t.Errorf("getrawmempool of an empty pool = %v, want []", txids)
	}

	parent := f.spend(1, testFee)
	const childFee = 2 * testFee
	child := f.child(parent, childFee)
	f.send(t, parent)
	f.send(t, child)
	ps, cs := parent.SerializeSize(), child.SerializeSize()

	f.call(t, "getrawmempool", []any{false}, &txids)
	if want := []chain.Hash{parent.TxID(), child.TxID()}; !slices.Equal(txids, want) {
		t.Errorf("getrawmempool = %v, want %v (parents first)", txids, want)
	}

	// The entries of the two, and what each should show.
	type family struct {
		count, size int
		fees        uint64
	}
	type entryWant struct {
		tx                  *chain.Tx
		fee                 uint64
		ancestors, descends family
		depends, spentBy    []chain.Hash
	}
	parentWant := entryWant{tx: parent, fee: testFee,
		ancestors: family{1, ps, testFee}, descends: family{2, ps + cs, testFee + childFee},
		depends: []chain.Hash{}, spentBy: []chain.Hash{child.TxID()}}
	childWant := entryWant{tx: child, fee: childFee,
		ancestors: family{2, ps + cs, testFee + childFee}, descends: family{1, cs, childFee},
		depends: []chain.Hash{parent.TxID()}, spentBy: []chain.Hash{}}
	checkEntry := func(t *testing.T, what string, e map[string]any, want entryWant) {
		t.Helper()
		checkKeys(t, what, e, mempoolEntryKeys...)
		size := want.tx.SerializeSize()
		checkField(t, e, "vsize", size)
		checkField(t, e, "weight", 4*size)
		checkField(t, e, "time", f.now.Unix())
		checkField(t, e, "height", 110)
		checkField(t, e, "descendantcount", want.descends.count)
		checkField(t, e, "descendantsize", want.descends.size)
		checkField(t, e, "ancestorcount", want.ancestors.count)
		checkField(t, e, "ancestorsize", want.ancestors.size)
		checkField(t, e, "wtxid", want.tx.WitnessHash())
		checkField(t, e, "depends", want.depends)
		checkField(t, e, "spentby", want.spentBy)
		checkField(t, e, "bip125-replaceable", true)
		checkField(t, e, "unbroadcast", false)
		fees, _ := e["fees"].(map[string]any)
		checkKeys(t, what+" fees", fees, "base", "modified", "ancestor", "descendant")
		checkField(t, fees, "base", rpc.Amount(want.fee))
		checkField(t, fees, "modified", rpc.Amount(want.fee))
		checkField(t, fees, "ancestor", rpc.Amount(want.ancestors.fees))
		checkField(t, fees, "descendant", rpc.Amount(want.descends.fees))
	}

	t.Run("getrawmempool verbose", func(t *testing.T) {
		obj := f.object(t, "getrawmempool", []any{true})
		checkKeys(t, "getrawmempool", obj, parent.TxID().String(), child.TxID().String())
		e, _ := obj[parent.TxID().String()].(map[string]any)
		checkEntry(t, "parent", e, parentWant)
		e, _ = obj[child.TxID().String()].(map[string]any)
		checkEntry(t, "child", e, childWant)
	})
	t.Run("getmempoolentry", func(t *testing.T) {
		checkEntry(t, "parent", f.object(t, "getmempoolentry", []any{parent.TxID()}), parentWant)
		checkEntry(t, "child", f.object(t, "getmempoolentry", map[string]any{"txid": child.TxID()}), childWant)
		f.callErr(t, "getmempoolentry", []any{f.main[1].Txs[0].TxID()}, rpc.CodeInvalidAddressOrKey, "Transaction not in mempool")
		f.callErr(t, "getmempoolentry", []any{"abc"}, rpc.CodeInvalidParameter, "txid must be of length 64 (not 3, for 'abc')")
		f.callErr(t, "getmempoolentry", []any{strings.Repeat("x", 64)}, rpc.CodeInvalidParameter, "txid must be hexadecimal string")
		f.callErr(t, "getmempoolentry", nil, rpc.CodeMisc, "Missing required parameter 'txid'")
	})
	t.Run("mempool_sequence", func(t *testing.T) {
		f.callErr(t, "getrawmempool", []any{true, true}, rpc.CodeInvalidParameter, "Verbose results cannot contain mempool sequence values.")
		f.callErr(t, "getrawmempool", []any{false, true}, rpc.CodeInvalidParameter, "mempool_sequence is not supported")
		f.callErr(t, "getrawmempool", []any{1}, rpc.CodeType, "Wrong type for parameter 'verbose'")
	})
	t.Run("getmempoolinfo", func(t *testing.T) {
		obj := f.object(t, "getmempoolinfo", nil)
		checkKeys(t, "getmempoolinfo", obj, "loaded", "size", "bytes", "usage", "total_fee", "maxmempool",
			"mempoolminfee", "minrelaytxfee", "incrementalrelayfee", "unbroadcastcount", "fullrbf")
		checkField(t, obj, "loaded", true)
		checkField(t, obj, "size", 2)
		checkField(t, obj, "bytes", ps+cs)
		checkField(t, obj, "usage", f.pool.Info().Usage)
		checkField(t, obj, "total_fee", rpc.Amount(testFee+childFee))
		checkField(t, obj, "maxmempool", mempool.DefaultMaxUsage)
		checkField(t, obj, "mempoolminfee", rpc.Amount(mempool.DefaultMinRelayFeeRate))
		checkField(t, obj, "minrelaytxfee", json.Number("0.00001000"))
		checkField(t, obj, "incrementalrelayfee", json.Number("0.00001000"))
		checkField(t, obj, "unbroadcastcount", 0)
		checkField(t, obj, "fullrbf", true)
	})
}

var templateKeys = []string{"capabilities", "version", "rules", "vbavailable", "vbrequired", "previousblockhash",
	"transactions", "coinbaseaux", "coinbasevalue", "longpollid", "target", "mintime", "mutable", "noncerange",
	"sizelimit", "weightlimit", "curtime", "bits", "height"}

func TestGetBlockTemplate(t *testing.T) {
	f := newPoolFixture(t)
	params := f.chain.Params()
	parent := f.spend(1, testFee)
	child := f.child(parent, 5*testFee)
	other := f.spend(2, 2*testFee)
	for _, tx := range []*chain.Tx{parent, child, other} {
		f.send(t, tx)
	}
	best := f.chain.Best()

	obj := f.object(t, "getblocktemplate", nil)
	checkKeys(t, "getblocktemplate", obj, templateKeys...)
	checkField(t, obj, "capabilities", []string{})
	checkField(t, obj, "version", 1)
	checkField(t, obj, "rules", []string{})
	checkField(t, obj, "vbavailable", map[string]int{})
	checkField(t, obj, "vbrequired", 0)
	checkField(t, obj, "previousblockhash", best.Hash)
	checkField(t, obj, "coinbaseaux", map[string]string{})
	checkField(t, obj, "coinbasevalue", params.Subsidy(111)+8*testFee)
	checkField(t, obj, "longpollid", best.Hash.String()+"3")
	checkField(t, obj, "target", "7fffff"+strings.Repeat("0", 58))
	checkField(t, obj, "mintime", best.MedianTime+1)
	checkField(t, obj, "mutable", []string{"time", "transactions", "prevblock"})
	checkField(t, obj, "noncerange", "00000000ffffffff")
	checkField(t, obj, "sizelimit", chain.MaxBlockSize)
	checkField(t, obj, "weightlimit", 4*chain.MaxBlockSize)
	checkField(t, obj, "curtime", f.now.Unix())
	checkField(t, obj, "bits", "207fffff")
	checkField(t, obj, "height", 111)

	txs, _ := obj["transactions"].([]any)
	if len(txs) != 3 {
		t.Fatalf("the template has %d transactions, want 3", len(txs))
	}
	index := make(map[string]int) // txid -> 1-based position
	for i, x := range txs {
		e, _ := x.(map[string]any)
		checkKeys(t, "template transaction", e, "data", "txid", "hash", "depends", "fee", "sigops", "weight")
		txid, _ := e["txid"].(string)
		index[txid] = i + 1
	}
	for _, c := range []struct {
		tx      *chain.Tx
		fee     int
		depends []int
	}{
		{parent, testFee, []int{}},
		{child, 5 * testFee, []int{index[parent.TxID().String()]}},
		{other, 2 * testFee, []int{}},
	} {
		i := index[c.tx.TxID().String()]
		if i == 0 {
			t.Fatalf("the template lacks %s", c.tx.TxID())
		}
		e, _ := txs[i-1].(map[string]any)
		checkField(t, e, "data", hexTx(c.tx))
		checkField(t, e, "hash", c.tx.WitnessHash())
		checkField(t, e, "depends", c.depends)
		checkField(t, e, "fee", c.fee)
		checkField(t, e, "sigops", 0)
		checkField(t, e, "weight", 4*c.tx.SerializeSize())
	}
	if index[child.TxID().String()] < index[parent.TxID().String()] {
		t.Error("the child comes before its parent")
	}

	t.Run("assembled and submitted", func(t *testing.T) {
		var tmpl BlockTemplateResult
		f.call(t, "getblocktemplate", []any{map[string]any{"mode": "template", "rules": []string{"segwit"}}}, &tmpl)
		b := assemble(t, &tmpl, f.gen.PKH)
		var res any
		f.call(t, "submitblock", []any{hex.EncodeToString(b.Encode())}, &res)
		if res != nil {
			t.Fatalf("submitblock = %v, want null", res)
		}
		if tip := f.chain.Best(); tip.Hash != b.Hash() || tip.Height != 111 {
			t.Fatalf("tip %s at %d, want the submitted block", tip.Hash, tip.Height)
		}
		var txids []chain.Hash
		f.call(t, "getrawmempool", nil, &txids)
		if len(txids) != 0 {
			t.Errorf("the mempool still holds %v after the block", txids)
		}
		// The parent's outputs are all spent, so only the transaction index,
		// which follows the chain in the background, knows it is confirmed:
		// Find waits for the index to reach the tip.
		if _, _, err := f.txIndex.Find(parent.TxID()); err != nil {
			t.Fatal(err)
		}
		f.callErr(t, "sendrawtransaction", []any{hexTx(parent)}, rpc.CodeVerifyAlreadyInChain, "Transaction already in block chain")
		var accept []map[string]any
		f.call(t, "testmempoolaccept", []any{[]string{hexTx(child)}}, &accept)
		checkField(t, accept[0], "reject-reason", mempool.ReasonAlreadyInChain)

		f.call(t, "getblocktemplate", nil, &tmpl)
		if tmpl.PreviousBlockHash != b.Hash() || tmpl.Height != 112 || len(tmpl.Transactions) != 0 {
			t.Errorf("next template on %s at %d with %d transactions, want an empty one on the new tip",
				tmpl.PreviousBlockHash, tmpl.Height, len(tmpl.Transactions))
		}
	})

	t.Run("errors", func(t *testing.T) {
		f.callErr(t, "getblocktemplate", []any{map[string]any{"mode": "proposal", "data": "00"}}, rpc.CodeInvalidParameter, "Invalid mode: block proposals are not supported")
		f.callErr(t, "getblocktemplate", []any{map[string]any{"mode": "other"}}, rpc.CodeInvalidParameter, "Invalid mode")
		f.callErr(t, "getblocktemplate", []any{map[string]any{"mode": 1}}, rpc.CodeType, "Wrong type for parameter 'template_request'")
		f.callErr(t, "getblocktemplate", []any{"template"}, rpc.CodeType, "Wrong type for parameter 'template_request'")
		f.callErr(t, "getblocktemplate", []any{map[string]any{"longpollid": "abc"}}, rpc.CodeInvalidParameter, "longpollid must be of length 64 (not 3, for 'abc')")
		f.callErr(t, "getblocktemplate", []any{map[string]any{"longpollid": strings.Repeat("x", 64) + "1"}}, rpc.CodeInvalidParameter, "longpollid must be hexadecimal string")
	})
}

// assemble builds the block a miner would from tmpl, following getblocktemplate's
// help rather than the chain package's helpers, and solves it.
func assemble(t *testing.T, tmpl *BlockTemplateResult, payTo [chain.PubKeyHashSize]byte) *chain.Block {
	t.Helper()
	data := binary.LittleEndian.AppendUint32(nil, uint32(tmpl.Height))
	data = binary.LittleEndian.AppendUint64(data, 42) // extra nonce
	data = append(data, "pool"...)
	coinbase := &chain.Tx{
		Version:  1,
		Inputs:   []chain.TxIn{{PrevOut: chain.OutPoint{Index: 0xffffffff}, Witness: [][]byte{data}}},
		Outputs:  []chain.TxOut{{Value: tmpl.CoinbaseValue, PubKeyHash: payTo}},
		LockTime: uint32(tmpl.Height - 1),
	}
	b := &chain.Block{Txs: []*chain.Tx{coinbase}}
	leaves := []chain.Hash{coinbase.WitnessHash()}
	for _, x := range tmpl.Transactions {
		raw, err := hex.DecodeString(x.Data)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			t.Fatal(err)
		}
		b.Txs = append(b.Txs, tx)
		leaves = append(leaves, x.Hash)
	}
	bits, err := strconv.ParseUint(tmpl.Bits, 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	b.Header = chain.Header{
		Version:    tmpl.Version,
		PrevBlock:  tmpl.PreviousBlockHash,
		MerkleRoot: chain.MerkleRoot(leaves),
		Time:       uint32(tmpl.CurTime),
		Bits:       uint32(bits),
	}
	params := chain.RegtestParams
	for chain.CheckProofOfWork(&b.Header, params) != nil {
		b.Header.Nonce++
	}
	return b
}

// callAsync runs a call on its own goroutine, for long polls.
func callAsync(ctx context.Context, reg *rpc.Registry, method string, params any) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := reg.Call(ctx, method, params)
		done <- err
	}()
	return done
}

// waiting checks that a long poll is still waiting.
func waiting(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("the long poll returned early: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}

func returned(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not return")
		return nil
	}
}

func TestGetBlockTemplateLongPoll(t *testing.T) {
	f := newPoolFixture(t)
	var tmpl BlockTemplateResult
	f.call(t, "getblocktemplate", nil, &tmpl)
	poll := []any{map[string]any{"longpollid": tmpl.LongPollID}}

	t.Run("stale id", func(t *testing.T) {
		other := f.main[100].Hash().String() + "0"
		if err := returned(t, callAsync(t.Context(), f.reg, "getblocktemplate", []any{map[string]any{"longpollid": other}})); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("mempool change", func(t *testing.T) {
		done := callAsync(t.Context(), f.reg, "getblocktemplate", poll)
		waiting(t, done)
		f.send(t, f.spend(1, testFee))
		if err := returned(t, done); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("any id but a string", func(t *testing.T) {
		done := callAsync(t.Context(), f.reg, "getblocktemplate", []any{map[string]any{"longpollid": true}})
		waiting(t, done)
		f.send(t, f.spend(2, testFee))
		if err := returned(t, done); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("new tip", func(t *testing.T) {
		f.call(t, "getblocktemplate", nil, &tmpl)
		done := callAsync(t.Context(), f.reg, "getblocktemplate", []any{map[string]any{"longpollid": tmpl.LongPollID}})
		waiting(t, done)
		b := f.gen.NextBlock(f.main[len(f.main)-1].Hash())
		if _, err := f.chain.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		f.main = append(f.main, b)
		if err := returned(t, done); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("caller gone", func(t *testing.T) {
		f.call(t, "getblocktemplate", nil, &tmpl)
		ctx, cancel := context.WithCancel(t.Context())
		done := callAsync(ctx, f.reg, "getblocktemplate", []any{map[string]any{"longpollid": tmpl.LongPollID}})
		waiting(t, done)
		cancel()
		var e *rpc.Error
		if err := returned(t, done); !errors.As(err, &e) || e.Code != rpc.CodeClientNotConnected {
			t.Errorf("cancelled long poll: %v, want error %d", err, rpc.CodeClientNotConnected)
		}
	})
}

// TestGetBlockTemplateMain checks Core's refusals on main, where a template is
// served only to a node with peers that has caught up.
func TestGetBlockTemplateMain(t *testing.T) {
	c := chaintest.OpenChain(t, chain.MainParams)
	pool := newPool(t, c, nil, nil)
	peers, ibd := 0, true
	reg := rpc.NewRegistry()
	t.Cleanup(RegisterMempool(reg, MempoolBackend{Pool: pool, Chain: c,
		PeerCount:              func() int { return peers },
		IsInitialBlockDownload: func() bool { return ibd },
	}))
	expectErr(t, reg, "getblocktemplate", nil, rpc.CodeClientNotConnected, "Quarry is not connected!")
	peers = 1
	expectErr(t, reg, "getblocktemplate", nil, rpc.CodeClientInInitialDownload, "Quarry is in initial sync and waiting for blocks...")
	ibd = false
	raw, err := reg.Call(t.Context(), "getblocktemplate", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl BlockTemplateResult
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	if tmpl.Height != 1 || tmpl.Bits != "1d00ffff" || tmpl.PreviousBlockHash != chain.MainParams.GenesisHash {
		t.Errorf("template at %d with bits %s on %s, want the first block on main's genesis", tmpl.Height, tmpl.Bits, tmpl.PreviousBlockHash)
	}
}
