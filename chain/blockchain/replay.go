package blockchain

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// replayBlocks brings the UTXO set from the block its stored state belongs to
// up to the tip, as Bitcoin Core's ReplayBlocks: blocks are connected (their
// undo data and indexes written) before the state they change is flushed, so
// after a crash the stored set may be behind the tip, on another branch, or
// half way through a flush. Blocks are applied without their rules (they were
// checked when first connected) and every change overwrites, so a replay that
// is itself interrupted is simply done again at the next start. The result is
// flushed before the chain is used.
func (c *Chain) replayBlocks() error {
	var best, heads []byte
	err := c.db.View(func(txn *badger.Txn) (err error) {
		if best, err = getValue(txn, key(prefixMeta, []byte(metaUtxoBest))); err != nil {
			return err
		}
		heads, err = getValue(txn, key(prefixMeta, []byte(metaUtxoHeads)))
		return err
	})
	if err != nil {
		return fmt.Errorf("read chain state marker: %w", err)
	}
	tip := c.tip()
	if best == nil && heads == nil {
		// A store from before the cache wrote its UTXO set with each block.
		c.utxos.best, c.utxos.diskBest = tip.hash, tip.hash
		return c.utxos.flushSync()
	}
	from := best
	var steps []chain.Hash
	if heads != nil {
		// A flush from heads[32:] to heads[:32] was cut short.
		if len(heads) != 2*chain.HashSize {
			return fmt.Errorf("chain state marker of %d bytes is damaged", len(heads))
		}
		from = heads[chain.HashSize:]
		steps = append(steps, chain.Hash(heads[:chain.HashSize]))
	}
	if len(from) != chain.HashSize {
		return fmt.Errorf("chain state marker of %d bytes is damaged", len(from))
	}
	steps = append(steps, tip.hash)
	at := c.index[chain.Hash(from)]
	if at == nil {
		return fmt.Errorf("the stored UTXO set belongs to block %x, which is not in the block index", from)
	}
	c.utxos.best, c.utxos.diskBest = at.hash, at.hash
	if heads == nil && at == tip {
		return nil
	}
	start := time.Now()
	var undone, redone int
	for _, hash := range steps {
		to := c.index[hash]
		if to == nil {
			return fmt.Errorf("replay: block %s is not in the block index", hash)
		}
		fork := forkPoint(at, to)
		for n := at; n != fork; n = n.parent {
			b, err := c.loadBlock(n.hash)
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			undo, err := c.loadUndo(n, b)
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			c.utxos.disconnect(b, b.TxIDs(), undo)
			undone++
		}
		path := make([]*blockNode, 0, to.height-fork.height)
		for n := to; n != fork; n = n.parent {
			path = append(path, n)
		}
		for i := len(path) - 1; i >= 0; i-- {
			b, err := c.loadBlock(path[i].hash)
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			c.utxos.connect(b, b.TxIDs(), path[i].height, true)
			if redone++; redone == (len(path)+1)/2 && testHookMidReplay != nil {
				testHookMidReplay()
			}
		}
		// Each step is flushed on its own: the disk then belongs to the cut
		// flush's block before the replay goes on from there. Flushed in one
		// go, a crash during it would leave a marker from the old block
		// straight to the tip, and the cut flush's writes of a block the tip
		// no longer descends from (outputs of an abandoned branch) would
		// never be undone.
		c.utxos.best = to.hash
		if err := c.utxos.flushSync(); err != nil {
			return err
		}
		at = to
	}
	c.log.Info("replayed blocks connected after the last flush of the chain state",
		"disconnected", undone, "connected", redone, "tip", tip.hash, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// maybeFlush starts a flush of the UTXO cache when it passed half its bound
// or when the last flush is a few minutes old, and prunes when the stored
// blocks passed the target. The caller holds processMu.
func (c *Chain) maybeFlush() error {
	if err := c.maybePrune(); err != nil {
		return err
	}
	if !c.utxos.needsFlush(time.Now()) {
		return nil
	}
	start := time.Now()
	if err := c.utxos.flush(); err != nil {
		return err
	}
	c.log.Debug("chain state flush started", "best", c.utxos.best, "waited", time.Since(start).Round(time.Millisecond))
	return nil
}

// FlushChainState writes the cached UTXO set to the store, so a restart needs
// no replay. The chain flushes on its own when the cache is full, every few
// minutes and at Close.
func (c *Chain) FlushChainState() error {
	c.processMu.Lock()
	defer c.processMu.Unlock()
	return c.utxos.flushSync()
}
