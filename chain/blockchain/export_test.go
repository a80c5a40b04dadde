package blockchain

import (
	"bytes"
	"errors"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// Hooks for the external tests of package blockchain.

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

// SetIndexSyncWait sets how long a query waits for an index near the tip;
// the returned function restores it.
func SetIndexSyncWait(d time.Duration) (restore func()) {
	old := indexSyncWait
	indexSyncWait = d
	return func() { indexSyncWait = old }
}

// SetIndexGatherDelay sets how long an index at the tip waits for more
// blocks while the chain catches up; the returned function restores it.
// Call it before Open and restore it after Close.
func SetIndexGatherDelay(d time.Duration) (restore func()) {
	old := indexGatherDelay
	indexGatherDelay = d
	return func() { indexGatherDelay = old }
}

// IndexNearTip is how many blocks behind the tip an index counts as synced.
const IndexNearTip = indexNearTip

// Abandon stops the indexes where they are and closes the stores without
// flushing the UTXO cache, leaving them as a crash would. A flush already
// under way ends first: Badger must not be closed under its writes (a kill
// during a flush is TestCrashRecovery's).
func (c *Chain) Abandon() error {
	err := c.closeIndexes()
	c.processMu.Lock()
	defer c.processMu.Unlock()
	c.utxos.waitFlushed()
	return errors.Join(err, c.db.Close())
}

// CacheEntryBytes is the memory the cache counts per entry.
const CacheEntryBytes = cacheEntryBytes

// NewCacheMapForTest and CacheMapAdd build the cache's map alone, to weigh it.
func NewCacheMapForTest() map[chain.OutPoint]cacheEntry { return make(map[chain.OutPoint]cacheEntry) }

func CacheMapAdd(m map[chain.OutPoint]cacheEntry, op chain.OutPoint) {
	m[op] = cacheEntry{flags: cacheDirty}
}

// SetCommitHook sets a function that commits, in place of Badger, the
// transaction that stores a block (what is "block") or connects it
// ("connect"); nil restores Badger's commit.
func SetCommitHook(commit func(what string, txn *badger.Txn) error) { testHookCommit = commit }

// SetFlushBatchEntries sets how many entries a flush writes in one
// transaction and returns the number it replaces.
func SetFlushBatchEntries(n int) int {
	old := flushBatchEntries
	flushBatchEntries = n
	return old
}

// LoseConnect edits the closed chain database in dir as a power loss that
// kept the main chain's last block's body, stored when it arrived, and lost
// its connect, written after, leaves it: the undo data and main-chain record
// of the block gone, the tip back on its parent. The stored UTXO set must
// not include the block.
func LoseConnect(dir string, tip *chain.Block, height int32) error {
	db, err := openBadger(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	hash := tip.Hash()
	err = db.Update(func(txn *badger.Txn) error {
		utxoBest, err := getValue(txn, key(prefixMeta, []byte(metaUtxoBest)))
		if err != nil {
			return err
		}
		if chain.Hash(utxoBest) == hash {
			return errors.New("the stored UTXO set includes the block")
		}
		return errors.Join(txn.Delete(key(prefixUndo, hash[:])), txn.Delete(heightKey(height)),
			txn.Set(key(prefixMeta, []byte(metaTip)), tip.Header.PrevBlock[:]))
	})
	return errors.Join(err, db.Close())
}

// PeekUtxo reads op from the cache's layers if no writer holds the cache's
// lock; readable is false if one does.
func PeekUtxo(c *Chain, op chain.OutPoint) (e *chain.UtxoEntry, readable bool) {
	if !c.utxos.mu.TryRLock() {
		return nil, false
	}
	defer c.utxos.mu.RUnlock()
	if ce, ok := c.utxos.layered(op); ok && ce.flags&cacheSpent == 0 {
		return &ce.UtxoEntry, true
	}
	return nil, true
}

// StoredInvalid reports whether the header record stored for hash says the
// block breaks a rule.
func StoredInvalid(c *Chain, hash chain.Hash) (bool, error) {
	var invalid bool
	err := c.db.View(func(txn *badger.Txn) error {
		raw, err := getValue(txn, key(prefixHeader, hash[:]))
		if err != nil || raw == nil {
			return err
		}
		rec, err := decodeHeaderRecord(raw)
		invalid = rec.status.invalid()
		return err
	})
	return invalid, err
}

// IndexKeyVersions counts the versions of key in the index database,
// tombstones included.
func IndexKeyVersions(c *Chain, key []byte) (int, error) {
	n := 0
	err := c.idb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: key, AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if bytes.Equal(it.Item().Key(), key) {
				n++
			}
		}
		return nil
	})
	return n, err
}

// IndexRecords returns the index database's live records, markers included,
// keyed by their keys.
func IndexRecords(c *Chain) (map[string]string, error) { return StoreRecords(c.idb) }

// StoreRecords returns the live records of db, keyed by their keys.
func StoreRecords(db *badger.DB) (map[string]string, error) {
	out := make(map[string]string)
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = string(v)
		}
		return nil
	})
	return out, err
}

// IndexBatchRecords is how many records an index batch holds before it
// takes no more blocks.
const IndexBatchRecords = indexBatchRecords

// Len is how many records b writes.
func (b *IndexBatch) Len() int { return len(b.writes) }

// IndexWriter applies blocks to indexes and writes them to an index
// database of its own as the followers do, for the benchmarks.
type IndexWriter struct {
	idb *badger.DB
	ixs []Indexer
}

// OpenIndexWriter opens an index database in dir, as the chain opens its.
func OpenIndexWriter(dir string, ixs ...Indexer) (*IndexWriter, error) {
	idb, err := openIndexBadger(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return &IndexWriter{idb: idb, ixs: ixs}, nil
}

// Connect applies blocks, a row of the main chain, to each index in one
// batch, which it then writes.
func (w *IndexWriter) Connect(blocks []*BlockUpdate) error {
	for _, ix := range w.ixs {
		b := new(IndexBatch)
		for _, u := range blocks {
			if err := ix.ConnectBlock(b, u); err != nil {
				return err
			}
		}
		last := blocks[len(blocks)-1]
		if err := writeIndexBatch(w.idb, b, indexMarkerKey(ix.Name()), indexMarker(&blockNode{hash: last.Hash}, ix.Version())); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the index database.
func (w *IndexWriter) Close() error { return w.idb.Close() }
