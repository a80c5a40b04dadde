package chain

// Hooks for the external tests of package chain.

// SetTestHooks sets functions called half way through a UTXO cache flush and
// half way through a replay; nil removes them.
func SetTestHooks(midFlush, midReplay func()) {
	testHookMidFlush, testHookMidReplay = midFlush, midReplay
}

// Abandon closes the store without flushing the UTXO cache, leaving it as a
// crash would.
func (c *Chain) Abandon() error { return c.db.Close() }

// CacheEntryBytes is the memory the cache counts per entry.
const CacheEntryBytes = cacheEntryBytes

// NewCacheMapForTest and CacheMapAdd build the cache's map alone, to weigh it.
func NewCacheMapForTest() map[OutPoint]cacheEntry { return make(map[OutPoint]cacheEntry) }

func CacheMapAdd(m map[OutPoint]cacheEntry, op OutPoint) { m[op] = cacheEntry{flags: cacheDirty} }
