package web

import (
	"sync"
	"time"
)

// maxCacheEntries bounds each of the cache's maps; a full map is emptied,
// which costs a few recomputations and never grows memory.
const maxCacheEntries = 1024

// maxCacheCost bounds what the entries hold, in the units their builders
// count (an address's outputs and transactions, about 50 bytes each): about
// 25 MB. A value that alone costs more is not kept.
const maxCacheCost = 500_000

// cache keeps what pages and REST answers computed, per tip: every entry
// dies with the tip it was computed at (invalidate runs on each chain event),
// and entries that also depend on the mempool live only for their ttl.
// Facts that no tip change alters (a block's summary, by hash) live in
// blocks until the map is full.
type cache struct {
	mu      sync.Mutex
	tipGen  uint64
	entries map[string]cacheEntry
	cost    int // of the entries together
	blocks  map[[32]byte]blockSummary
}

type cacheEntry struct {
	expires time.Time // zero: until the tip changes
	value   any
	cost    int
}

func newCache() *cache {
	return &cache{entries: make(map[string]cacheEntry), blocks: make(map[[32]byte]blockSummary)}
}

// invalidate forgets everything computed at the previous tip.
func (c *cache) invalidate() {
	c.mu.Lock()
	c.tipGen++
	clear(c.entries)
	c.cost = 0
	c.mu.Unlock()
}

// cached returns the value kept under key, or builds and keeps it: until the
// tip changes, and with ttl > 0 for at most ttl. Two requests that miss at
// once both build; the cache bounds work per tip, not per instant.
func cached[T any](c *cache, key string, ttl time.Duration, build func() (T, error)) (T, error) {
	return cachedCost(c, key, ttl, func() (T, int, error) {
		v, err := build()
		return v, 1, err
	})
}

// cachedCost is cached for values whose builder says what they cost to keep.
func cachedCost[T any](c *cache, key string, ttl time.Duration, build func() (T, int, error)) (T, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	gen := c.tipGen
	c.mu.Unlock()
	if ok && (e.expires.IsZero() || now.Before(e.expires)) {
		return e.value.(T), nil
	}
	v, cost, err := build()
	if err != nil {
		return v, err
	}
	e = cacheEntry{value: v, cost: cost}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	c.mu.Lock()
	// Built from a tip that has since changed, or too big: do not keep it.
	if c.tipGen == gen && cost <= maxCacheCost {
		if len(c.entries) >= maxCacheEntries || c.cost+cost > maxCacheCost {
			clear(c.entries)
			c.cost = 0
		}
		if old, ok := c.entries[key]; ok {
			c.cost -= old.cost
		}
		c.entries[key] = e
		c.cost += cost
	}
	c.mu.Unlock()
	return v, nil
}

func (c *cache) blockSummary(hash [32]byte) (blockSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blocks[hash]
	return b, ok
}

func (c *cache) keepBlockSummary(b blockSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.blocks) >= maxCacheEntries {
		clear(c.blocks)
	}
	c.blocks[b.Hash] = b
}
