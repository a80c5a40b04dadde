package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
)

// fakeNode is a tiny in-memory node behind the real JSON-RPC server: a chain
// of transactions with heights, its UTXO set, and a mempool. It answers the
// methods the wallet calls with the shapes Core and bitcore give, and checks
// what sendrawtransaction gets as a node would: decoding, sanity, inputs,
// signatures and the fee.
type fakeNode struct {
	t      *testing.T
	params *chain.Params
	url    string
	cookie string

	mu      sync.Mutex
	height  int32
	txs     map[chain.Hash]*fakeTx // confirmed
	utxos   map[chain.OutPoint]chain.UtxoEntry
	mempool []*chain.Tx
	calls   map[string]int
	// refuse, when set, makes sendrawtransaction answer with this error.
	refuse *rpc.Error
	// sendDelay holds sendrawtransaction's answer back after it accepted
	// the transaction, as a node that is slow to answer would.
	sendDelay time.Duration
	// feeEstimate is estimatesmartfee's feerate (QRY per 1,000 bytes); empty,
	// it answers as Core with too little data.
	feeEstimate string
	// estimateAsked is the last estimatesmartfee target.
	estimateAsked int64
}

type fakeTx struct {
	tx     *chain.Tx
	height int32
}

const fakeBlockTime = 1795478400

func newFakeNode(t *testing.T, params *chain.Params) *fakeNode {
	t.Helper()
	n := &fakeNode{t: t, params: params, height: 0,
		txs: make(map[chain.Hash]*fakeTx), utxos: make(map[chain.OutPoint]chain.UtxoEntry), calls: make(map[string]int)}
	reg := rpc.NewRegistry()
	for _, m := range n.methods() {
		h := m.Handler
		name := m.Name
		m.Handler = func(ctx context.Context, p *rpc.Params) (any, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.calls[name]++
			return h(ctx, p)
		}
		reg.Register(m)
	}
	n.cookie = filepath.Join(t.TempDir(), ".cookie")
	srv, err := rpc.NewServer(reg, rpc.Config{Addr: "127.0.0.1:0", CookiePath: n.cookie,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	n.url = "http://" + srv.Addr().String()
	return n
}

func (n *fakeNode) count(method string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[method]
}

// confirm puts txs in a new block.
func (n *fakeNode) confirm(txs ...*chain.Tx) {
	n.height++
	for _, tx := range txs {
		id := tx.TxID()
		n.txs[id] = &fakeTx{tx: tx, height: n.height}
		if !tx.IsCoinbase() {
			for _, in := range tx.Inputs {
				delete(n.utxos, in.PrevOut)
			}
		}
		for i, out := range tx.Outputs {
			n.utxos[chain.OutPoint{TxID: id, Index: uint32(i)}] = chain.UtxoEntry{
				Value: out.Value, PubKeyHash: out.PubKeyHash, Height: n.height, Coinbase: tx.IsCoinbase()}
		}
	}
}

// foreignTx pays values to pkhs from an output nobody here knows: money from
// outside the wallet.
func foreignTx(pkh [chain.PubKeyHashSize]byte, values ...uint64) *chain.Tx {
	var prev chain.Hash
	rand.Read(prev[:])
	tx := &chain.Tx{Version: 1, Inputs: []chain.TxIn{{PrevOut: chain.OutPoint{TxID: prev}}}}
	for _, v := range values {
		tx.Outputs = append(tx.Outputs, chain.TxOut{Value: v, PubKeyHash: pkh})
	}
	return tx
}

// pay confirms a payment to addr in a new block and returns its txid.
func (n *fakeNode) pay(addr string, values ...uint64) chain.Hash {
	n.t.Helper()
	tx := foreignTx(n.decode(addr), values...)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.confirm(tx)
	return tx.TxID()
}

// payUnconfirmed puts a payment to addr in the mempool.
func (n *fakeNode) payUnconfirmed(addr string, value uint64) chain.Hash {
	n.t.Helper()
	tx := foreignTx(n.decode(addr), value)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mempool = append(n.mempool, tx)
	return tx.TxID()
}

// mineTo confirms a block whose coinbase pays value to addr.
func (n *fakeNode) mineTo(addr string, value uint64) chain.Hash {
	n.t.Helper()
	pkh := n.decode(addr)
	n.mu.Lock()
	defer n.mu.Unlock()
	cb := chain.NewCoinbase(n.height+1, 0, nil, value, pkh)
	n.confirm(cb)
	return cb.TxID()
}

// mine confirms the mempool in a new block.
func (n *fakeNode) mine() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.confirm(n.mempool...)
	n.mempool = nil
}

// blocks adds empty blocks.
func (n *fakeNode) blocks(count int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.height += count
}

// evict drops the mempool, as a node that restarted without it would.
func (n *fakeNode) evict() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mempool = nil
}

func (n *fakeNode) setSendDelay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sendDelay = d
}

func (n *fakeNode) setRefuse(e *rpc.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refuse = e
}

// setParams makes the node claim another network.
func (n *fakeNode) setParams(p *chain.Params) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.params = p
}

// inputValue sums the confirmed outputs tx spends.
func (n *fakeNode) inputValue(tx *chain.Tx) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	var sum uint64
	for _, in := range tx.Inputs {
		sum += n.utxos[in.PrevOut].Value
	}
	return sum
}

func (n *fakeNode) mempoolTxs() []*chain.Tx {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.mempool)
}

func (n *fakeNode) decode(addr string) [chain.PubKeyHashSize]byte {
	n.t.Helper()
	pkh, err := n.params.DecodeAddress(addr)
	if err != nil {
		n.t.Fatal(err)
	}
	return pkh
}

func (n *fakeNode) inMempool(txid chain.Hash) *chain.Tx {
	for _, tx := range n.mempool {
		if tx.TxID() == txid {
			return tx
		}
	}
	return nil
}

// addressSet reads bitcore's {"addresses": [...]} parameter.
func (n *fakeNode) addressSet(p *rpc.Params) (map[[chain.PubKeyHashSize]byte]string, error) {
	var q struct {
		Addresses []string `json:"addresses"`
	}
	p.Decode("addresses", &q)
	if err := p.Err(); err != nil {
		return nil, err
	}
	set := make(map[[chain.PubKeyHashSize]byte]string)
	for _, a := range q.Addresses {
		pkh, err := n.params.DecodeAddress(a)
		if err != nil {
			return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Invalid address: %v", err)
		}
		set[pkh] = a
	}
	return set, nil
}

func (n *fakeNode) methods() []rpc.Method {
	m := func(name string, params []rpc.Param, h func(p *rpc.Params) (any, error)) rpc.Method {
		return rpc.Method{Name: name, Category: "fake", Summary: name + ".", Result: "as Core", Params: params,
			Handler: func(_ context.Context, p *rpc.Params) (any, error) { return h(p) }}
	}
	addresses := []rpc.Param{{Name: "addresses", Type: rpc.TypeObject, Required: true}}
	txidParam := rpc.Param{Name: "txid", Type: rpc.TypeHex, Required: true}
	txidOf := func(p *rpc.Params) (chain.Hash, error) {
		s := p.String("txid")
		if err := p.Err(); err != nil {
			return chain.Hash{}, err
		}
		h, err := chain.ParseHash(s)
		if err != nil {
			return h, rpc.Errorf(rpc.CodeInvalidParameter, "txid: %v", err)
		}
		return h, nil
	}
	return []rpc.Method{
		m("estimatesmartfee", []rpc.Param{{Name: "conf_target", Type: rpc.TypeNumber, Required: true},
			{Name: "estimate_mode", Type: rpc.TypeString, Default: `"economical"`}}, func(p *rpc.Params) (any, error) {
			n.estimateAsked = p.Int("conf_target")
			if n.feeEstimate == "" {
				return map[string]any{"errors": []string{"Insufficient data or no feerate found"}, "blocks": 0}, nil
			}
			return map[string]any{"feerate": json.Number(n.feeEstimate), "blocks": n.estimateAsked}, nil
		}),
		m("getblockchaininfo", nil, func(*rpc.Params) (any, error) {
			return map[string]any{"chain": n.params.Name, "blocks": n.height, "headers": n.height}, nil
		}),
		m("getaddressutxos", addresses, func(p *rpc.Params) (any, error) {
			set, err := n.addressSet(p)
			if err != nil {
				return nil, err
			}
			type utxo struct {
				Address     string     `json:"address"`
				TxID        chain.Hash `json:"txid"`
				OutputIndex uint32     `json:"outputIndex"`
				Script      string     `json:"script"`
				Satoshis    uint64     `json:"satoshis"`
				Height      int32      `json:"height"`
			}
			out := []utxo{}
			for op, e := range n.utxos {
				if a, ok := set[e.PubKeyHash]; ok {
					out = append(out, utxo{a, op.TxID, op.Index, "0014" + hex.EncodeToString(e.PubKeyHash[:]), e.Value, e.Height})
				}
			}
			slices.SortFunc(out, func(a, b utxo) int {
				return cmp.Or(cmp.Compare(a.Height, b.Height), cmp.Compare(a.TxID.String(), b.TxID.String()), cmp.Compare(a.OutputIndex, b.OutputIndex))
			})
			return out, nil
		}),
		m("getaddresstxids", addresses, func(p *rpc.Params) (any, error) {
			set, err := n.addressSet(p)
			if err != nil {
				return nil, err
			}
			var found []*fakeTx
			for _, ft := range n.txs {
				if n.touches(ft.tx, set) {
					found = append(found, ft)
				}
			}
			slices.SortFunc(found, func(a, b *fakeTx) int {
				return cmp.Or(cmp.Compare(a.height, b.height), cmp.Compare(a.tx.TxID().String(), b.tx.TxID().String()))
			})
			out := []chain.Hash{}
			for _, ft := range found {
				out = append(out, ft.tx.TxID())
			}
			return out, nil
		}),
		m("getrawtransaction", []rpc.Param{txidParam, {Name: "verbose", Type: rpc.TypeBool}}, func(p *rpc.Params) (any, error) {
			txid, err := txidOf(p)
			verbose := p.Bool("verbose")
			if err == nil {
				err = p.Err()
			}
			if err != nil {
				return nil, err
			}
			tx, height := n.inMempool(txid), int32(0)
			if ft := n.txs[txid]; ft != nil {
				tx, height = ft.tx, ft.height
			}
			if tx == nil {
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.")
			}
			raw := hex.EncodeToString(tx.Encode())
			if !verbose {
				return raw, nil
			}
			res := map[string]any{"txid": txid, "hex": raw, "size": tx.SerializeSize()}
			if height > 0 {
				res["confirmations"] = n.height - height + 1
				res["blocktime"] = fakeBlockTime + 600*int64(height)
				res["time"] = res["blocktime"]
			}
			return res, nil
		}),
		m("getrawmempool", nil, func(*rpc.Params) (any, error) {
			out := []chain.Hash{}
			for _, tx := range n.mempool {
				out = append(out, tx.TxID())
			}
			return out, nil
		}),
		m("getaddressmempool", addresses, func(p *rpc.Params) (any, error) {
			set, err := n.addressSet(p)
			if err != nil {
				return nil, err
			}
			type delta struct {
				Address  string     `json:"address"`
				TxID     chain.Hash `json:"txid"`
				Index    int        `json:"index"`
				Satoshis int64      `json:"satoshis"`
			}
			out := []delta{}
			for _, tx := range n.mempool {
				id := tx.TxID()
				for i, o := range tx.Outputs {
					if addr, ok := set[o.PubKeyHash]; ok {
						out = append(out, delta{addr, id, i, int64(o.Value)})
					}
				}
				for i, in := range tx.Inputs {
					spent, ok := n.utxos[in.PrevOut]
					if parent := n.inMempool(in.PrevOut.TxID); !ok && parent != nil {
						spent, ok = chain.UtxoEntry{Value: parent.Outputs[in.PrevOut.Index].Value, PubKeyHash: parent.Outputs[in.PrevOut.Index].PubKeyHash}, true
					}
					if addr, mine := set[spent.PubKeyHash]; ok && mine {
						out = append(out, delta{addr, id, i, -int64(spent.Value)})
					}
				}
			}
			return out, nil
		}),
		m("getmempoolentry", []rpc.Param{txidParam}, func(p *rpc.Params) (any, error) {
			txid, err := txidOf(p)
			if err != nil {
				return nil, err
			}
			tx := n.inMempool(txid)
			if tx == nil {
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Transaction not in mempool")
			}
			return map[string]any{"vsize": tx.SerializeSize(), "time": fakeBlockTime}, nil
		}),
		m("sendrawtransaction", []rpc.Param{{Name: "hexstring", Type: rpc.TypeHex, Required: true}}, func(p *rpc.Params) (any, error) {
			raw := p.Hex("hexstring")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if n.refuse != nil {
				return nil, n.refuse
			}
			txid, err := n.accept(raw)
			time.Sleep(n.sendDelay)
			return txid, err
		}),
	}
}

// touches reports whether tx pays to or spends from one of the key hashes.
func (n *fakeNode) touches(tx *chain.Tx, set map[[chain.PubKeyHashSize]byte]string) bool {
	for _, out := range tx.Outputs {
		if _, ok := set[out.PubKeyHash]; ok {
			return true
		}
	}
	if tx.IsCoinbase() {
		return false
	}
	for _, in := range tx.Inputs {
		if prev := n.txs[in.PrevOut.TxID]; prev != nil && int(in.PrevOut.Index) < len(prev.tx.Outputs) {
			if _, ok := set[prev.tx.Outputs[in.PrevOut.Index].PubKeyHash]; ok {
				return true
			}
		}
	}
	return false
}

// accept checks a transaction as a node's mempool would, with Core's codes
// and reasons, and keeps it.
func (n *fakeNode) accept(raw []byte) (any, error) {
	tx, err := chain.DecodeTx(raw)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeDeserialization, "TX decode failed: %v", err)
	}
	if err := chain.CheckTxSanity(tx); err != nil {
		return nil, rpc.Errorf(rpc.CodeVerifyRejected, "%v", err)
	}
	txid := tx.TxID()
	if n.txs[txid] != nil {
		return nil, rpc.Errorf(rpc.CodeVerifyAlreadyInChain, "Transaction already in block chain")
	}
	spent := make(map[chain.OutPoint]bool)
	for _, other := range n.mempool {
		for _, in := range other.Inputs {
			spent[in.PrevOut] = true
		}
	}
	prev := make([]chain.UtxoEntry, len(tx.Inputs))
	var in uint64
	for i, txin := range tx.Inputs {
		e, ok := n.utxos[txin.PrevOut]
		if parent := n.inMempool(txin.PrevOut.TxID); !ok && parent != nil && int(txin.PrevOut.Index) < len(parent.Outputs) {
			// An unconfirmed parent's output, as a real mempool accepts.
			out := parent.Outputs[txin.PrevOut.Index]
			e, ok = chain.UtxoEntry{Value: out.Value, PubKeyHash: out.PubKeyHash, Height: n.height + 1}, true
		}
		if !ok {
			return nil, rpc.Errorf(rpc.CodeVerify, "bad-txns-inputs-missingorspent")
		}
		if spent[txin.PrevOut] {
			return nil, rpc.Errorf(rpc.CodeVerifyRejected, "txn-mempool-conflict")
		}
		if e.Coinbase && n.height+1-e.Height < n.params.CoinbaseMaturity {
			return nil, rpc.Errorf(rpc.CodeVerifyRejected, "bad-txns-premature-spend-of-coinbase")
		}
		prev[i] = e
		in += e.Value
	}
	if err := chain.VerifyTxSignatures(tx, prev, nil); err != nil {
		return nil, rpc.Errorf(rpc.CodeVerifyRejected, "mandatory-script-verify-flag-failed (%v)", err)
	}
	out, _ := tx.TotalOut()
	if in < out {
		return nil, rpc.Errorf(rpc.CodeVerify, "bad-txns-in-belowout")
	}
	if fee := in - out; fee < uint64(tx.SerializeSize()) {
		return nil, rpc.Errorf(rpc.CodeVerifyRejected, "min relay fee not met, %d < %d", fee, tx.SerializeSize())
	}
	n.mempool = append(n.mempool, tx)
	return txid, nil
}

// jsonOf decodes a command's --json output.
func jsonOf[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, out)
	}
	return v
}
