package mempool

import (
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
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
	chaintest.WaitIndexes(t, h.chain)
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
