package methods

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/rpc"
)

var txKeys = []string{"txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout", "hex"}

func TestGetRawTransaction(t *testing.T) {
	f := newChainFixture(t, 103)
	tx1 := f.tx1
	at102 := f.main[102].Hash()

	t.Run("hex", func(t *testing.T) {
		for _, params := range []any{[]any{tx1.TxID()}, []any{tx1.TxID(), 0}, []any{tx1.TxID(), false}} {
			var got string
			f.call(t, "getrawtransaction", params, &got)
			if got != hex.EncodeToString(tx1.Encode()) {
				t.Errorf("getrawtransaction %v = %s, want the encoding", params, got)
			}
		}
	})
	t.Run("verbose", func(t *testing.T) {
		for _, params := range []any{[]any{tx1.TxID(), 1}, []any{tx1.TxID(), true}, map[string]any{"txid": tx1.TxID(), "verbosity": 1}} {
			obj := f.object(t, "getrawtransaction", params)
			checkKeys(t, "getrawtransaction", obj, append([]string{"blockhash", "confirmations", "time", "blocktime"}, txKeys...)...)
			size := len(tx1.Encode())
			checkField(t, obj, "txid", tx1.TxID())
			checkField(t, obj, "hash", tx1.WitnessHash())
			checkField(t, obj, "version", 1)
			checkField(t, obj, "size", size)
			checkField(t, obj, "vsize", size)
			checkField(t, obj, "weight", 4*size)
			checkField(t, obj, "locktime", 0)
			checkField(t, obj, "hex", hex.EncodeToString(tx1.Encode()))
			checkField(t, obj, "blockhash", at102)
			checkField(t, obj, "confirmations", 2)
			checkField(t, obj, "time", f.main[102].Header.Time)
			checkField(t, obj, "blocktime", f.main[102].Header.Time)
			vin := obj["vin"].([]any)
			if len(vin) != 1 {
				t.Fatalf("vin = %v", vin)
			}
			in := vin[0].(map[string]any)
			checkKeys(t, "input", in, "txid", "vout", "scriptSig", "txinwitness")
			checkField(t, in, "txid", tx1.Inputs[0].PrevOut.TxID)
			checkField(t, in, "vout", 0)
			checkField(t, in, "scriptSig", ScriptSigResult{})
			checkField(t, in, "txinwitness", []string{hex.EncodeToString(tx1.Inputs[0].Witness[0]), hex.EncodeToString(tx1.Inputs[0].Witness[1])})
			vout := obj["vout"].([]any)
			if len(vout) != 2 {
				t.Fatalf("vout = %v", vout)
			}
			for i, o := range vout {
				out := o.(map[string]any)
				checkKeys(t, "output", out, "value", "n", "scriptPubKey")
				checkField(t, out, "value", rpc.Amount(tx1.Outputs[i].Value))
				checkField(t, out, "n", i)
				checkField(t, out, "scriptPubKey", ScriptPubKey(f.gen.PKH, chain.RegtestParams))
			}
		}
	})
	t.Run("verbosity 2", func(t *testing.T) {
		obj := f.object(t, "getrawtransaction", []any{f.tx2.TxID(), 2})
		checkKeys(t, "getrawtransaction", obj, append([]string{"blockhash", "confirmations", "time", "blocktime", "fee"}, txKeys...)...)
		checkField(t, obj, "fee", rpc.Amount(tx2Fee))
		in := obj["vin"].([]any)[0].(map[string]any)
		checkField(t, in, "prevout", PrevoutResult{Height: 102, Value: 30 * chain.Coin, ScriptPubKey: ScriptPubKey(f.gen.PKH, chain.RegtestParams)})
	})
	t.Run("coinbase", func(t *testing.T) {
		cb := f.main[102].Txs[0]
		obj := f.object(t, "getrawtransaction", []any{cb.TxID(), 2})
		checkKeys(t, "getrawtransaction", obj, append([]string{"blockhash", "confirmations", "time", "blocktime"}, txKeys...)...)
		in := obj["vin"].([]any)[0].(map[string]any)
		checkKeys(t, "coinbase input", in, "coinbase")
		checkField(t, in, "coinbase", hex.EncodeToString(cb.Inputs[0].Witness[0]))
		checkField(t, obj, "locktime", 101)
		f.callErr(t, "getrawtransaction", []any{chain.RegtestParams.GenesisBlock.Txs[0].TxID()}, rpc.CodeInvalidAddressOrKey,
			"The genesis block coinbase is not considered an ordinary transaction")
	})
	t.Run("in a given block", func(t *testing.T) {
		obj := f.object(t, "getrawtransaction", []any{tx1.TxID(), 1, at102})
		checkKeys(t, "getrawtransaction", obj, append([]string{"in_active_chain", "blockhash", "confirmations", "time", "blocktime"}, txKeys...)...)
		checkField(t, obj, "in_active_chain", true)
		checkField(t, obj, "confirmations", 2)

		stale := f.stale.Txs[0]
		var raw string
		f.call(t, "getrawtransaction", []any{stale.TxID(), 0, f.stale.Hash()}, &raw)
		if raw != hex.EncodeToString(stale.Encode()) {
			t.Errorf("getrawtransaction of a stale coinbase = %s", raw)
		}
		f.call(t, "getrawtransaction", []any{stale.TxID(), nil, f.stale.Hash()}, &raw) // null: the default, hex
		if raw != hex.EncodeToString(stale.Encode()) {
			t.Errorf("getrawtransaction with a null verbosity = %s", raw)
		}
	})
	t.Run("in a block off the main chain", func(t *testing.T) {
		// The stale coinbase has the txid of the main chain's at the same height
		// (same value, key and lock time; the extra nonce is witness data), so
		// only the block hash tells which block to read.
		stale := f.stale.Txs[0]
		obj := f.object(t, "getrawtransaction", []any{stale.TxID(), 1, f.stale.Hash()})
		checkKeys(t, "getrawtransaction", obj, append([]string{"in_active_chain", "blockhash", "confirmations"}, txKeys...)...)
		checkField(t, obj, "in_active_chain", false)
		checkField(t, obj, "confirmations", 0)
	})
	t.Run("mempool", func(t *testing.T) {
		obj := f.object(t, "getrawtransaction", []any{f.memTx.TxID(), 2})
		// The block fields are absent; so is the fee, as the mempool's own
		// transactions are not resolved (here the spent coinbase is).
		checkKeys(t, "getrawtransaction", obj, append([]string{"fee"}, txKeys...)...)
		checkField(t, obj, "fee", rpc.Amount(1000))
	})
	t.Run("errors", func(t *testing.T) {
		missing := strings.Repeat("ab", 32)
		f.callErr(t, "getrawtransaction", []any{missing}, rpc.CodeInvalidAddressOrKey,
			"No such mempool or blockchain transaction. Use gettransaction for wallet transactions.")
		f.callErr(t, "getrawtransaction", []any{tx1.TxID(), 1, f.main[101].Hash()}, rpc.CodeInvalidAddressOrKey,
			"No such transaction found in the provided block. Use gettransaction for wallet transactions.")
		f.callErr(t, "getrawtransaction", []any{tx1.TxID(), 1, missing}, rpc.CodeInvalidAddressOrKey, "Block hash not found")
		f.callErr(t, "getrawtransaction", []any{tx1.TxID(), 1, f.headerOnly.Hash()}, rpc.CodeMisc, "Block not available")
		f.callErr(t, "getrawtransaction", []any{tx1.TxID(), 1, "xyz"}, rpc.CodeInvalidParameter, "blockhash must be of length 64")
		f.callErr(t, "getrawtransaction", []any{"xyz"}, rpc.CodeInvalidParameter, "txid must be of length 64 (not 3, for 'xyz')")
		f.callErr(t, "getrawtransaction", []any{tx1.TxID(), 3}, rpc.CodeInvalidParameter, "Invalid verbosity 3")
		f.callErr(t, "getrawtransaction", []any{tx1.TxID(), "1"}, rpc.CodeType, "Wrong type for parameter 'verbosity'")
		f.callErr(t, "getrawtransaction", []any{tx1.TxID(), 1, at102, 4}, rpc.CodeMisc, "Too many parameters")
	})
}

func TestDecodeRawTransaction(t *testing.T) {
	f := newChainFixture(t, 103)
	obj := f.object(t, "decoderawtransaction", []any{hex.EncodeToString(f.tx1.Encode())})
	checkKeys(t, "decoderawtransaction", obj, "txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout")
	checkField(t, obj, "txid", f.tx1.TxID())
	checkField(t, obj, "vout", txResult(f.tx1, chain.RegtestParams).Vout)
	checkField(t, obj, "vin", txResult(f.tx1, chain.RegtestParams).Vin)

	// A coinbase whose witness is not the one item of coinbase data shows all items.
	odd := chain.NewCoinbase(5, 0, nil, 1, f.gen.PKH)
	odd.Inputs[0].Witness = append(odd.Inputs[0].Witness, []byte{7})
	obj = f.object(t, "decoderawtransaction", []any{hex.EncodeToString(odd.Encode())})
	in := obj["vin"].([]any)[0].(map[string]any)
	checkKeys(t, "coinbase input", in, "coinbase", "txinwitness")
	checkField(t, in, "txinwitness", []string{hex.EncodeToString(odd.Inputs[0].Witness[0]), "07"})

	raw := hex.EncodeToString(f.tx1.Encode())
	f.callErr(t, "decoderawtransaction", []any{"zz"}, rpc.CodeDeserialization, "TX decode failed: encoding/hex: invalid byte")
	f.callErr(t, "decoderawtransaction", []any{raw[:len(raw)-2]}, rpc.CodeDeserialization, "TX decode failed: at byte")
	f.callErr(t, "decoderawtransaction", []any{raw + "00"}, rpc.CodeDeserialization, "TX decode failed: ")
	f.callErr(t, "decoderawtransaction", []any{"abc"}, rpc.CodeDeserialization, "TX decode failed: encoding/hex: odd length")
	f.callErr(t, "decoderawtransaction", []any{1}, rpc.CodeType, "Wrong type for parameter 'hexstring'")
}

func TestSubmitBlock(t *testing.T) {
	f := newChainFixture(t, 5)
	var submitted int
	b := f.backend()
	b.SubmitBlock = func(blk *chain.Block) (blockchain.ProcessResult, error) {
		submitted++
		return f.chain.ProcessBlock(blk)
	}
	reg := rpc.NewRegistry()
	RegisterChain(reg, b)
	g := f.gen
	tip := f.main[5].Hash()

	submit := func(t *testing.T, blk *chain.Block, want any) {
		t.Helper()
		raw, err := reg.Call(t.Context(), "submitblock", []any{hex.EncodeToString(blk.Encode())})
		if err != nil {
			t.Fatalf("submitblock: %v", err)
		}
		wantJSON := "null"
		if want != nil {
			wantJSON = `"` + want.(string) + `"`
		}
		if string(raw) != wantJSON {
			t.Errorf("submitblock = %s, want %s", raw, wantJSON)
		}
	}
	solve := func(blk *chain.Block, valid bool) *chain.Block {
		for blk.Header.Nonce = 0; (chain.CheckProofOfWork(&blk.Header, chain.RegtestParams) == nil) != valid; blk.Header.Nonce++ {
		}
		return blk
	}

	next := g.NextBlock(tip)
	submit(t, next, nil)
	if best := f.chain.Best(); best.Hash != next.Hash() || submitted != 1 {
		t.Fatalf("after submitblock the tip is %s (%d submissions), want %s", best.Hash, submitted, next.Hash())
	}
	tip = next.Hash()
	submit(t, next, "duplicate")

	badRoot := *g.NextBlock(tip)
	badRoot.Header.MerkleRoot[0] ^= 1
	solve(&badRoot, true)
	submit(t, &badRoot, "bad-txnmrklroot")
	submit(t, &badRoot, "bad-txnmrklroot") // not remembered: the body may have been damaged in transit

	highHash := *g.NextBlock(tip)
	solve(&highHash, false)
	submit(t, &highHash, "high-hash")

	greedy := g.BuildBlock(tip, func(b *chain.Block) { b.Txs[0].Outputs[0].Value++ })
	submit(t, greedy, "bad-cb-amount")
	submit(t, greedy, "duplicate-invalid")
	submit(t, g.NextBlock(greedy.Hash()), "bad-prevblk")

	// A block whose parent is unknown waits as an orphan; its parent connects both.
	parent := g.NextBlock(tip)
	child := g.NextBlock(parent.Hash())
	submit(t, child, "inconclusive")
	submit(t, child, "duplicate")
	submit(t, parent, nil)
	if best := f.chain.Best(); best.Hash != child.Hash() {
		t.Fatalf("after the orphan's parent the tip is %s, want %s", best.Hash, child.Hash())
	}
	// A valid block on a branch with less work is stored but not connected.
	submit(t, g.NextBlock(f.main[5].Hash()), "inconclusive")

	f.callErr(t, "submitblock", []any{"zz"}, rpc.CodeDeserialization, "Block decode failed: encoding/hex")
	f.callErr(t, "submitblock", []any{"00"}, rpc.CodeDeserialization, "Block decode failed: ")
	noTxs := chain.Block{Header: next.Header}
	f.callErr(t, "submitblock", []any{hex.EncodeToString(noTxs.Encode())}, rpc.CodeDeserialization, "Block does not start with a coinbase")
	noCoinbase := chain.Block{Header: next.Header, Txs: []*chain.Tx{g.SpendAll(g.Coinbase(f.main[1].Hash()), 1)}}
	f.callErr(t, "submitblock", []any{hex.EncodeToString(noCoinbase.Encode())}, rpc.CodeDeserialization, "Block does not start with a coinbase")
	f.callErr(t, "submitblock", nil, rpc.CodeMisc, "Missing required parameter 'hexdata'")
	f.callErr(t, "submitblock", []any{hex.EncodeToString(next.Encode()), "dummy", 3}, rpc.CodeMisc, "Too many parameters")

	b.SubmitBlock = func(*chain.Block) (blockchain.ProcessResult, error) {
		return blockchain.ProcessResult{}, errors.New("disk full")
	}
	reg = rpc.NewRegistry()
	RegisterChain(reg, b)
	expectErr(t, reg, "submitblock", []any{hex.EncodeToString(next.Encode())}, rpc.CodeVerify, "Block processing failed: disk full")
}

// TestSubmitResultReason checks that submitblock answers a rule failure with
// the reason of the rule's row in chain's table, however wrapped.
func TestSubmitResultReason(t *testing.T) {
	res, err := submitResult(blockchain.ProcessResult{}, fmt.Errorf("process: %w", &chain.RuleError{Kind: chain.ErrTimeTooNew, Description: "wrapped"}))
	if err != nil || res != "time-too-new" {
		t.Errorf("submitResult of a time-too-new block = %v, %v", res, err)
	}
}
