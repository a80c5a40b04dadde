package blockchain

import (
	"time"
)

// MaxTipAge is how recent the tip must be for the node to have caught up
// with the network, as Bitcoin Core's default -maxtipage.
const MaxTipAge = 24 * time.Hour

// CaughtUp reports whether the chain has left initial block download: once
// its tip was dated within MaxTipAge of the clock and had at least the
// network's minimum chain work. It latches, as Core's IsInitialBlockDownload
// does, so nothing a peer sends later (a header with more work whose body it
// withholds, a long invalid branch) puts the node back into catching up.
func (c *Chain) CaughtUp() bool {
	if c.caughtUp.Load() {
		return true
	}
	c.mu.RLock()
	tip := c.tip()
	recent := c.now().Sub(time.Unix(int64(tip.header.Time), 0)) < MaxTipAge
	enough := tip.chainWork.Cmp(c.params.MinChainWork) >= 0
	c.mu.RUnlock()
	if recent && enough {
		c.caughtUp.Store(true)
		return true
	}
	return false
}
