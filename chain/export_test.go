package chain

import "testing"

// highS is chaintest.HighS. This package's own tests cannot import chaintest,
// which imports chain, so the external test package hands it over
// (chaintest_test.go) before any test runs.
var highS func(t testing.TB, der []byte) []byte

// UseTestHelpers gives this package's tests the helpers of chaintest.
func UseTestHelpers(highSignature func(t testing.TB, der []byte) []byte) {
	highS = highSignature
}

// Hooks for the external tests of package chain.

// SetTestHooks sets functions called half way through a UTXO cache flush and
// half way through a replay; nil removes them.
func SetTestHooks(midFlush, midReplay func()) {
	testHookMidFlush, testHookMidReplay = nil, midReplay
	if midFlush != nil {
		testHookMidFlush = func() error { midFlush(); return nil }
	}
}

// SetFlushStopHook sets a function called half way through a UTXO cache
// flush, whose error stops the flush there as a crash would; nil removes it.
func SetFlushStopHook(stop func() error) { testHookMidFlush = stop }

// SetReindexHook sets a function called half way through a reindex, once the
// chain state's records are deleted; an error it returns stops the reindex
// there. nil removes it.
func SetReindexHook(hook func() error) { testHookMidReindex = hook }

// Abandon closes the store without flushing the UTXO cache, leaving it as a
// crash would.
func (c *Chain) Abandon() error { return c.db.Close() }

// CacheEntryBytes is the memory the cache counts per entry.
const CacheEntryBytes = cacheEntryBytes

// NewCacheMapForTest and CacheMapAdd build the cache's map alone, to weigh it.
func NewCacheMapForTest() map[OutPoint]cacheEntry { return make(map[OutPoint]cacheEntry) }

func CacheMapAdd(m map[OutPoint]cacheEntry, op OutPoint) { m[op] = cacheEntry{flags: cacheDirty} }
