package mempool

import (
	"errors"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// A peer relaying a transaction that is already confirmed is refused from
// the transaction index alone: the node must not load and decode the whole
// block it is in (up to a megabyte) for each such relay. Measured in
// allocations, which decoding a block of 150 transactions multiplies.
func TestConfirmedTxRelayedAgainIsCheap(t *testing.T) {
	h := newHarness(t, Config{})
	txs := make([]*chain.Tx, 150)
	for i := range txs {
		txs[i] = h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	}
	h.mine(txs...)
	// AllocsPerRun counts every goroutine's allocations: let the background
	// indexes index the block first.
	waitIndexes(t, h.chain)
	old := txs[0]
	var err error
	allocs := testing.AllocsPerRun(20, func() { _, err = h.pool.Accept(old, "peer") })
	var re *RejectError
	if !errors.As(err, &re) || re.Reason != ReasonAlreadyInChain {
		t.Fatalf("confirmed transaction relayed again: %v, want %q", err, ReasonAlreadyInChain)
	}
	// Refusing it costs about 40 allocations; decoding its block took 660.
	if allocs > float64(len(txs)) {
		t.Fatalf("refusing a confirmed transaction took %.0f allocations: its block was decoded", allocs)
	}
	t.Logf("%.0f allocations", allocs)
}

// waitIndexes waits until every index of c has reached c's tip.
func waitIndexes(t *testing.T, c *blockchain.Chain) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		caughtUp := true
		for _, st := range c.IndexStatuses() {
			caughtUp = caughtUp && st.Synced && st.BestHeight == c.Best().Height
		}
		if caughtUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexes %+v still behind the tip at %d", c.IndexStatuses(), c.Best().Height)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
