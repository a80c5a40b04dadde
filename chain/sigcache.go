package chain

import (
	"crypto/sha256"
	"sync"
)

// SigCache remembers signatures already verified, so a block whose transactions
// were checked when they entered the mempool connects without verifying them
// again. An entry binds the signed message, the key and the exact signature
// bytes. It is bounded; when full, an arbitrary entry makes room (map iteration
// order is random, so an attacker cannot choose what is evicted).
type SigCache struct {
	mu      sync.RWMutex
	entries map[Hash]struct{}
	max     int
}

// NewSigCache returns a cache of at most max entries; max 0 disables it.
func NewSigCache(max int) *SigCache {
	return &SigCache{entries: make(map[Hash]struct{}, min(max, 1<<16)), max: max}
}

func sigCacheKey(msg *Hash, pub, sig []byte) Hash {
	h := sha256.New()
	h.Write(msg[:])
	// The key's length goes first so that no split of the same bytes into key
	// and signature gives the same cache key.
	h.Write([]byte{byte(len(pub))})
	h.Write(pub)
	h.Write(sig)
	var k Hash
	h.Sum(k[:0])
	return k
}

// contains reports whether the signature of key over msg is known to be valid.
func (c *SigCache) contains(key Hash) bool {
	if c == nil {
		return false
	}
	c.mu.RLock()
	_, ok := c.entries[key]
	c.mu.RUnlock()
	return ok
}

func (c *SigCache) add(key Hash) {
	if c == nil || c.max == 0 {
		return
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = struct{}{}
	c.mu.Unlock()
}

// Len is the number of cached signatures.
func (c *SigCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
