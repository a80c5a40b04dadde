package blockchain

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// Pruning deletes the bodies and undo data of old blocks, as Bitcoin Core's
// -prune: their headers stay (the node still serves headers and knows the
// chain's work), the last MinBlocksToKeep blocks of the main chain always
// stay (so reorganisations that deep still find their undo data), and
// blocks an index has not applied yet stay until it has.

// MinBlocksToKeep is how many blocks at the tip are never pruned (Core's
// MIN_BLOCKS_TO_KEEP).
const MinBlocksToKeep = 288

// PruneManual, as Config.PruneTargetBytes, allows pruning only through
// PruneBlockchain (Core's -prune=1).
const PruneManual = 1

// Errors of pruning.
var (
	// ErrPruned is returned for a block whose body was pruned.
	ErrPruned = errors.New("block pruned")
	// ErrNotPruneMode: PruneBlockchain on a chain opened without
	// PruneTargetBytes.
	ErrNotPruneMode = errors.New("cannot prune blocks because node is not in prune mode")
	// ErrTooShortToPrune: PruneBlockchain below Params.PruneAfterHeight.
	ErrTooShortToPrune = errors.New("blockchain is too short for pruning")
	// ErrForkBeyondPrune is returned for a block, stored, whose branch
	// forks from the main chain below the pruned blocks: the node cannot
	// take the main chain back that far, so it stays on its tip and does
	// not try that branch again.
	ErrForkBeyondPrune = errors.New("branch forks below the pruned blocks")
)

// pruneState is the chain's pruning; the writer holding processMu changes it.
type pruneState struct {
	// target is PruneTargetBytes: 0 off, PruneManual, or the automatic target.
	target int64
	// stored is the size of the stored block bodies and undo data.
	stored atomic.Int64
	// height is the lowest main-chain height whose body may still be stored:
	// one more than the last pruned.
	height atomic.Int32
	// everPruned: some block was pruned, now or before.
	everPruned atomic.Bool
}

// PruneState is what getblockchaininfo shows of pruning.
type PruneState struct {
	Enabled   bool
	Automatic bool
	// TargetBytes is the automatic target, 0 if none.
	TargetBytes int64
	// Height is the lowest height whose block is stored, if any was pruned.
	Height int32
	// Pruned: some block was pruned.
	Pruned bool
}

// PruneState returns the chain's pruning settings and progress.
func (c *Chain) PruneState() PruneState {
	st := PruneState{Enabled: c.prune.target != 0, Height: c.prune.height.Load(), Pruned: c.prune.everPruned.Load()}
	if c.prune.target > PruneManual {
		st.Automatic, st.TargetBytes = true, c.prune.target
	}
	return st
}

// loadPruneState measures the stored bodies and undo data and finds how far
// the main chain was pruned.
func (c *Chain) loadPruneState(target int64) error {
	c.prune.target = target
	var stored int64
	err := c.db.View(func(txn *badger.Txn) error {
		for _, prefix := range []byte{prefixBlock, prefixUndo} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
			for it.Rewind(); it.Valid(); it.Next() {
				stored += it.Item().ValueSize()
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("measure stored blocks: %w", err)
	}
	c.prune.stored.Store(stored)
	for _, n := range c.index {
		if n.status&statusPruned != 0 {
			c.prune.everPruned.Store(true)
			break
		}
	}
	if !c.prune.everPruned.Load() {
		return nil
	}
	h := int32(1) // genesis is never pruned
	for int(h) < len(c.mainChain) && c.mainChain[h].status&statusPruned != 0 {
		h++
	}
	c.prune.height.Store(h)
	return nil
}

// maybePrune prunes old blocks while the stored size is over the automatic
// target, once the tip is past Params.PruneAfterHeight. The caller holds
// processMu.
func (c *Chain) maybePrune() error {
	if c.prune.target <= PruneManual || c.prune.stored.Load() <= c.prune.target || c.tip().height <= c.params.PruneAfterHeight {
		return nil
	}
	_, err := c.pruneTo(c.tip().height-MinBlocksToKeep, true)
	return err
}

// PruneBlockchain prunes the blocks up to height (Core's pruneblockchain),
// keeping the last MinBlocksToKeep, and returns the height of the last block
// pruned (-1 if none). It fails with ErrNotPruneMode, or ErrTooShortToPrune
// while the tip is below Params.PruneAfterHeight.
func (c *Chain) PruneBlockchain(height int32) (int32, error) {
	c.processMu.Lock()
	defer c.processMu.Unlock()
	if c.prune.target == 0 {
		return 0, ErrNotPruneMode
	}
	if tip := c.tip().height; tip < c.params.PruneAfterHeight {
		return 0, fmt.Errorf("%w: height %d, pruning starts at %d", ErrTooShortToPrune, tip, c.params.PruneAfterHeight)
	}
	return c.pruneTo(min(height, c.tip().height-MinBlocksToKeep), false)
}

// pruneTo deletes the bodies and undo data of blocks at heights up to limit,
// lowest first, main chain and side branches, stopping early when toTarget
// and the stored size is an eighth below the target (so that pruning, and the
// flush it needs, come once per eighth of the target of new blocks rather
// than at every block), and never above what an index still needs: every
// block above where its last block meets the main chain, since an index left
// on a losing branch takes that branch back before it applies the winner's.
// The UTXO cache is flushed first: a replay needs the blocks above the stored
// state.
func (c *Chain) pruneTo(limit int32, toTarget bool) (int32, error) {
	for _, f := range c.indexes {
		limit = min(limit, forkPoint(f.bestNode(), c.tip()).height)
	}
	from := c.prune.height.Load()
	if limit < max(from, 1) {
		return from - 1, nil
	}
	if err := c.utxos.flushSync(); err != nil {
		return 0, err
	}
	byHeight := make(map[int32][]*blockNode)
	c.mu.RLock()
	for _, n := range c.index {
		if n.height >= from && n.height <= limit && n.height > 0 && n.status&statusHaveData != 0 && n.status&statusPruned == 0 {
			byHeight[n.height] = append(byHeight[n.height], n)
		}
	}
	c.mu.RUnlock()
	goal := c.prune.target - c.prune.target/8
	h := max(from, 1)
	for ; h <= limit && (!toTarget || c.prune.stored.Load() > goal); h++ {
		for _, n := range byHeight[h] {
			if err := c.pruneBlock(n); err != nil {
				return h - 1, err
			}
		}
		c.prune.height.Store(h + 1)
	}
	c.log.Info("pruned blocks", "below", h, "stored_mib", c.prune.stored.Load()>>20)
	return h - 1, nil
}

// pruneBlock deletes one block's body and undo data and marks its header.
func (c *Chain) pruneBlock(n *blockNode) error {
	var freed int64
	c.mu.RLock()
	rec := *n
	c.mu.RUnlock()
	rec.status |= statusPruned
	err := c.db.Update(func(txn *badger.Txn) error {
		for _, k := range [][]byte{key(prefixBlock, n.hash[:]), key(prefixUndo, n.hash[:])} {
			item, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			freed += item.ValueSize()
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(key(prefixHeader, n.hash[:]), encodeHeaderRecord(&rec))
	})
	if err != nil {
		return fmt.Errorf("prune block %s: %w", n.hash, err)
	}
	c.mu.Lock()
	n.status |= statusPruned
	c.mu.Unlock()
	c.prune.stored.Add(-freed)
	c.prune.everPruned.Store(true)
	return nil
}

// checkPruned returns an error wrapping ErrPruned and ErrNotFound if the
// block's body was pruned.
func (c *Chain) checkPruned(hash chain.Hash) error {
	c.mu.RLock()
	n := c.index[hash]
	c.mu.RUnlock()
	if n != nil && n.status&statusPruned != 0 {
		return fmt.Errorf("block %s: %w (%w)", hash, ErrPruned, ErrNotFound)
	}
	return nil
}

// unreachableRoot returns the first block of best's branch above fork if
// connecting the branch needs data that was pruned, else nil. Only the
// main-chain blocks to disconnect need looking at: the undo data they need
// goes with pruning, and a pruned block of the branch itself lies at or
// below a pruned height of the main chain, above the fork. The caller holds
// processMu, under which statuses change.
func unreachableRoot(tip, best, fork *blockNode) *blockNode {
	for n := tip; n != fork; n = n.parent {
		if n.status&statusPruned != 0 {
			return best.ancestor(fork.height + 1)
		}
	}
	return nil
}

// refuseBeyondPrune marks root and its descendants beyondPrune, which drops
// them from the candidate tips (so the branch is not tried again at every
// block), and says so. Nothing was disconnected yet: the chain stays on its
// tip.
func (c *Chain) refuseBeyondPrune(root, best, fork *blockNode) {
	c.mu.Lock()
	for queue := []*blockNode{root}; len(queue) > 0; queue = queue[1:] {
		n := queue[0]
		n.beyondPrune = true
		delete(c.candidates, n)
		queue = append(queue, n.children...)
	}
	c.mu.Unlock()
	c.log.Warn("not reorganising to a branch with more work: it forks below the pruned blocks, whose data a reorganisation needs; staying on the current tip",
		"branch_tip", best.hash, "branch_height", best.height, "fork_height", fork.height,
		"pruned_below", c.prune.height.Load(), "tip_height", c.tip().height)
}

// beyondPruneError is the error for n, a block on a branch refuseBeyondPrune
// marked.
func (c *Chain) beyondPruneError(n *blockNode) error {
	c.mu.RLock()
	fork := forkPoint(n, c.tip())
	c.mu.RUnlock()
	return fmt.Errorf("block %s at height %d: %w (fork at height %d, blocks below %d pruned)",
		n.hash, n.height, ErrForkBeyondPrune, fork.height, c.prune.height.Load())
}
