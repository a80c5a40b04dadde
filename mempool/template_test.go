package mempool

import (
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// mineTemplate builds a template, finds its nonce and processes it: the
// template must be a valid block.
func mineTemplate(t testing.TB, h *harness) *Template {
	t.Helper()
	tmpl, err := h.pool.BlockTemplate(h.g.PKH, 7, []byte("mempool test"))
	if err != nil {
		t.Fatal(err)
	}
	b := tmpl.Block
	for b.Header.Nonce = 0; chain.CheckProofOfWork(&b.Header, chain.RegtestParams) != nil; b.Header.Nonce++ {
	}
	if _, err := h.chain.ProcessBlock(b); err != nil {
		t.Fatalf("template block rejected: %v", err)
	}
	if h.chain.Best().Hash != b.Hash() {
		t.Fatal("template block is not the tip")
	}
	h.tip = b.Hash()
	return tmpl
}

func TestTemplateChildPaysForParent(t *testing.T) {
	h := newHarness(t, Config{})
	parent := h.spend([]chain.OutPoint{h.coin()}, 200, 1)
	child := h.spend([]chain.OutPoint{out(parent, 0)}, 20_000, 1)
	mid := h.spend([]chain.OutPoint{h.coin()}, 5000, 1)
	low := h.spend([]chain.OutPoint{h.coin()}, 300, 1)
	for _, tx := range []*chain.Tx{low, parent, mid, child} {
		h.accept(tx)
	}
	best := h.chain.Best()
	tmpl := mineTemplate(t, h)

	want := []*chain.Tx{parent, child, mid, low}
	if len(tmpl.Block.Txs) != len(want)+1 || len(tmpl.Txs) != len(want) {
		t.Fatalf("template has %d transactions", len(tmpl.Block.Txs))
	}
	var fees uint64
	for i, tx := range want {
		if tmpl.Block.Txs[i+1] != tx || tmpl.Txs[i].TxID != tx.TxID() {
			t.Fatalf("position %d holds %s, want %s", i+1, tmpl.Txs[i].TxID, tx.TxID())
		}
		fees += tmpl.Txs[i].Fee
	}
	if !slices.Equal(tmpl.Txs[1].Depends, []int{1}) || len(tmpl.Txs[0].Depends) != 0 {
		t.Fatalf("depends %v %v", tmpl.Txs[0].Depends, tmpl.Txs[1].Depends)
	}
	if fees != 25_500 || tmpl.Fees != fees || tmpl.CoinbaseValue != chain.RegtestParams.Subsidy(best.Height+1)+fees {
		t.Fatalf("fees %d, template fees %d, coinbase %d", fees, tmpl.Fees, tmpl.CoinbaseValue)
	}
	hdr := tmpl.Block.Header
	if tmpl.Height != best.Height+1 || hdr.PrevBlock != best.Hash || hdr.Bits != best.NextBits ||
		int64(hdr.Time) < tmpl.MinTime || tmpl.MinTime != best.MedianTime+1 || tmpl.Size != tmpl.Block.SerializeSize() {
		t.Fatalf("template %+v, header %+v", tmpl, hdr)
	}
	if n := h.pool.Info().Count; n != 0 {
		t.Fatalf("%d transactions left after the block", n)
	}
}

func TestTemplateEmptyPoolAndBadCoinbaseData(t *testing.T) {
	h := newHarness(t, Config{})
	if tmpl := mineTemplate(t, h); len(tmpl.Block.Txs) != 1 || tmpl.Fees != 0 {
		t.Fatalf("template of an empty pool has %d transactions", len(tmpl.Block.Txs))
	}
	if _, err := h.pool.BlockTemplate(h.g.PKH, 0, make([]byte, chain.MaxCoinbaseDataLen)); err == nil {
		t.Fatal("coinbase data over the limit accepted")
	}
}

// synth puts an entry of about size bytes paying fee into the pool,
// bypassing every check, for tests of the selection and for benchmarks.
func synth(p *Pool, fee uint64, size int64, parents ...*entry) *entry {
	p.seq++
	tx := &chain.Tx{Version: 1, LockTime: uint32(p.seq), Outputs: []chain.TxOut{{Value: 1}}}
	for _, par := range parents {
		tx.Inputs = append(tx.Inputs, chain.TxIn{PrevOut: chain.OutPoint{TxID: par.txid, Index: uint32(len(par.children))}})
	}
	if len(parents) == 0 {
		tx.Inputs = []chain.TxIn{{PrevOut: chain.OutPoint{Index: uint32(p.seq)}}}
	}
	// A witness item pads the encoding to the size asked for, so hashing
	// the block costs what it would.
	if pad := size - int64(tx.SerializeSize()) - 2; pad > 0 {
		tx.Inputs[0].Witness = [][]byte{make([]byte, pad)}
	}
	e := &entry{tx: tx, txid: tx.TxID(), wtxid: tx.WitnessHash(), size: size, fee: fee, usage: size}
	p.mu.Lock()
	p.insert(e, slices.Clone(parents), ancestorsOf(parents).list)
	p.mu.Unlock()
	return e
}

func selectIDs(p *Pool, budget int64) []*entry {
	p.tmplMu.Lock()
	defer p.tmplMu.Unlock()
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.selectPackages(budget)
}

func TestSelectPackages(t *testing.T) {
	h := newHarness(t, Config{})
	p := h.pool
	a := synth(p, 1000, 1000)
	b := synth(p, 10_000, 1000, a)
	c := synth(p, 4000, 1000)
	d := synth(p, 6000, 1000)
	h.check()
	if got, want := selectIDs(p, 4000), []*entry{d, a, b, c}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", names(got), names(want))
	}
	// a with b does not fit after d; c still does.
	if got, want := selectIDs(p, 2500), []*entry{d, c}; !slices.Equal(got, want) {
		t.Fatalf("budget 2500: %v, want %v", names(got), names(want))
	}

	// Once e is in, g's package is g alone (7/unit), below h (7.5/unit),
	// although e with g rated 8.
	h2 := newHarness(t, Config{})
	p = h2.pool
	e := synth(p, 9000, 1000)
	f := synth(p, 1000, 1000, e)
	g := synth(p, 7000, 1000, e)
	hh := synth(p, 7500, 1000)
	if got, want := selectIDs(p, 1<<20), []*entry{e, hh, g, f}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", names(got), names(want))
	}
}

func names(list []*entry) []string {
	var out []string
	for _, e := range list {
		out = append(out, e.txid.String()[:8])
	}
	return out
}

// With block space bounded, the template keeps the best-paying transactions
// that fit and leaves the rest waiting: the bound makes fees matter.
func TestTemplateBlockMaxSize(t *testing.T) {
	h := newHarness(t, Config{})
	txs := []*chain.Tx{
		h.spend([]chain.OutPoint{h.coin()}, 300, 1),
		h.spend([]chain.OutPoint{h.coin()}, 20_000, 1),
		h.spend([]chain.OutPoint{h.coin()}, 200, 1),
		h.spend([]chain.OutPoint{h.coin()}, 5000, 1),
	}
	for _, tx := range txs {
		h.accept(tx)
	}
	full, err := h.pool.BlockTemplate(h.g.PKH, 7, []byte("mempool test"))
	if err != nil || len(full.Txs) != 4 {
		t.Fatalf("unbounded template: %d transactions, %v", len(full.Txs), err)
	}
	// Room for all but the two cheapest, and the reserve the template keeps
	// for a transaction count of any size.
	limit := full.Size - txs[0].SerializeSize() - txs[2].SerializeSize() + templateReserve
	h.newPool(Config{BlockMaxSize: limit})
	for _, tx := range txs {
		h.accept(tx)
	}
	tmpl := mineTemplate(t, h)
	if tmpl.Size > limit || len(tmpl.Txs) != 2 || tmpl.Txs[0].TxID != txs[1].TxID() || tmpl.Txs[1].TxID != txs[3].TxID() {
		t.Fatalf("template of %d bytes (limit %d) holds %d transactions, want the two best", tmpl.Size, limit, len(tmpl.Txs))
	}
	if n := h.pool.Info().Count; n != 2 {
		t.Fatalf("%d transactions left waiting, want the two cheapest", n)
	}
}
