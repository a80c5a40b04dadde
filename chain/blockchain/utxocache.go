package blockchain

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// The UTXO cache holds the chain state in memory in front of Badger, as Bitcoin
// Core's CCoinsViewCache and btcd's utxocache do: a block changes only the
// cache, and the changes reach the disk in one flush for many blocks, so an
// output created and spent between two flushes is never written at all.
//
// The disk's state belongs to the block recorded under metaUtxoBest. A flush
// is too large for one Badger transaction, so it is made safe the way Core's
// is: it first records both the block the disk's state belongs to and the one
// it is about to belong to (metaUtxoHeads), writes the changes in batches, and
// then records the new block alone. Every write of a flush puts an entry in
// its final state, so after a crash half way the state is recovered by
// replaying the blocks from the old block to the new one (replay.go).
//
// Blocks do not wait for the disk: a flush sets the entries aside as they are
// (they stay readable, between the new entries and the disk) and a goroutine
// writes them while blocks go on connecting into a new, empty layer. The next
// flush waits for the one before, so the disk gets the layers in order. A
// flush starts when the cache holds half its bound, so the layer being written
// and the one filling stay within it together.

// Default cache bounds and timing.
const (
	// DefaultDBCacheMiB is the UTXO cache's default bound, as Core's -dbcache.
	DefaultDBCacheMiB = 256
	// periodicFlushInterval bounds the work a crash can cost: at most this
	// much of connected blocks is replayed at the next start.
	periodicFlushInterval = 5 * time.Minute
)

// cacheEntryBytes is what one entry of the cache costs in memory: its key and
// value in a Go map slot plus the map's share of control bytes and free slots
// (a swiss table runs between 7/16 and 7/8 full): 125 to 168 bytes measured by
// TestUtxoCacheSizeIsReal, rounded up.
const cacheEntryBytes = 192

// Meta keys of the chain state.
const (
	metaUtxoBest  = "utxobest"  // block hash the stored UTXO set belongs to
	metaUtxoHeads = "utxoheads" // new, old: a flush from old to new is under way
)

// Test hooks, nil but in the crash tests: called half way through a flush
// (the first half of its writes on disk; an error stops the flush there, as
// a crash would) and half way through a replay.
var (
	testHookMidFlush  func() error
	testHookMidReplay func()
)

type cacheFlags uint8

const (
	// dirty: the entry differs from the disk's.
	cacheDirty cacheFlags = 1 << iota
	// fresh: the disk has no such output, so if it is spent before the next
	// flush it can be forgotten rather than deleted.
	cacheFresh
	// spent: the output is spent; kept only while dirty, to delete it at flush.
	cacheSpent
)

type cacheEntry struct {
	chain.UtxoEntry
	flags cacheFlags
}

// utxoCache is the UTXO set at the chain's tip. One goroutine changes it (the
// one holding Chain.processMu); any goroutine may read it.
type utxoCache struct {
	db       *badger.DB
	maxBytes int64

	mu      sync.RWMutex // guards entries and flushing
	entries map[chain.OutPoint]cacheEntry
	// flushing is the layer being written to the disk, nil if none; it is
	// not changed, only read and then dropped.
	flushing map[chain.OutPoint]cacheEntry

	// Changed only by the writer.
	best      chain.Hash // block the cached state belongs to
	diskBest  chain.Hash // block the stored state belongs to once the flush under way is done
	lastFlush time.Time
	// flushDone is closed when the flush under way ends, with its error in
	// flushErr; nil when none ran yet.
	flushDone chan struct{}
	flushErr  error
}

func newUtxoCache(db *badger.DB, maxBytes int64) *utxoCache {
	return &utxoCache{db: db, maxBytes: maxBytes, entries: make(map[chain.OutPoint]cacheEntry), lastFlush: time.Now()}
}

// layered finds op in the cache's layers, newest first; the caller holds mu.
func (u *utxoCache) layered(op chain.OutPoint) (cacheEntry, bool) {
	if e, ok := u.entries[op]; ok {
		return e, true
	}
	e, ok := u.flushing[op]
	return e, ok
}

// lookup reads an unspent output for any goroutine, from the cache or else
// from the disk, without adding it to the cache. The read lock is held across
// the disk read so a flush cannot change the disk underneath.
func (u *utxoCache) lookup(op chain.OutPoint) (*chain.UtxoEntry, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if e, ok := u.layered(op); ok {
		if e.flags&cacheSpent != 0 {
			return nil, nil
		}
		return &e.UtxoEntry, nil
	}
	return readUtxo(u.db, op)
}

// fetch is lookup for the writer: an output found below the newest layer
// is copied into it, clean (the disk has it, or will once the flush under way
// ends), for the block about to spend it.
func (u *utxoCache) fetch(op chain.OutPoint) (*chain.UtxoEntry, error) {
	u.mu.RLock()
	e, ok := u.entries[op]
	if !ok {
		if e, ok = u.flushing[op]; ok {
			e.flags &^= cacheDirty | cacheFresh
		}
	}
	u.mu.RUnlock()
	if !ok {
		stored, err := readUtxo(u.db, op)
		if err != nil || stored == nil {
			return nil, err
		}
		e, ok = cacheEntry{UtxoEntry: *stored}, true
	}
	if e.flags&cacheSpent != 0 {
		return nil, nil
	}
	u.mu.Lock()
	if _, there := u.entries[op]; !there {
		u.entries[op] = e
	}
	u.mu.Unlock()
	return &e.UtxoEntry, nil
}

func readUtxo(db *badger.DB, op chain.OutPoint) (*chain.UtxoEntry, error) {
	var e *chain.UtxoEntry
	err := db.View(func(txn *badger.Txn) error {
		raw, err := getValue(txn, utxoKey(op))
		if err != nil || raw == nil {
			return err
		}
		entry, err := decodeUtxo(raw)
		if err != nil {
			return fmt.Errorf("utxo %s: %w", op, err)
		}
		e = &entry
		return nil
	})
	return e, err
}

// add puts an unspent output in the cache. mayExist says the disk may hold the
// output already (a disconnect restoring what a block spent, a replay), so it
// must be overwritten at flush rather than taken as fresh.
func (u *utxoCache) add(op chain.OutPoint, e chain.UtxoEntry, mayExist bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	flags := cacheDirty
	// Fresh only if the disk cannot have it: not in the cache (a new output's
	// txid is unique), or in it as fresh.
	if old, ok := u.entries[op]; !mayExist && (!ok || old.flags&cacheFresh != 0) {
		flags |= cacheFresh
	}
	u.entries[op] = cacheEntry{UtxoEntry: e, flags: flags}
}

// spend removes an output: forgotten if the disk never saw it, otherwise kept
// as a dirty tombstone to delete at flush.
func (u *utxoCache) spend(op chain.OutPoint) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if old, ok := u.entries[op]; ok && old.flags&cacheFresh != 0 {
		delete(u.entries, op)
		return
	}
	u.entries[op] = cacheEntry{flags: cacheDirty | cacheSpent}
}

// needsFlush says whether the newest layer passed half the cache's bound or
// the cache has not been flushed for a while.
func (u *utxoCache) needsFlush(now time.Time) bool {
	u.mu.RLock()
	size := int64(len(u.entries)) * cacheEntryBytes
	u.mu.RUnlock()
	return size > u.maxBytes/2 || now.Sub(u.lastFlush) >= periodicFlushInterval
}

// flush starts writing every dirty entry to the disk and recording the
// cache's block there, in the background, after the flush before it ended;
// the cache then starts empty. Readers are never blocked by the disk writes:
// every entry being written stays readable in the layer being flushed.
func (u *utxoCache) flush() error {
	if err := u.waitFlushed(); err != nil {
		return err
	}
	u.mu.Lock()
	layer := u.entries
	u.flushing = layer
	u.entries = make(map[chain.OutPoint]cacheEntry)
	u.mu.Unlock()
	from, to := u.diskBest, u.best
	u.diskBest = to
	u.lastFlush = time.Now()
	done := make(chan struct{})
	u.flushDone = done
	go func() {
		defer close(done)
		if u.flushErr = u.write(layer, from, to); u.flushErr != nil {
			// The layer stays readable, and no later flush can start: a
			// disk without it would be wrong.
			return
		}
		u.mu.Lock()
		u.flushing = nil
		u.mu.Unlock()
	}()
	return nil
}

// waitFlushed waits for the flush under way, if any, and returns its error.
func (u *utxoCache) waitFlushed() error {
	if u.flushDone == nil {
		return nil
	}
	<-u.flushDone
	if u.flushErr != nil {
		return fmt.Errorf("flush chain state: %w", u.flushErr)
	}
	return nil
}

// flushSync flushes and waits for the disk.
func (u *utxoCache) flushSync() error {
	if err := u.flush(); err != nil {
		return err
	}
	return u.waitFlushed()
}

// write puts the dirty entries of layer on the disk, whose state belongs to
// block from, and records that it now belongs to block to.
func (u *utxoCache) write(layer map[chain.OutPoint]cacheEntry, from, to chain.Hash) error {
	heads := append(append(make([]byte, 0, 2*chain.HashSize), to[:]...), from[:]...)
	err := u.db.Update(func(txn *badger.Txn) error {
		return txn.Set(key(prefixMeta, []byte(metaUtxoHeads)), heads)
	})
	if err != nil {
		return err
	}
	wb := u.db.NewWriteBatch()
	defer func() { wb.Cancel() }()
	written, half := 0, -1
	// In key order, Badger's skiplist and tables take the writes faster.
	ops := make([]chain.OutPoint, 0, len(layer))
	for op, e := range layer {
		if e.flags&cacheDirty != 0 {
			ops = append(ops, op)
		}
	}
	slices.SortFunc(ops, func(a, b chain.OutPoint) int {
		if c := bytes.Compare(a.TxID[:], b.TxID[:]); c != 0 {
			return c
		}
		return int(int64(a.Index) - int64(b.Index))
	})
	if testHookMidFlush != nil {
		half = len(ops) / 2
	}
	for _, op := range ops {
		e := layer[op]
		if e.flags&cacheSpent != 0 {
			err = wb.Delete(utxoKey(op))
		} else {
			err = wb.Set(utxoKey(op), encodeUtxo(&e.UtxoEntry))
		}
		if err != nil {
			return err
		}
		if written++; written == half {
			if err = wb.Flush(); err != nil {
				return err
			}
			if err = testHookMidFlush(); err != nil {
				return err
			}
			wb = u.db.NewWriteBatch()
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	return u.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(key(prefixMeta, []byte(metaUtxoBest)), to[:]); err != nil {
			return err
		}
		return txn.Delete(key(prefixMeta, []byte(metaUtxoHeads)))
	})
}

// connect applies a block whose rules were checked: each transaction spends
// its inputs and adds its outputs, in block order. A replay passes replaying,
// since the disk may already hold what it adds.
func (u *utxoCache) connect(b *chain.Block, txids []chain.Hash, height int32, replaying bool) {
	for i, tx := range b.Txs {
		if i > 0 {
			for _, in := range tx.Inputs {
				u.spend(in.PrevOut)
			}
		}
		for idx, out := range tx.Outputs {
			u.add(chain.OutPoint{TxID: txids[i], Index: uint32(idx)},
				chain.UtxoEntry{Value: out.Value, PubKeyHash: out.PubKeyHash, Height: height, Coinbase: i == 0}, replaying)
		}
	}
}

// disconnect undoes a block, last transaction first, with its undo data (the
// outputs it spent, in input order).
func (u *utxoCache) disconnect(b *chain.Block, txids []chain.Hash, undo []chain.UtxoEntry) {
	pos := len(undo)
	for i := len(b.Txs) - 1; i >= 0; i-- {
		tx := b.Txs[i]
		for idx := range tx.Outputs {
			u.spend(chain.OutPoint{TxID: txids[i], Index: uint32(idx)})
		}
		if i == 0 {
			break
		}
		pos -= len(tx.Inputs)
		for j, in := range tx.Inputs {
			u.add(in.PrevOut, undo[pos+j], true)
		}
	}
}
