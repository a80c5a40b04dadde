package fees

import (
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/mempool"
)

// Follow feeds e with the pool's transactions and the chain's blocks, as
// Core's mempool and validation signals feed its estimator. The returned
// cancel stops following the chain; the pool's subscription lasts as long
// as the pool, which calls nothing once closed.
func (e *Estimator) Follow(c *blockchain.Chain, p *mempool.Pool) (cancel func()) {
	p.Subscribe(func(ev mempool.Event) {
		switch {
		case ev.Kind == mempool.TxAdded:
			// A child's fee pays for its parents too, so it says nothing
			// of its own rate; one back from a reorganisation waited an
			// unknown time.
			valid := ev.Reason != mempool.ReasonReorg
			for i := 0; valid && i < len(ev.Tx.Inputs); i++ {
				valid = !p.Has(ev.Tx.Inputs[i].PrevOut.TxID)
			}
			e.TxAdded(ev.TxID, c.Best().Height, ev.Fee, ev.Size, valid)
		case ev.Reason != mempool.ReasonBlock:
			e.TxRemoved(ev.TxID)
		}
		// A transaction leaving for a block is counted by BlockConnected,
		// whichever of the two hears of it first.
	})
	return c.Subscribe(func(ev blockchain.Event) {
		if ev.Kind == blockchain.BlockConnected {
			e.BlockConnected(ev.Height, ev.TxIDs)
		}
	})
}
