package web

import (
	"sync"
	"time"
)

// maxCacheEntries bounds each of the cache's maps; a full map is emptied,
// which costs a few recomputations and never grows memory.
const maxCacheEntries = 1024

// cache keeps what pages and REST answers computed, per tip: every entry
// dies with the tip it was computed at (invalidate runs on each chain event),
// and entries that also depend on the mempool live only for their ttl.
// Facts that no tip change alters (a block's summary, by hash) live in
// blocks until the map is full.
type cache struct {
	mu      sync.Mutex
	tipGen  uint64
	entries map[string]cacheEntry
	blocks  map[[32]byte]blockSummary
}

type cacheEntry struct {
	tipGen  uint64
	expires time.Time // zero: until the tip changes
	value   any
}

func newCache() *cache {
	return &cache{entries: make(map[string]cacheEntry), blocks: make(map[[32]byte]blockSummary)}
}

// invalidate forgets everything computed at the previous tip.
func (c *cache) invalidate() {
	c.mu.Lock()
	c.tipGen++
	clear(c.entries)
	c.mu.Unlock()
}

// cached returns the value kept under key, or builds and keeps it: until the
// tip changes, and with ttl > 0 for at most ttl. Two requests that miss at
// once both build; the cache bounds work per tip, not per instant.
func cached[T any](c *cache, key string, ttl time.Duration, build func() (T, error)) (T, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	gen := c.tipGen
	c.mu.Unlock()
	if ok && (e.expires.IsZero() || now.Before(e.expires)) {
		return e.value.(T), nil
	}
	v, err := build()
	if err != nil {
		return v, err
	}
	e = cacheEntry{tipGen: gen, value: v}
	if ttl > 0 {
		e.expires = now.Add(ttl)
	}
	c.mu.Lock()
	// Built from a tip that has since changed: do not keep it.
	if c.tipGen == gen {
		if len(c.entries) >= maxCacheEntries {
			clear(c.entries)
		}
		c.entries[key] = e
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
