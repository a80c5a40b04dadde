package mempool

import (
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// oneTxUsage is the memory bound of a pool holding n one-in, one-out
// transactions, with half a transaction to spare.
func oneTxUsage(h *harness, n int) int64 {
	op := chain.OutPoint{Index: 7}
	h.values[op] = coinValue
	sample := h.spend([]chain.OutPoint{op}, 0, 1)
	u := memUsage(sample, int64(sample.SerializeSize()))
	return int64(n)*u + u/2
}

func TestEvictionWhenFull(t *testing.T) {
	h := newHarness(t, Config{})
	h.newPool(Config{MaxUsage: oneTxUsage(h, 5)})
	var txs []*chain.Tx
	for _, fee := range []uint64{400, 600, 800, 1000, 1200} {
		tx := h.spend([]chain.OutPoint{h.coin()}, fee, 1)
		h.accept(tx)
		txs = append(txs, tx)
	}
	if got := h.pool.Info().MinFeeRate; got != DefaultMinRelayFeeRate {
		t.Fatalf("min fee %s before the pool is full", got)
	}
	// A better transaction pushes out the one paying least.
	best := h.spend([]chain.OutPoint{h.coin()}, 2000, 1)
	h.accept(best)
	h.requireOut(txs[0])
	h.requireIn(txs[1:]...)
	h.requireIn(best)

	// The pool's minimum fee now sits above what the evicted one paid.
	minFee := h.pool.Info().MinFeeRate
	if want := NewFeeRate(400, int64(txs[0].SerializeSize())) + DefaultMinRelayFeeRate; minFee != want {
		t.Fatalf("min fee rate %s, want %s", minFee, want)
	}
	h.rejected(h.spend([]chain.OutPoint{h.coin()}, 500, 1), ReasonMempoolMinFee)
	// Paying the minimum but less than everything in the pool: in and out again.
	cheap := h.spend([]chain.OutPoint{h.coin()}, minFee.Fee(181)+5, 1)
	h.rejected(cheap, ReasonMempoolFull)
	h.requireIn(txs[1:]...)

	// After a block the minimum decays back to the relay minimum.
	h.mine()
	h.clock.Advance(48 * time.Hour)
	if got := h.pool.Info().MinFeeRate; got != DefaultMinRelayFeeRate {
		t.Fatalf("min fee %s two days after a block", got)
	}
}

// A parent paying little stays while its child pays for it: eviction goes by
// the fee rate of a transaction with its descendants.
func TestEvictionKeepsChildPaysForParent(t *testing.T) {
	h := newHarness(t, Config{})
	h.newPool(Config{MaxUsage: oneTxUsage(h, 5)})
	parent := h.spend([]chain.OutPoint{h.coin()}, 200, 1)
	child := h.spend([]chain.OutPoint{out(parent, 0)}, 3000, 1)
	h.accept(parent)
	h.accept(child)
	var singles []*chain.Tx
	for _, fee := range []uint64{600, 800, 1000} {
		tx := h.spend([]chain.OutPoint{h.coin()}, fee, 1)
		h.accept(tx)
		singles = append(singles, tx)
	}
	h.accept(h.spend([]chain.OutPoint{h.coin()}, 1200, 1))
	h.requireOut(singles[0])
	h.requireIn(parent, child, singles[1], singles[2])
	// A package paying less than the rest goes as a whole.
	h.accept(h.spend([]chain.OutPoint{h.coin()}, 9000, 1))
	h.accept(h.spend([]chain.OutPoint{h.coin()}, 9000, 1))
	if h.pool.Has(child.TxID()) != h.pool.Has(parent.TxID()) {
		t.Fatal("a child stayed without its parent or the other way round")
	}
}

func TestExpiry(t *testing.T) {
	h := newHarness(t, Config{})
	var expired []chain.Hash
	h.pool.Subscribe(func(e Event) {
		if e.Kind == TxRemoved && e.Reason == ReasonExpiry {
			expired = append(expired, e.TxID)
		}
	})
	old := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.accept(old)
	h.clock.Advance(7 * 24 * time.Hour)
	young := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	oldChild := h.spend([]chain.OutPoint{out(old, 0)}, 1000, 1)
	h.accept(young)
	h.accept(oldChild)
	h.clock.Advance(7*24*time.Hour + time.Second)
	h.accept(h.spend([]chain.OutPoint{h.coin()}, 1000, 1))
	h.requireOut(old, oldChild)
	h.requireIn(young)
	if len(expired) != 2 {
		t.Fatalf("expired %v", expired)
	}
	// Blocks expire transactions too.
	h.clock.Advance(15 * 24 * time.Hour)
	h.mine()
	if n := h.pool.Info().Count; n != 0 {
		t.Fatalf("%d transactions left", n)
	}
}
