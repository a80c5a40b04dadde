package blockchain

import (
	"math/big"
	"slices"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/pow"
)

// blockStatus records what is known of a block in the index.
type blockStatus uint8

const (
	// statusHaveData: the block's body is stored.
	statusHaveData blockStatus = 1 << iota
	// statusValid: the block was connected once, so every rule held.
	statusValid
	// statusFailed: the block broke a rule.
	statusFailed
	// statusFailedParent: an ancestor broke a rule.
	statusFailedParent
	// statusPruned: the body and undo data were stored and then pruned; the
	// block keeps statusHaveData, so its descendants can still be connected.
	statusPruned
)

func (s blockStatus) invalid() bool { return s&(statusFailed|statusFailedParent) != 0 }

// blockNode is one header in the in-memory index of every header the node knows.
type blockNode struct {
	hash   chain.Hash
	parent *blockNode
	// skip is an ancestor further back (at skipHeight), so that ancestor
	// takes O(log n) steps rather than n: assumevalid asks, for every block
	// it connects, whether it is an ancestor of a block thousands of
	// blocks higher (Core's pskip).
	skip      *blockNode
	children  []*blockNode
	header    chain.Header
	height    int32
	chainWork *big.Int // total work of the chain up to and including this block
	status    blockStatus
	// seq orders nodes by when they were first seen, to break ties in work.
	seq uint64
	// dataChain: this block and every ancestor have their bodies stored, so the
	// chain ending here could be connected.
	dataChain bool
	// beyondPrune: the block's branch forks from the main chain below the
	// pruned blocks: connecting it would take undo data that is gone, so it
	// is never a candidate tip.
	// Kept in memory only: after a restart one attempt finds it again.
	beyondPrune bool
	// timeMax is the latest time of this block and its ancestors, which
	// never decreases along a chain, so a time can be found by bisection
	// (Core's nTimeMax) although block times themselves may go back.
	timeMax uint32
}

func newBlockNode(h *chain.Header, parent *blockNode) *blockNode {
	n := &blockNode{hash: h.Hash(), header: *h, parent: parent, chainWork: pow.WorkFromBits(h.Bits), timeMax: h.Time}
	if parent != nil {
		n.height = parent.height + 1
		n.timeMax = max(h.Time, parent.timeMax)
		n.chainWork.Add(n.chainWork, parent.chainWork)
		parent.children = append(parent.children, n)
		n.skip = parent.ancestor(skipHeight(n.height))
	}
	return n
}

// skipHeight is the height of the skip pointer of a block at height: any
// lower height would do, and this one (Core's GetSkipHeight) reaches any
// ancestor of a chain of 2^18 blocks in at most 110 steps.
func skipHeight(height int32) int32 {
	if height < 2 {
		return 0
	}
	clearLowest := func(h int32) int32 { return h & (h - 1) }
	if height&1 == 1 {
		return clearLowest(clearLowest(height-1)) + 1
	}
	return clearLowest(height)
}

// ancestor returns the node's ancestor at height, or nil (Core's
// GetAncestor).
func (n *blockNode) ancestor(height int32) *blockNode {
	if height < 0 || height > n.height {
		return nil
	}
	for n != nil && n.height > height {
		n = n.towards(height)
	}
	return n
}

// towards is one step of ancestor's walk down to height: the skip pointer,
// unless it overshoots or the parent's gets closer in fewer steps.
func (n *blockNode) towards(height int32) *blockNode {
	hSkip, hSkipPrev := skipHeight(n.height), skipHeight(n.height-1)
	if n.skip != nil && (hSkip == height || hSkip > height && !(hSkipPrev < hSkip-2 && hSkipPrev >= height)) {
		return n.skip
	}
	return n.parent
}

// medianTimePast is the median of the times of this block and up to ten ancestors.
func (n *blockNode) medianTimePast() int64 {
	times := make([]int64, 0, chain.MedianTimeBlocks)
	for it := n; it != nil && len(times) < chain.MedianTimeBlocks; it = it.parent {
		times = append(times, int64(it.header.Time))
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// nextBits is the difficulty a child of n must carry. At a retarget height the
// window runs from the last block of the previous window to n, covering the full
// interval (Bitcoin starts one block late); the first window starts at genesis.
func (n *blockNode) nextBits(params *chain.Params) uint32 {
	height := n.height + 1
	if !params.IsRetargetHeight(height) {
		return n.header.Bits
	}
	first := n.ancestor(max(height-params.RetargetInterval-1, 0))
	return pow.NextBits(n.header.Bits, int64(first.header.Time), int64(n.header.Time), params.TargetTimespan(), params.PowLimit)
}

// context is what the header rules need of n as the parent of a new header.
func (n *blockNode) context(params *chain.Params) chain.ParentContext {
	return chain.ParentContext{Height: n.height, Time: n.header.Time, MedianTimePast: n.medianTimePast(), NextBits: n.nextBits(params)}
}

// moreWork reports whether a has strictly more cumulative work than b; on a tie
// the chain seen first stays, as in Bitcoin Core.
func moreWork(a, b *blockNode) bool { return a.chainWork.Cmp(b.chainWork) > 0 }

// forkPoint returns the last common ancestor of a and b.
func forkPoint(a, b *blockNode) *blockNode {
	for a != nil && b != nil && a != b {
		switch {
		case a.height > b.height:
			a = a.parent
		case b.height > a.height:
			b = b.parent
		default:
			a, b = a.parent, b.parent
		}
	}
	if a == b {
		return a
	}
	return nil
}
