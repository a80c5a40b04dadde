package blockchain

import (
	"math/big"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/pow"
)

// skipSignatures reports whether block n may be connected without checking
// its signatures, under Bitcoin Core's assumevalid conditions: the assumed
// valid block is known, n is its ancestor, n is on the best header chain, that
// chain has the network's minimum work, and enough work is built on n. Every
// other rule is still checked for n.
func (c *Chain) skipSignatures(n *blockNode) bool {
	if c.assumeValid.IsZero() {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	av := c.index[c.assumeValid]
	if av == nil || av.ancestor(n.height) != n {
		return false
	}
	best := c.bestHeader
	if best.ancestor(n.height) != n {
		return false
	}
	if mw := c.params.MinimumChainWork; mw != nil && best.chainWork.Cmp(mw) < 0 {
		return false
	}
	return proofEquivalentTime(best, n, c.params) > c.params.AssumeValidBuried
}

// proofEquivalentTime is how long, in seconds, the network would take at tip's
// difficulty to build the work between from and tip (Core's
// GetBlockProofEquivalentTime).
func proofEquivalentTime(tip, from *blockNode, params *chain.Params) int64 {
	work := new(big.Int).Sub(tip.chainWork, from.chainWork)
	work.Mul(work, big.NewInt(params.TargetSpacing))
	work.Quo(work, pow.WorkFromBits(tip.header.Bits))
	if !work.IsInt64() {
		return 1 << 62
	}
	return work.Int64()
}
