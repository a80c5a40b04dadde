package blockchain

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/pow"
)

// nearTipBlocks is how many of the tip's blocks' worth of work a branch may
// fall short of the tip and still have its headers stored: a fork that close
// may yet overtake the tip. Bitcoin Core uses the same 144 (a day on main).
const nearTipBlocks = 144

// ErrLowWork is returned by AcceptHeaders for headers of a branch with too
// little work to be worth storing (see HeadersWorkThreshold). It is not a
// rule error and not the sender's fault alone: an honest peer on a fork
// longer than one batch of headers sends it too, until it has sent enough.
var ErrLowWork = errors.New("headers of a branch with too little work to store")

// HeadersWorkThreshold is the least cumulative work a branch must reach
// before its headers are stored: the network's minimum chain work, or the
// tip's work less 144 of its blocks' work if that is more. Below it a branch
// cannot soon become the main chain, and storing it would let anyone fill
// the index and the disk with cheap headers forking from low heights (where
// the difficulty is lowest). This is Bitcoin Core's anti-DoS work threshold.
func (c *Chain) HeadersWorkThreshold() *big.Int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.headersWorkThresholdLocked()
}

func (c *Chain) headersWorkThresholdLocked() *big.Int {
	tip := c.tip()
	near := new(big.Int).Mul(pow.WorkFromBits(tip.header.Bits), big.NewInt(nearTipBlocks))
	near.Sub(tip.chainWork, near)
	if near.Cmp(c.params.MinChainWork) < 0 {
		return new(big.Int).Set(c.params.MinChainWork)
	}
	return near
}

// checkHeadersWork returns ErrLowWork unless some header among headers not
// yet known ends a branch with at least HeadersWorkThreshold of work. Each
// header's work is counted only if its proof of work holds, so work claimed
// in bits but not done cannot carry cheap headers before it into the store.
func (c *Chain) checkHeadersWork(headers []chain.Header) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	threshold := c.headersWorkThresholdLocked()
	work := make(map[chain.Hash]*big.Int, len(headers))
	best := new(big.Int)
	anyNew := false
	for i := range headers {
		h := &headers[i]
		hash := h.Hash()
		if c.index[hash] != nil {
			continue
		}
		anyNew = true
		parentWork := work[h.PrevBlock]
		if parent := c.index[h.PrevBlock]; parent != nil {
			parentWork = parent.chainWork
		}
		if parentWork == nil || chain.CheckProofOfWork(h, c.params) != nil {
			// The store loop reports it; nothing past it counts.
			break
		}
		w := new(big.Int).Add(parentWork, pow.WorkFromBits(h.Bits))
		work[hash] = w
		if w.Cmp(best) > 0 {
			best = w
		}
	}
	if !anyNew || best.Cmp(threshold) >= 0 {
		return nil
	}
	return fmt.Errorf("%w: the branch reaches work %#x, below %#x", ErrLowWork, best, threshold)
}

// PresyncWork counts the work of batch, headers held outside the index while
// their branch proves enough work to be stored (Bitcoin Core's headers
// presync; see ErrLowWork). batch continues headers counted before, the last
// of which ends with cumulative work prevWork. It returns the work at the end
// of batch and whether that reaches HeadersWorkThreshold; counting stops at
// the first header that does not link to the one before it or lacks its
// proof of work. Only batch is hashed, so a presync costs in proportion to
// the headers received: handing the whole branch held so far to
// AcceptHeaders with each batch would cost their square, and a peer can
// restart a presync at will.
func (c *Chain) PresyncWork(prevWork *big.Int, batch []chain.Header) (*big.Int, bool) {
	c.mu.RLock()
	threshold := c.headersWorkThresholdLocked()
	c.mu.RUnlock()
	work := new(big.Int).Set(prevWork)
	var prev chain.Hash
	for i := range batch {
		h := &batch[i]
		if (i > 0 && h.PrevBlock != prev) || chain.CheckProofOfWork(h, c.params) != nil {
			break
		}
		work.Add(work, pow.WorkFromBits(h.Bits))
		prev = h.Hash()
	}
	return work, work.Cmp(threshold) >= 0
}

// lowWorkBlock reports whether a block that nobody asked for, with header h
// on parent, has too little work to store: less than the tip's or than the
// network's minimum. Such a block cannot become the tip, so its body is
// never checked beyond sanity; storing it would let anyone grow the disk
// with cheap side branches. Bitcoin Core's AcceptBlock drops such a block
// unless it was requested.
func (c *Chain) lowWorkBlock(h *chain.Header, parent *blockNode) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	w := new(big.Int).Add(parent.chainWork, pow.WorkFromBits(h.Bits))
	return w.Cmp(c.tip().chainWork) < 0 || w.Cmp(c.params.MinChainWork) < 0
}

// ProcessUnrequestedBlock is ProcessBlock for a block a peer sent without
// being asked (gossip): one whose branch has less work than the tip is
// dropped, not stored, and the result's LowWork says so. Blocks the node
// asked for (sync), mined or submitted over RPC go to ProcessBlock.
func (c *Chain) ProcessUnrequestedBlock(b *chain.Block) (ProcessResult, error) {
	c.processMu.Lock()
	defer c.processMu.Unlock()
	out, events := c.processBlocks([]*chain.Block{b}, false)
	c.deliver(events)
	return out[0].ProcessResult, out[0].Err
}
