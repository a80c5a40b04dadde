package mempool

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a real chain in a temporary directory with a pool on top, and
// coins to spend: outputs of a fan-out transaction confirmed at height 102.
type harness struct {
	t       testing.TB
	dir     string
	chain   *blockchain.Chain
	txIndex *indexers.TxIndex
	g       *chaintest.Generator
	pool    *Pool
	clock   *fakeClock
	tip     chain.Hash
	base    []*chain.Block
	coins   []chain.OutPoint
	values  map[chain.OutPoint]uint64
}

const (
	fanOut    = 200
	coinValue = chain.Coin / 10
)

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), values: make(map[chain.OutPoint]uint64)}
	h.openChain()
	h.g = chaintest.New(chain.RegtestParams)
	h.base = h.g.Chain(chain.RegtestParams.GenesisHash, 101)
	h.process(h.base...)
	h.tip = h.base[len(h.base)-1].Hash()
	values := make([]uint64, fanOut)
	for i := range values {
		values[i] = coinValue
	}
	split := h.g.Spend([]chain.OutPoint{h.g.Coinbase(h.base[0].Hash())}, values...)
	h.mine(split)
	for i := range values {
		h.coins = append(h.coins, chain.OutPoint{TxID: split.TxID(), Index: uint32(i)})
	}
	h.clock = &fakeClock{t: time.Now()}
	h.pool = h.newPool(cfg)
	return h
}

func (h *harness) openChain() {
	h.t.Helper()
	h.txIndex = indexers.NewTxIndex()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: h.dir, Logger: quietLog, Indexers: []blockchain.Indexer{h.txIndex}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.chain = c
	h.t.Cleanup(func() { c.Close() })
}

// newPool makes a pool on the harness's chain with the harness's clock,
// closing the previous one.
func (h *harness) newPool(cfg Config) *Pool {
	h.t.Helper()
	if h.pool != nil {
		h.pool.Close()
	}
	cfg.Chain, cfg.TxIndex = h.chain, h.txIndex
	cfg.Logger = quietLog
	if cfg.Now == nil {
		cfg.Now = h.clock.Now
	}
	p, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.pool = p
	return p
}

func (h *harness) process(blocks ...*chain.Block) {
	h.t.Helper()
	for _, b := range blocks {
		if _, err := h.chain.ProcessBlock(b); err != nil {
			h.t.Fatalf("block %s: %v", b.Hash(), err)
		}
	}
}

// mine builds a block with txs on the harness's tip and processes it.
func (h *harness) mine(txs ...*chain.Tx) *chain.Block {
	h.t.Helper()
	b := h.g.NextBlock(h.tip, txs...)
	h.process(b)
	h.tip = b.Hash()
	return b
}

// coin hands out a confirmed output of coinValue no other test step uses.
func (h *harness) coin() chain.OutPoint {
	h.t.Helper()
	if len(h.coins) == 0 {
		h.t.Fatal("out of coins")
	}
	op := h.coins[0]
	h.coins = h.coins[1:]
	return op
}

func (h *harness) value(op chain.OutPoint) uint64 {
	if v, ok := h.values[op]; ok {
		return v
	}
	out, ok := h.g.Output(op)
	if !ok {
		h.t.Fatalf("unknown output %s", op)
	}
	return out.Value
}

// spend builds a signed transaction spending ins into n equal outputs (the
// last takes the remainder), paying fee.
func (h *harness) spend(ins []chain.OutPoint, fee uint64, n int) *chain.Tx {
	h.t.Helper()
	tx := &chain.Tx{Version: 1}
	var total uint64
	for _, op := range ins {
		tx.Inputs = append(tx.Inputs, chain.TxIn{PrevOut: op})
		total += h.value(op)
	}
	out := total - fee
	for i := range n {
		v := out / uint64(n)
		if i == n-1 {
			v = out - v*uint64(n-1)
		}
		tx.Outputs = append(tx.Outputs, chain.TxOut{Value: v, PubKeyHash: h.g.PKH})
	}
	h.sign(tx)
	return tx
}

func (h *harness) sign(tx *chain.Tx) {
	spent := make([]chain.TxOut, len(tx.Inputs))
	for i, in := range tx.Inputs {
		spent[i] = chain.TxOut{Value: h.value(in.PrevOut), PubKeyHash: h.g.PKH}
	}
	hasher := chain.NewSigHasher(tx, spent)
	for i := range tx.Inputs {
		chain.SignInput(tx, hasher, i, h.g.Key)
	}
	id := tx.TxID()
	for i, out := range tx.Outputs {
		h.values[chain.OutPoint{TxID: id, Index: uint32(i)}] = out.Value
	}
}

func out(tx *chain.Tx, i int) chain.OutPoint {
	return chain.OutPoint{TxID: tx.TxID(), Index: uint32(i)}
}

func (h *harness) accept(tx *chain.Tx) *AcceptResult {
	h.t.Helper()
	res, err := h.pool.Accept(tx, LocalPeer)
	if err != nil {
		h.t.Fatalf("accept %s: %v", tx.TxID(), err)
	}
	h.check()
	return res
}

func (h *harness) rejected(tx *chain.Tx, reason string) *RejectError {
	h.t.Helper()
	_, err := h.pool.Accept(tx, LocalPeer)
	var re *RejectError
	if !errors.As(err, &re) {
		h.t.Fatalf("accept %s: err = %v, want a rejection %q", tx.TxID(), err, reason)
	}
	if re.Reason != reason {
		h.t.Fatalf("accept %s: rejected with %q (%v), want %q", tx.TxID(), re.Reason, err, reason)
	}
	if h.pool.Has(tx.TxID()) && reason != ReasonAlreadyInMempool && reason != ReasonSameNonWitness {
		h.t.Fatal("rejected transaction is in the pool")
	}
	h.check()
	return re
}

func (h *harness) check() {
	h.t.Helper()
	if err := h.pool.checkInvariants(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) requireIn(txs ...*chain.Tx) {
	h.t.Helper()
	for _, tx := range txs {
		if !h.pool.Has(tx.TxID()) {
			h.t.Fatalf("%s is not in the pool", tx.TxID())
		}
	}
}

func (h *harness) requireOut(txs ...*chain.Tx) {
	h.t.Helper()
	for _, tx := range txs {
		if h.pool.Has(tx.TxID()) {
			h.t.Fatalf("%s is in the pool", tx.TxID())
		}
	}
}

// checkInvariants verifies the links and family stats of every entry against
// a recount from scratch.
func (p *Pool) checkInvariants() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var size, usage int64
	var fees uint64
	for id, e := range p.entries {
		if e.txid != id {
			return fmt.Errorf("entry %s is filed under %s", e.txid, id)
		}
		size += e.size
		usage += e.usage
		fees += e.fee
		anc := e.self()
		for _, a := range ancestorsOf(e.parents).list {
			anc.add(a.self())
		}
		if anc != e.anc {
			return fmt.Errorf("%s: ancestor stats %+v, recount %+v", id, e.anc, anc)
		}
		var desc famStats
		for _, d := range descendantsOf(e).list {
			desc.add(d.self())
		}
		if desc != e.desc {
			return fmt.Errorf("%s: descendant stats %+v, recount %+v", id, e.desc, desc)
		}
		for i, in := range e.tx.Inputs {
			if p.spends[in.PrevOut] != e {
				return fmt.Errorf("%s: input %d is not indexed", id, i)
			}
			if par := p.entries[in.PrevOut.TxID]; par != nil && !slices.Contains(e.parents, par) {
				return fmt.Errorf("%s: input %d spends pool transaction %s, not linked as parent", id, i, par.txid)
			}
		}
		for _, par := range e.parents {
			if p.entries[par.txid] != par || !slices.Contains(par.children, e) {
				return fmt.Errorf("%s: parent %s is not linked back", id, par.txid)
			}
		}
		for _, c := range e.children {
			if p.entries[c.txid] != c || !slices.Contains(c.parents, e) {
				return fmt.Errorf("%s: child %s is not linked back", id, c.txid)
			}
		}
		if e.heapIdx < 0 || e.heapIdx >= len(p.byScore) || p.byScore[e.heapIdx] != e {
			return fmt.Errorf("%s: heap index is wrong", id)
		}
	}
	for i := 1; i < len(p.byScore); i++ {
		if p.byScore.Less(i, (i-1)/2) {
			return fmt.Errorf("eviction heap order is broken at %d", i)
		}
	}
	if size != p.size || usage != p.usage || fees != p.fees || len(p.byScore) != len(p.entries) {
		return fmt.Errorf("totals: size %d/%d, usage %d/%d, fees %d/%d, heap %d/%d",
			size, p.size, usage, p.usage, fees, p.fees, len(p.byScore), len(p.entries))
	}
	for op, e := range p.spends {
		if p.entries[e.txid] != e {
			return fmt.Errorf("spent outpoint %s points at a removed entry", op)
		}
	}
	return nil
}

// senderAtFault reports whether err blames the peer that sent the transaction,
// as p2p decides from chain's rule table.
func senderAtFault(err error) bool {
	fault, broke := chain.TxFault(err)
	return broke && fault == chain.FaultSender
}
