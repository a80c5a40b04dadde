package blockchain

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// ErrNotFound is returned by lookups of blocks and transactions the node does not have.
var ErrNotFound = errors.New("not found")

// Best returns the state of the main chain's tip.
func (c *Chain) Best() BestState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	tip := c.tip()
	return BestState{
		Hash:       tip.hash,
		Height:     tip.height,
		Bits:       tip.header.Bits,
		Time:       int64(tip.header.Time),
		MedianTime: tip.medianTimePast(),
		ChainWork:  new(big.Int).Set(tip.chainWork),
		NextBits:   tip.nextBits(c.params),
	}
}

// BestHeaderHeight is the height of the valid header with the most work, which
// is above the tip while blocks are still being fetched.
func (c *Chain) BestHeaderHeight() int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bestHeader.height
}

// BlockInfo is what the index knows of a block.
type BlockInfo struct {
	Header     chain.Header
	Hash       chain.Hash
	Height     int32
	ChainWork  *big.Int
	MedianTime int64
	MainChain  bool
	HaveData   bool
	// Pruned: the body was stored and then pruned.
	Pruned  bool
	Invalid bool
	// Next is the main-chain child, zero if none.
	Next chain.Hash
}

// BlockInfo returns what the index knows of the block hash.
func (c *Chain) BlockInfo(hash chain.Hash) (BlockInfo, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.index[hash]
	if n == nil {
		return BlockInfo{}, fmt.Errorf("block %s: %w", hash, ErrNotFound)
	}
	info := BlockInfo{
		Header: n.header, Hash: n.hash, Height: n.height, ChainWork: new(big.Int).Set(n.chainWork),
		MedianTime: n.medianTimePast(), MainChain: c.isMain(n),
		HaveData: n.status&statusHaveData != 0 && n.status&statusPruned == 0,
		Pruned:   n.status&statusPruned != 0, Invalid: n.status.invalid(),
	}
	if info.MainChain && int(n.height)+1 < len(c.mainChain) {
		info.Next = c.mainChain[n.height+1].hash
	}
	return info, nil
}

// HaveBlock reports whether the block is stored or waiting as an orphan.
func (c *Chain) HaveBlock(hash chain.Hash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.index[hash]
	return (n != nil && n.status&statusHaveData != 0 && n.status&statusPruned == 0) || c.orphans.has(hash)
}

// IsKnownInvalid reports whether the block is known to break a rule.
func (c *Chain) IsKnownInvalid(hash chain.Hash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.index[hash]
	return n != nil && n.status.invalid()
}

// OrphanRoot returns the first missing ancestor of an orphan block: what to ask
// a peer for.
func (c *Chain) OrphanRoot(hash chain.Hash) chain.Hash {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.orphans.root(hash)
}

// BlockHashByHeight returns the hash of the main-chain block at height.
func (c *Chain) BlockHashByHeight(height int32) (chain.Hash, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if height < 0 || int(height) >= len(c.mainChain) {
		return chain.Hash{}, fmt.Errorf("block at height %d: %w", height, ErrNotFound)
	}
	return c.mainChain[height].hash, nil
}

// FirstBlockAtTime returns the height of the first main-chain block that, or
// an ancestor of which, has a time of at least t (Core's FindEarliestAtLeast),
// and false if no block has.
func (c *Chain) FirstBlockAtTime(t int64) (int32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h := sort.Search(len(c.mainChain), func(i int) bool { return int64(c.mainChain[i].timeMax) >= t })
	return int32(h), h < len(c.mainChain)
}

// BlockByHash returns a stored block; ErrPruned if its body was pruned.
func (c *Chain) BlockByHash(hash chain.Hash) (*chain.Block, error) {
	if err := c.checkPruned(hash); err != nil {
		return nil, err
	}
	b, err := c.loadBlock(hash)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return b, nil
}

// SpentOutputs returns the outputs the inputs of b spend, in input order, the
// coinbase's none: the undo data of a stored block that was connected once,
// from which Core's getblock and getrawtransaction show prevouts and fees
// without -txindex. An error matching ErrNotFound for a block never
// connected, ErrPruned for one pruned.
func (c *Chain) SpentOutputs(b *chain.Block) ([]chain.UtxoEntry, error) {
	hash := b.Hash()
	if err := c.checkPruned(hash); err != nil {
		return nil, err
	}
	c.mu.RLock()
	n := c.index[hash]
	connected := n != nil && n.status&statusValid != 0
	c.mu.RUnlock()
	if !connected {
		return nil, fmt.Errorf("undo data of block %s: %w", hash, ErrNotFound)
	}
	return c.loadUndo(n, b)
}

// RawBlock returns the stored encoding of a block; ErrPruned if its body was
// pruned.
func (c *Chain) RawBlock(hash chain.Hash) ([]byte, error) {
	if err := c.checkPruned(hash); err != nil {
		return nil, err
	}
	var raw []byte
	err := c.db.View(func(txn *badger.Txn) (err error) {
		raw, err = getValue(txn, key(prefixBlock, hash[:]))
		return err
	})
	if err == nil && raw == nil {
		err = fmt.Errorf("block %s: %w", hash, ErrNotFound)
	}
	return raw, err
}

// BlockLocator lists main-chain hashes from the tip back to genesis, dense at
// first and then doubling the step, as Bitcoin's block locator.
func (c *Chain) BlockLocator() []chain.Hash {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var loc []chain.Hash
	step := int32(1)
	for h := c.tip().height; ; h -= step {
		if h <= 0 {
			return append(loc, c.mainChain[0].hash)
		}
		loc = append(loc, c.mainChain[h].hash)
		if len(loc) >= 10 {
			step *= 2
		}
	}
}

// HeadersAfter returns up to max main-chain headers following the first locator
// hash found on the main chain (genesis if none is), stopping after stop.
func (c *Chain) HeadersAfter(locator []chain.Hash, stop chain.Hash, max int) []chain.Header {
	c.mu.RLock()
	defer c.mu.RUnlock()
	start := int32(0)
	for _, h := range locator {
		if n := c.index[h]; n != nil && c.isMain(n) {
			start = n.height
			break
		}
	}
	var out []chain.Header
	for h := start + 1; int(h) < len(c.mainChain) && len(out) < max; h++ {
		n := c.mainChain[h]
		out = append(out, n.header)
		if n.hash == stop {
			break
		}
	}
	return out
}

// LookupUtxo reads an unspent output of the main chain's tip; nil if missing or
// spent. Storage errors are logged and read as missing; use FetchUtxo to see them.
func (c *Chain) LookupUtxo(op chain.OutPoint) *chain.UtxoEntry {
	e, err := c.FetchUtxo(op)
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.log.Error("read utxo", "outpoint", op, "err", err)
	}
	return e
}

// FetchUtxo reads an unspent output of the main chain's tip.
func (c *Chain) FetchUtxo(op chain.OutPoint) (*chain.UtxoEntry, error) {
	e, err := c.utxos.lookup(op)
	if err == nil && e == nil {
		err = fmt.Errorf("utxo %s: %w", op, ErrNotFound)
	}
	return e, err
}

// UtxoStats summarises the UTXO set at the tip.
type UtxoStats struct {
	Height  int32
	Best    chain.Hash
	TxOuts  int64
	Total   uint64
	SetHash chain.Hash // SHA-256 over every outpoint and entry, in key order
}

// UtxoStats walks the whole UTXO set. Nodes at the same tip get the same hash.
func (c *Chain) UtxoStats() (UtxoStats, error) {
	c.processMu.Lock()
	defer c.processMu.Unlock()
	// The stored set is walked, so it must hold the cache's changes.
	if err := c.utxos.flushSync(); err != nil {
		return UtxoStats{}, err
	}
	best := c.Best()
	st := UtxoStats{Height: best.Height, Best: best.Hash}
	h := sha256.New()
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixUtxo}, PrefetchValues: true, PrefetchSize: 1000})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			e, err := decodeUtxo(v)
			if err != nil {
				return err
			}
			h.Write(it.Item().Key()[1:])
			h.Write(v)
			st.TxOuts++
			st.Total += e.Value
		}
		return nil
	})
	h.Sum(st.SetHash[:0])
	return st, err
}

// ChainTip is the end of a branch, as getchaintips shows it.
type ChainTip struct {
	Hash      chain.Hash
	Height    int32
	BranchLen int32
	Status    string // active, valid-fork, valid-headers, headers-only, invalid
}

// ChainTips lists the tips of every known branch.
func (c *Chain) ChainTips() []ChainTip {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var tips []ChainTip
	for _, n := range c.index {
		if len(n.children) > 0 {
			continue
		}
		fork := forkPoint(n, c.tip())
		t := ChainTip{Hash: n.hash, Height: n.height, BranchLen: n.height - fork.height}
		switch {
		case c.isMain(n):
			t.Status = "active"
		case n.status.invalid():
			t.Status = "invalid"
		case n.status&statusValid != 0:
			t.Status = "valid-fork"
		case n.dataChain:
			t.Status = "valid-headers"
		default:
			t.Status = "headers-only"
		}
		tips = append(tips, t)
	}
	return tips
}

// verifyRecent checks the last depth blocks of the main chain: stored, decodable,
// hashing to their index entries, with undo data matching their inputs.
func (c *Chain) verifyRecent(depth int) error {
	for i := len(c.mainChain) - 1; i >= 0 && i >= len(c.mainChain)-depth; i-- {
		n := c.mainChain[i]
		b, err := c.loadBlock(n.hash)
		if err != nil {
			return err
		}
		if b.Hash() != n.hash {
			return fmt.Errorf("stored block at height %d hashes to %s, index says %s", n.height, b.Hash(), n.hash)
		}
		if n.height == 0 {
			continue
		}
		var inputs int
		for _, tx := range b.Txs[1:] {
			inputs += len(tx.Inputs)
		}
		err = c.db.View(func(txn *badger.Txn) error {
			raw, err := getValue(txn, key(prefixUndo, n.hash[:]))
			if err != nil {
				return err
			}
			undo, err := decodeUndo(raw)
			if err != nil {
				return err
			}
			if len(undo) != inputs {
				return fmt.Errorf("undo data of block %s has %d entries for %d inputs", n.hash, len(undo), inputs)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// VerifyUtxoSet rebuilds the UTXO set in memory by replaying every main-chain
// block from genesis and compares its hash with the stored set's. It is slow (it
// reads the whole chain) and meant for checks after a crash and for tests.
func (c *Chain) VerifyUtxoSet() error {
	c.processMu.Lock()
	tipHeight := c.Best().Height
	c.processMu.Unlock()
	set := make(map[chain.OutPoint]chain.UtxoEntry)
	for h := int32(1); h <= tipHeight; h++ {
		hash, err := c.BlockHashByHeight(h)
		if err != nil {
			return err
		}
		b, err := c.loadBlock(hash)
		if err != nil {
			return err
		}
		for i, tx := range b.Txs {
			if i > 0 {
				for _, in := range tx.Inputs {
					if _, ok := set[in.PrevOut]; !ok {
						return fmt.Errorf("block %s at height %d spends missing output %s", hash, h, in.PrevOut)
					}
					delete(set, in.PrevOut)
				}
			}
			id := tx.TxID()
			for idx, out := range tx.Outputs {
				set[chain.OutPoint{TxID: id, Index: uint32(idx)}] = chain.UtxoEntry{Value: out.Value, PubKeyHash: out.PubKeyHash, Height: h, Coinbase: i == 0}
			}
		}
	}
	keys := make([][]byte, 0, len(set))
	byKey := make(map[string]chain.UtxoEntry, len(set))
	for op, e := range set {
		k := outpointBytes(op)
		keys = append(keys, k)
		byKey[string(k)] = e
	}
	slices.SortFunc(keys, bytes.Compare)
	h := sha256.New()
	for _, k := range keys {
		e := byKey[string(k)]
		h.Write(k)
		h.Write(encodeUtxo(&e))
	}
	var want chain.Hash
	h.Sum(want[:0])
	st, err := c.UtxoStats()
	if err != nil {
		return err
	}
	if st.Height != tipHeight || st.SetHash != want {
		return fmt.Errorf("stored UTXO set (height %d, %d outputs, hash %s) differs from the one rebuilt from blocks (height %d, %d outputs, hash %s)",
			st.Height, st.TxOuts, st.SetHash, tipHeight, len(set), want)
	}
	return nil
}
