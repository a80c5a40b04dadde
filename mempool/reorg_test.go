package mempool

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestBlockRemovesMinedAndConflicting(t *testing.T) {
	h := newHarness(t, Config{})
	reasons := make(map[chain.Hash]RemovalReason)
	h.pool.Subscribe(func(e Event) {
		if e.Kind == TxRemoved {
			reasons[e.TxID] = e.Reason
		}
	})
	a := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	a2 := h.spend([]chain.OutPoint{out(a, 0)}, 1000, 1)
	coin := h.coin()
	x := h.spend([]chain.OutPoint{coin}, 1000, 1)
	x2 := h.spend([]chain.OutPoint{out(x, 0)}, 1000, 1)
	y := h.spend([]chain.OutPoint{coin}, 3000, 1)
	keep := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	for _, tx := range []*chain.Tx{a, a2, x, x2, keep} {
		h.accept(tx)
	}
	h.mine(a, y)
	h.check()
	h.requireOut(a, x, x2)
	h.requireIn(a2, keep)
	if reasons[a.TxID()] != ReasonBlock || reasons[x.TxID()] != ReasonConflict || reasons[x2.TxID()] != ReasonConflict {
		t.Fatalf("reasons %v", reasons)
	}
	if e, _ := h.pool.Entry(a2.TxID()); e.AncestorCount != 1 || len(e.Depends) != 0 {
		t.Fatalf("child of a mined transaction: %+v", e)
	}
}

// Two blocks are disconnected for a longer branch that double-spends one of
// their transactions and mines another: the rest comes back, parents before
// children, and pool transactions that spent their outputs become their
// children again.
func TestReorgReturnsTransactions(t *testing.T) {
	h := newHarness(t, Config{})
	fork := h.tip
	coin2, coin4 := h.coin(), h.coin()
	a := h.spend([]chain.OutPoint{h.coin()}, 1000, 2)
	b := h.spend([]chain.OutPoint{coin2}, 1000, 1)
	both := h.spend([]chain.OutPoint{coin4}, 1000, 1)
	c := h.spend([]chain.OutPoint{out(a, 0)}, 1000, 1)
	for _, tx := range []*chain.Tx{a, b, both, c} {
		h.accept(tx)
	}
	h.mine(a, b, both)
	h.mine(c)
	if n := h.pool.Info().Count; n != 0 {
		t.Fatalf("%d left after mining", n)
	}
	d := h.spend([]chain.OutPoint{out(c, 0)}, 1000, 1)
	e := h.spend([]chain.OutPoint{out(a, 1)}, 1000, 1)
	f := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	for _, tx := range []*chain.Tx{d, e, f} {
		h.accept(tx)
	}

	var added []Event
	h.pool.Subscribe(func(ev Event) {
		if ev.Kind == TxAdded {
			added = append(added, ev)
		}
	})
	bPrime := h.spend([]chain.OutPoint{coin2}, 5000, 1)
	f1 := h.g.NextBlock(fork, bPrime, both)
	f2 := h.g.NextBlock(f1.Hash())
	f3 := h.g.NextBlock(f2.Hash())
	h.process(f1, f2, f3)
	if h.chain.Best().Hash != f3.Hash() {
		t.Fatal("no reorganisation")
	}
	h.tip = f3.Hash()
	h.check()
	h.requireIn(a, c, d, e, f)
	h.requireOut(b, bPrime, both)
	if len(added) != 2 || added[0].TxID != a.TxID() || added[1].TxID != c.TxID() || added[0].Reason != ReasonReorg {
		t.Fatalf("added %+v", added)
	}
	if ent, _ := h.pool.Entry(d.TxID()); ent.AncestorCount != 3 || ent.Depends[0] != c.TxID() {
		t.Fatalf("d: %+v", ent)
	}
	if ent, _ := h.pool.Entry(a.TxID()); ent.DescendantCount != 4 {
		t.Fatalf("a: %+v", ent)
	}
	// Everything in the pool still makes a valid block.
	mineTemplate(t, h)
	if n := h.pool.Info().Count; n != 0 {
		t.Fatalf("%d left after mining the template", n)
	}
}

// A transaction spending an output of a transaction the new branch
// double-spends goes with it.
func TestReorgDropsDescendantsOfDoubleSpent(t *testing.T) {
	h := newHarness(t, Config{})
	fork := h.tip
	coin := h.coin()
	a := h.spend([]chain.OutPoint{coin}, 1000, 1)
	h.mine(a)
	child := h.spend([]chain.OutPoint{out(a, 0)}, 1000, 1)
	h.accept(child)
	f1 := h.g.NextBlock(fork, h.spend([]chain.OutPoint{coin}, 2000, 1))
	f2 := h.g.NextBlock(f1.Hash())
	h.process(f1, f2)
	h.tip = f2.Hash()
	h.check()
	h.requireOut(a, child)
}

// A reorganisation deep enough to take a mature coinbase away takes its
// spender out of the pool; the fan-out transaction of the disconnected
// branch comes back with its spenders.
func TestReorgDropsSpendOfVanishedCoinbase(t *testing.T) {
	h := newHarness(t, Config{})
	fanOutBlock := h.g.Block(h.tip)
	fork := fanOutBlock.Header.PrevBlock
	for range chain.RegtestParams.CoinbaseMaturity - 1 {
		h.mine()
	}
	cbSpend := h.spend([]chain.OutPoint{h.g.Coinbase(fanOutBlock.Hash())}, 1000, 1)
	h.accept(cbSpend)
	coinSpend := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.accept(coinSpend)

	branch := h.g.Chain(fork, int(h.chain.Best().Height-h.g.Height(fork))+1)
	h.process(branch...)
	if h.chain.Best().Hash != branch[len(branch)-1].Hash() {
		t.Fatal("no reorganisation")
	}
	h.check()
	h.requireOut(cbSpend)
	h.requireIn(fanOutBlock.Txs[1], coinSpend)
	if e, _ := h.pool.Entry(coinSpend.TxID()); e.AncestorCount != 2 {
		t.Fatalf("coin spend: %+v", e)
	}
}
