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

// fetchMany finds the unspent outputs ops for the writer, in the cache's
// layers or else on the disk, and records each in found (nil when missing or
// spent). The cache's lock is taken once and the disk read in one
// transaction, not one of each per output: a block's inputs are fetched in
// batches. The writer alone changes the newest layer and starts flushes, and
// the layer being flushed does not change, so an output in no layer has the
// disk's value and may be read after the lock is released. The writer may
// commit blocks while a run's later blocks are checked (connectRun), but
// the outputs those commits change are in the run's own layer, never looked
// up here.
func (u *utxoCache) fetchMany(ops []chain.OutPoint, found map[chain.OutPoint]*chain.UtxoEntry) error {
	var misses []chain.OutPoint
	u.mu.RLock()
	for _, op := range ops {
		e, ok := u.layered(op)
		switch {
		case !ok:
			misses = append(misses, op)
		case e.flags&cacheSpent != 0:
			found[op] = nil
		default:
			found[op] = &e.UtxoEntry
		}
	}
	u.mu.RUnlock()
	if len(misses) == 0 {
		return nil
	}
	return u.db.View(func(txn *badger.Txn) error {
		for _, op := range misses {
			e, err := readUtxoTxn(txn, op)
			if err != nil {
				return err
			}
			found[op] = e
		}
		return nil
	})
}

func readUtxo(db *badger.DB, op chain.OutPoint) (e *chain.UtxoEntry, err error) {
	err = db.View(func(txn *badger.Txn) error {
		e, err = readUtxoTxn(txn, op)
		return err
	})
	return e, err
}

func readUtxoTxn(txn *badger.Txn, op chain.OutPoint) (*chain.UtxoEntry, error) {
	raw, err := getValue(txn, utxoKey(op))
	if err != nil || raw == nil {
		return nil, err
	}
	e, err := decodeUtxo(raw)
	if err != nil {
		return nil, fmt.Errorf("utxo %s: %w", op, err)
	}
	return &e, nil
}

// add puts an unspent output in the cache. mayExist says the disk may hold the
// output already (a disconnect restoring what a block spent, a replay), so it
// must be overwritten at flush rather than taken as fresh.
// The caller holds mu.
func (u *utxoCache) add(op chain.OutPoint, e chain.UtxoEntry, mayExist bool) {
	flags := cacheDirty
	// Fresh only if the disk cannot have it: not in the cache (a new output's
	// txid is unique), or in it as fresh.
	if old, ok := u.entries[op]; !mayExist && (!ok || old.flags&cacheFresh != 0) {
		flags |= cacheFresh
	}
	u.entries[op] = cacheEntry{UtxoEntry: e, flags: flags}
}

// spend removes an output: forgotten if the disk never saw it, otherwise kept
// as a dirty tombstone to delete at flush. The caller holds mu.
func (u *utxoCache) spend(op chain.OutPoint) {
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

// flushBatchEntries is how many entries a flush writes in one Badger
// transaction: one transaction for a whole cache would pass Badger's bound on
// a transaction's size and hold all of it in memory twice; many small ones
// would each pay a commit.
var flushBatchEntries = 16_384

// write puts the dirty entries of layer on the disk, whose state belongs to
// block from, and records that it now belongs to block to: the record goes
// in the same transaction as the last entries, and everything written before
// it (the blocks and undo data the state depends on, the other batches) is
// synced to the disk first, so the record never gets there before what it
// vouches for.
func (u *utxoCache) write(layer map[chain.OutPoint]cacheEntry, from, to chain.Hash) error {
	if err := u.db.Sync(); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	heads := append(append(make([]byte, 0, 2*chain.HashSize), to[:]...), from[:]...)
	err := u.db.Update(func(txn *badger.Txn) error {
		return txn.Set(key(prefixMeta, []byte(metaUtxoHeads)), heads)
	})
	if err != nil {
		return err
	}
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
	half := -1
	if testHookMidFlush != nil {
		half = len(ops) / 2
	}
	for start := 0; ; {
		end := min(start+flushBatchEntries, len(ops))
		if start < half && half < end {
			end = half // the test hook's stop falls between two batches
		}
		last := end == len(ops)
		if last && start > 0 {
			if err := u.db.Sync(); err != nil {
				return fmt.Errorf("sync store: %w", err)
			}
		}
		err := u.db.Update(func(txn *badger.Txn) error {
			for _, op := range ops[start:end] {
				var err error
				if e := layer[op]; e.flags&cacheSpent != 0 {
					err = txn.Delete(utxoKey(op))
				} else {
					err = txn.Set(utxoKey(op), encodeUtxo(&e.UtxoEntry))
				}
				if err != nil {
					return err
				}
			}
			if !last {
				return nil
			}
			if err := txn.Set(key(prefixMeta, []byte(metaUtxoBest)), to[:]); err != nil {
				return err
			}
			return txn.Delete(key(prefixMeta, []byte(metaUtxoHeads)))
		})
		if err != nil {
			return err
		}
		if last {
			return nil
		}
		if start = end; start == half {
			if err := testHookMidFlush(); err != nil {
				return err
			}
		}
	}
}

// connect applies a block whose rules were checked: each transaction spends
// its inputs and adds its outputs, in block order. A replay passes replaying,
// since the disk may already hold what it adds.
func (u *utxoCache) connect(b *chain.Block, txids []chain.Hash, height int32, replaying bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
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
	u.mu.Lock()
	defer u.mu.Unlock()
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

// blockChanges are the changes a block makes to the UTXO set, found while its
// rules are checked: the outputs it spends that existed before it, and the
// outputs it creates that it does not spend itself.
type blockChanges struct {
	spent   []chain.OutPoint
	created []createdOutput
}

type createdOutput struct {
	op    chain.OutPoint
	entry chain.UtxoEntry
}

// priorEntry is a cache entry as it was before a block changed it.
type priorEntry struct {
	op    chain.OutPoint
	entry cacheEntry
	had   bool
}

// applyCommitted makes a block's changes to the newest layer while commit
// stores the block's connect, and takes them back if the commit fails. The
// cache's lock is held until the commit's outcome is known, so no reader sees
// changes that may be taken back. commit starts the commit and sends its
// outcome on the channel it is given.
func (u *utxoCache) applyCommitted(ch *blockChanges, commit func(chan<- error)) error {
	prior := make([]priorEntry, 0, len(ch.spent)+len(ch.created))
	committed := make(chan error, 1)
	u.mu.Lock()
	defer u.mu.Unlock()
	commit(committed)
	for _, op := range ch.spent {
		e, had := u.entries[op]
		prior = append(prior, priorEntry{op, e, had})
		u.spend(op)
	}
	for i := range ch.created {
		c := &ch.created[i]
		e, had := u.entries[c.op]
		prior = append(prior, priorEntry{c.op, e, had})
		u.add(c.op, c.entry, false)
	}
	err := <-committed
	if err == nil {
		return nil
	}
	for i := len(prior) - 1; i >= 0; i-- {
		if p := &prior[i]; p.had {
			u.entries[p.op] = p.entry
		} else {
			delete(u.entries, p.op)
		}
	}
	return err
}
