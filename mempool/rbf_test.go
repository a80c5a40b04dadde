package mempool

import (
	"slices"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestReplacement(t *testing.T) {
	t.Run("replaces and evicts descendants", func(t *testing.T) {
		h := newHarness(t, Config{})
		var removed []Event
		h.pool.Subscribe(func(e Event) {
			if e.Kind == TxRemoved {
				removed = append(removed, e)
			}
		})
		op := h.coin()
		orig := h.spend([]chain.OutPoint{op}, 1000, 2)
		child := h.spend([]chain.OutPoint{out(orig, 0)}, 1000, 1)
		grandchild := h.spend([]chain.OutPoint{out(child, 0)}, 1000, 1)
		other := h.spend([]chain.OutPoint{out(orig, 1)}, 1000, 1)
		unrelated := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
		for _, tx := range []*chain.Tx{orig, child, grandchild, other, unrelated} {
			h.accept(tx)
		}
		// 4,000 evicted, plus relay of its own ~180 bytes.
		repl := h.spend([]chain.OutPoint{op}, 4500, 1)
		res := h.accept(repl)
		want := []chain.Hash{orig.TxID(), child.TxID(), grandchild.TxID(), other.TxID()}
		got := slices.Clone(res.Replaced)
		sortHashes(want)
		sortHashes(got)
		if !slices.Equal(got, want) {
			t.Fatalf("replaced %v, want %v", got, want)
		}
		h.requireIn(repl, unrelated)
		h.requireOut(orig, child, grandchild, other)
		if len(removed) != 4 || removed[0].Reason != ReasonReplaced {
			t.Fatalf("removal events %+v", removed)
		}
	})

	t.Run("fee rate not above a conflict's", func(t *testing.T) {
		h := newHarness(t, Config{})
		op := h.coin()
		h.accept(h.spend([]chain.OutPoint{op}, 5000, 1))
		// The same fee for more bytes.
		re := h.rejected(h.spend([]chain.OutPoint{op}, 5000, 2), ReasonInsufficientFee)
		if !strings.Contains(re.Error(), "new feerate") {
			t.Fatal(re)
		}
	})

	t.Run("less absolute fee than all it evicts", func(t *testing.T) {
		h := newHarness(t, Config{})
		op := h.coin()
		orig := h.spend([]chain.OutPoint{op}, 1000, 1)
		h.accept(orig)
		h.accept(h.spend([]chain.OutPoint{out(orig, 0)}, 10_000, 1))
		// A better rate than orig alone, but it would lose the child's fee.
		re := h.rejected(h.spend([]chain.OutPoint{op}, 5000, 1), ReasonInsufficientFee)
		if !strings.Contains(re.Error(), "less fees than conflicting txs; 5000 < 11000") {
			t.Fatal(re)
		}
	})

	t.Run("does not pay for its own relay", func(t *testing.T) {
		h := newHarness(t, Config{})
		op := h.coin()
		h.accept(h.spend([]chain.OutPoint{op}, 1000, 1))
		re := h.rejected(h.spend([]chain.OutPoint{op}, 1100, 1), ReasonInsufficientFee)
		if !strings.Contains(re.Error(), "not enough additional fees to relay; 100 <") {
			t.Fatal(re)
		}
	})

	t.Run("too many evicted", func(t *testing.T) {
		h := newHarness(t, Config{})
		var ops []chain.OutPoint
		for range 5 {
			op := h.coin()
			ops = append(ops, op)
			root := h.spend([]chain.OutPoint{op}, 1000, DescendantLimit-1)
			h.accept(root)
			for i := range DescendantLimit - 1 {
				h.accept(h.spend([]chain.OutPoint{out(root, i)}, 1000, 1))
			}
		}
		// 5 x 25 = 125 transactions would go.
		re := h.rejected(h.spend(ops, 1_000_000, 1), ReasonTooManyReplacements)
		if !strings.Contains(re.Error(), "(125 > 100)") {
			t.Fatal(re)
		}
		// Four families (100) may go.
		h.accept(h.spend(ops[:4], 1_000_000, 1))
		if n := h.pool.Info().Count; n != 1+25 {
			t.Fatalf("%d left", n)
		}
	})

	t.Run("new unconfirmed input", func(t *testing.T) {
		h := newHarness(t, Config{})
		op := h.coin()
		h.accept(h.spend([]chain.OutPoint{op}, 1000, 1))
		unconfirmed := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
		h.accept(unconfirmed)
		h.rejected(h.spend([]chain.OutPoint{op, out(unconfirmed, 0)}, 50_000, 1), ReasonAddsUnconfirmed)
	})

	t.Run("unconfirmed input the replaced one spent", func(t *testing.T) {
		h := newHarness(t, Config{})
		parent := h.spend([]chain.OutPoint{h.coin()}, 1000, 2)
		h.accept(parent)
		op := h.coin()
		h.accept(h.spend([]chain.OutPoint{op, out(parent, 0)}, 1000, 1))
		h.accept(h.spend([]chain.OutPoint{op, out(parent, 0)}, 5000, 1))
	})

	t.Run("spends what it replaces", func(t *testing.T) {
		h := newHarness(t, Config{})
		op := h.coin()
		orig := h.spend([]chain.OutPoint{op}, 1000, 2)
		h.accept(orig)
		h.rejected(h.spend([]chain.OutPoint{op, out(orig, 0)}, 50_000, 1), ReasonSpendsConflicting)
	})
}
