package mempool

import (
	"sync"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// Submitters, queries and block templates mined into blocks all at once: at
// the end every transaction is in the pool or in the chain, and the pool's
// bookkeeping is sound. Run with -race.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, Config{})
	const workers, perWorker = 4, 12
	var all []*chain.Tx
	batches := make([][]*chain.Tx, workers)
	for w := range batches {
		for range perWorker / 3 {
			a := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
			b := h.spend([]chain.OutPoint{out(a, 0)}, 2000, 1)
			c := h.spend([]chain.OutPoint{out(b, 0)}, 3000, 1)
			// Children first: they wait as orphans until the parent comes.
			batches[w] = append(batches[w], c, b, a)
			all = append(all, a, b, c)
		}
	}
	var wg sync.WaitGroup
	for w, batch := range batches {
		wg.Go(func() {
			for _, tx := range batch {
				if _, err := h.pool.Accept(tx, PeerID(rune('a'+w))); err != nil && !IsMissingInputs(err) {
					if re, ok := err.(*RejectError); !ok || re.Reason != ReasonAlreadyInChain {
						t.Errorf("accept: %v", err)
					}
				}
				h.pool.TestAccept(tx, 0)
				h.pool.Entries()
				h.pool.Info()
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			mineTemplate(t, h)
		}
	})
	wg.Wait()
	h.check()
	for _, tx := range all {
		if _, _, err := h.txIndex.Find(tx.TxID()); err != nil && !h.pool.Has(tx.TxID()) {
			t.Fatalf("%s is neither confirmed nor in the pool", tx.TxID())
		}
	}
	mineTemplate(t, h)
	if n := h.pool.Info().Count; n != 0 {
		t.Fatalf("%d left after mining everything", n)
	}
}
