package blockchain

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// Indexer is the hook an index of the main chain plugs into (package
// chain/indexers holds the node's). The chain applies its main chain to each
// index in the background, block by block with the block's spent outputs
// (undo data), and records the last block applied in the index's own marker,
// written in the same Badger transaction as the index's records, as Bitcoin
// Core's BaseIndex and btcd's indexers do. So a block connects without
// waiting for any index, and an index that is behind (turned on late, or
// after a crash) catches up on its own.
//
// The indexes' records and markers are in a Badger database of their own
// (Config.IndexDir), written by the indexes alone: their writes, most of the
// keys a syncing node writes, never queue in front of the chain's commits.
// An index applies only blocks the chain database holds, so after a crash
// it is behind the chain, or on a branch the chain left, which it takes back
// with the branch's undo data.
type Indexer interface {
	// Name is the index's name as getindexinfo shows it; its flag is
	// --<name>.
	Name() string
	// KeyPrefixes are the first bytes of the index's records in the index
	// database; a rebuild of the index deletes them. They must not be one
	// the chain uses: the chain database held the indexes' records before
	// they moved out, and they are found there by that.
	KeyPrefixes() []byte
	// Version is the format of the index's records. When it is not the one
	// the stored index was built with, the chain deletes the old records and
	// builds the index again from genesis, as Core does on a new index
	// database version.
	Version() uint32
	// Init hands the index the reader of its records, once, at Open.
	Init(r *IndexReader)
	// ConnectBlock adds the block u to the index, in b. A record it sets
	// must be one the index does not hold yet (its key names a transaction
	// or an output of u, which are unique): a later block of the same batch
	// that deletes it then writes neither.
	ConnectBlock(b *IndexBatch, u *BlockUpdate) error
	// DisconnectBlock removes the block u, the index's last, again, in b.
	DisconnectBlock(b *IndexBatch, u *BlockUpdate) error
}

// IndexBatch is what one Badger transaction of an index writes: one block
// or, for an index behind the chain, several in a row, with the index's
// marker. A record written twice takes its last write, as in a Badger
// transaction.
type IndexBatch struct {
	writes []indexWrite
	// bytes is what the writes count against a Badger transaction's
	// limit, at most (writeBytes each). Badger counts a record written
	// twice twice, and so does the batch.
	bytes int
}

// writeBytes is what a write of key k and value v counts against a Badger
// transaction's limit, at most: Badger counts the key, the value (only a
// pointer for one in the value log), two bytes of meta and the eight of the
// version it appends to the key.
func writeBytes(k, v []byte) int { return len(k) + len(v) + 12 }

type indexWrite struct {
	key     []byte
	value   []byte
	deleted bool
}

// Set writes the record k; b keeps k and v, which the caller must not
// change.
func (b *IndexBatch) Set(k, v []byte) {
	b.writes = append(b.writes, indexWrite{key: k, value: v})
	b.bytes += writeBytes(k, v)
}

// Delete deletes the record k; b keeps k, which the caller must not change.
func (b *IndexBatch) Delete(k []byte) {
	b.writes = append(b.writes, indexWrite{key: k, deleted: true})
	b.bytes += writeBytes(k, nil)
}

// BlockUpdate is a block an index applies or takes back.
type BlockUpdate struct {
	Block  *chain.Block
	TxIDs  []chain.Hash
	Hash   chain.Hash
	Height int32
	// Spent are the outputs the block's inputs spend, in input order, the
	// coinbase's none.
	Spent []chain.UtxoEntry
}

// IndexReader is how an index reads its records and the chain they index.
type IndexReader struct {
	c    *Chain
	name string
}

// Ready returns nil when the index holds the main chain up to the tip as it
// is now, waiting a little for an index near the tip to apply the last
// blocks (Core's BlockUntilSyncedToCurrentChain); otherwise an *IndexError.
func (r *IndexReader) Ready() error { return r.c.indexReady(r.name) }

// View runs fn in a read transaction of the index database.
func (r *IndexReader) View(fn func(txn *badger.Txn) error) error { return r.c.idb.View(fn) }

// Chain is the chain the index follows.
func (r *IndexReader) Chain() *Chain { return r.c }

// An index at most indexNearTip blocks behind the tip is synced: a query
// waits for it to apply them (Core's BlockUntilSyncedToCurrentChain), for
// indexSyncWait at most, since it applies a block in milliseconds. A query
// of an index further behind fails at once, saying how far behind it is.
// indexNearTip is a day of blocks on the main network: enough that blocks
// arriving together (a peer's batch, regtest's generatetoaddress 101) do not
// fail the queries made right after them.
const indexNearTip = 144

// indexSyncWait is a variable for the tests.
var indexSyncWait = 5 * time.Second

// ErrIndexUnavailable is what an *IndexError matches: the query needs an
// index that is off or still catching up. It is not ErrNotFound: such an
// index cannot say whether what was asked for exists.
var ErrIndexUnavailable = errors.New("index unavailable")

// IndexError says that a query needs an index that is off or still catching
// up. It matches ErrIndexUnavailable.
type IndexError struct {
	Index    string
	Disabled bool
	// Behind is how many blocks the index is behind the tip.
	Behind int32
}

func (e *IndexError) Error() string {
	if e.Disabled {
		return fmt.Sprintf("%s is disabled (enable it with --%s=1)", e.Index, e.Index)
	}
	blocks := "blocks"
	if e.Behind == 1 {
		blocks = "block"
	}
	return fmt.Sprintf("%s is still being built: %d %s behind the tip", e.Index, e.Behind, blocks)
}

// Is makes an IndexError match ErrIndexUnavailable.
func (e *IndexError) Is(target error) bool { return target == ErrIndexUnavailable }

// indexFollower applies the main chain to one index on its own goroutine.
type indexFollower struct {
	c    *Chain
	ix   Indexer
	wake chan struct{}

	mu    sync.Mutex
	best  *blockNode    // last block applied
	moved chan struct{} // closed when best changes
}

// checkIndexKeys refuses an index whose name is taken or whose records would
// share a key prefix with the chain's or another index's.
func (c *Chain) checkIndexKeys(ix Indexer) error {
	if _, dup := c.indexes[ix.Name()]; dup {
		return fmt.Errorf("two indexes named %s", ix.Name())
	}
	for _, p := range ix.KeyPrefixes() {
		if slices.Contains(chainKeyPrefixes, p) {
			return fmt.Errorf("index %s: key prefix %q belongs to the chain state", ix.Name(), p)
		}
		for _, other := range c.indexes {
			if slices.Contains(other.ix.KeyPrefixes(), p) {
				return fmt.Errorf("indexes %s and %s share key prefix %q", ix.Name(), other.ix.Name(), p)
			}
		}
	}
	return nil
}

func indexMarkerKey(name string) []byte { return key(prefixMeta, []byte("index/"+name)) }

// openIndexes finds where each index is, from its marker; runIndexes then
// starts their followers, which stop at Close.
func (c *Chain) openIndexes(indexers []Indexer) error {
	c.indexes = make(map[string]*indexFollower)
	for _, ix := range indexers {
		if err := c.checkIndexKeys(ix); err != nil {
			return err
		}
		c.indexOrder = append(c.indexOrder, ix.Name())
		best, err := c.readIndexMarker(ix)
		if err != nil {
			return err
		}
		if err := c.checkIndexNotPruned(ix.Name(), best); err != nil {
			return err
		}
		ix.Init(&IndexReader{c: c, name: ix.Name()})
		c.indexes[ix.Name()] = &indexFollower{c: c, ix: ix, wake: make(chan struct{}, 1), best: best, moved: make(chan struct{})}
	}
	if len(c.indexes) > 0 {
		c.recent = newRecentBlocks()
	}
	return nil
}

// openIndexDB opens the index database when an index is on. A full reindex
// empties it (Core's -reindex rebuilds the indexes; -reindex-chainstate
// keeps them), even with every index off, so that none turned on later goes
// on from a block the reindex forgot.
func openIndexDB(cfg *Config) (*badger.DB, error) {
	if len(cfg.Indexers) == 0 {
		if !cfg.Reindex {
			return nil, nil
		}
		if _, err := os.Stat(cfg.IndexDir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	idb, err := openIndexBadger(cfg.IndexDir, cfg.Logger.With("component", "badger", "db", "indexes"))
	if err != nil {
		return nil, err
	}
	if cfg.Reindex {
		cfg.Logger.Info("reindexing: dropping the indexes", "dir", cfg.IndexDir)
		if err := idb.DropAll(); err != nil {
			idb.Close()
			return nil, fmt.Errorf("reindex: drop the index database %s: %w", cfg.IndexDir, err)
		}
	}
	if len(cfg.Indexers) == 0 {
		return nil, idb.Close()
	}
	return idb, nil
}

// dropIndexesFromChainDB deletes from the chain database the indexes'
// records and markers, which it held before they moved to the index
// database: every record under a prefix that is not the chain's, in
// batches of a Badger transaction each, then the markers, so that a crash
// half way does it again at the next start. The indexes then find no
// marker in the index database and build themselves again there.
func dropIndexesFromChainDB(db *badger.DB, log *slog.Logger) error {
	var markers [][]byte
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: indexMarkerKey("")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			markers = append(markers, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil || len(markers) == 0 {
		return err
	}
	names := make([]string, len(markers))
	for i, k := range markers {
		names[i] = string(k[len(indexMarkerKey("")):])
	}
	log.Warn("the indexes moved out of the chain database into their own: deleting them from the chain database; they are built again from genesis", "indexes", names)
	start := time.Now()
	for p := range 256 {
		if slices.Contains(chainKeyPrefixes, byte(p)) {
			continue
		}
		if err := deletePrefix(db, byte(p)); err != nil {
			return fmt.Errorf("delete index records of prefix %q from the chain database: %w", byte(p), err)
		}
	}
	err = db.Update(func(txn *badger.Txn) error {
		for _, k := range markers {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete index markers from the chain database: %w", err)
	}
	log.Info("indexes deleted from the chain database", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// readIndexMarker returns the last block the index applied: genesis for an
// index never built. An index whose records are of another Version, or whose
// marker is damaged or names a block the chain does not know (the index
// database of another chain, or one that outlived a crash of the machine
// the chain database did not), is deleted and built again from genesis.
func (c *Chain) readIndexMarker(ix Indexer) (*blockNode, error) {
	var raw []byte
	err := c.idb.View(func(txn *badger.Txn) (err error) {
		raw, err = getValue(txn, indexMarkerKey(ix.Name()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s marker: %w", ix.Name(), err)
	}
	if raw == nil {
		return c.mainChain[0], nil
	}
	best, version, err := c.indexMarkerBlock(ix.Name(), raw)
	switch {
	case err != nil:
		c.log.Error("index marker is unusable: rebuilding the index from genesis", "index", ix.Name(), "err", err)
	case version != ix.Version():
		c.log.Warn("index records are of another version: rebuilding the index from genesis", "index", ix.Name(), "stored", version, "now", ix.Version())
	default:
		return best, nil
	}
	if err := c.dropIndex(ix); err != nil {
		return nil, err
	}
	return c.mainChain[0], nil
}

// dropIndex deletes the index's records, then its marker, so that a crash
// half way leaves a marker that has it dropped again.
func (c *Chain) dropIndex(ix Indexer) error {
	for _, p := range ix.KeyPrefixes() {
		if err := deletePrefix(c.idb, p); err != nil {
			return fmt.Errorf("drop %s records: %w", ix.Name(), err)
		}
	}
	if err := c.idb.Update(func(txn *badger.Txn) error { return txn.Delete(indexMarkerKey(ix.Name())) }); err != nil {
		return fmt.Errorf("drop %s marker: %w", ix.Name(), err)
	}
	return nil
}

// checkIndexUndo runs once the chain connected at the start what it could:
// an index whose last blocks are now off the main chain must take them back,
// which needs their undo data. A block without it is one whose connect the
// chain database lost in a crash of the machine that the index database
// outlived; the chain usually connects it again from its stored body (so it
// is checked only now), but one it did not cannot be taken back, and the
// index is built again from genesis.
func (c *Chain) checkIndexUndo() error {
	for _, name := range c.indexOrder {
		f := c.indexes[name]
		fork := forkPoint(f.best, c.tip())
		err := c.db.View(func(txn *badger.Txn) error {
			for n := f.best; n != fork; n = n.parent {
				if _, err := txn.Get(key(prefixUndo, n.hash[:])); err != nil {
					return fmt.Errorf("%s is at block %s, off the main chain and without undo data: %w", name, n.hash, err)
				}
			}
			return nil
		})
		if err == nil {
			continue
		}
		c.log.Error("index cannot leave the branch it is on: rebuilding the index from genesis", "index", name, "err", err)
		if err := c.dropIndex(f.ix); err != nil {
			return err
		}
		f.best = c.mainChain[0]
		if err := c.checkIndexNotPruned(name, f.best); err != nil {
			return err
		}
	}
	return nil
}

// indexMarkerBlock decodes a marker: the block's hash and, since versions
// exist, the version; a marker of the hash alone is version 0. The block
// must be a known one (checkIndexUndo checks later that the index can go on
// from it).
func (c *Chain) indexMarkerBlock(name string, raw []byte) (*blockNode, uint32, error) {
	var version uint32
	switch len(raw) {
	case chain.HashSize:
	case chain.HashSize + 4:
		version = binary.LittleEndian.Uint32(raw[chain.HashSize:])
	default:
		return nil, 0, fmt.Errorf("%s marker %x is damaged", name, raw)
	}
	best := c.index[chain.Hash(raw[:chain.HashSize])]
	if best == nil {
		return nil, 0, fmt.Errorf("%s marker %x is not a known block", name, raw)
	}
	return best, version, nil
}

// indexMarker is the value of an index's marker: the last block it applied
// and the version of its records.
func indexMarker(best *blockNode, version uint32) []byte {
	return binary.LittleEndian.AppendUint32(append(make([]byte, 0, chain.HashSize+4), best.hash[:]...), version)
}

func (c *Chain) runIndexes() {
	ctx, cancel := context.WithCancel(context.Background())
	c.stopIndexes = cancel
	for _, f := range c.indexes {
		c.indexWG.Go(func() { f.run(ctx) })
	}
}

// checkIndexNotPruned refuses an index whose next main-chain block was
// pruned, as Core's BaseIndex does: an index left off while the node pruned
// could never catch up, and would retry and be "still being built" forever.
func (c *Chain) checkIndexNotPruned(name string, best *blockNode) error {
	fork := forkPoint(best, c.tip())
	if fork == c.tip() || fork.height+1 >= c.prune.height.Load() {
		return nil
	}
	return fmt.Errorf("%s best block of the index goes beyond pruned data (it is at height %d, blocks below %d are pruned): turn it off with --%s=0 or restart with --reindex (which downloads the whole chain again)",
		name, fork.height, c.prune.height.Load(), name)
}

// wakeIndexes tells the followers the main chain changed.
func (c *Chain) wakeIndexes() {
	for _, f := range c.indexes {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

func (f *indexFollower) run(ctx context.Context) {
	log := f.c.log.With("index", f.ix.Name())
	logged := false
	for ctx.Err() == nil {
		moved, more, err := f.step()
		switch {
		case err != nil:
			log.Error("index cannot follow the chain; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			continue
		case more:
			continue
		case !moved:
			if !logged {
				log.Info("index is synced", "height", f.bestNode().height)
				logged = true
			}
			select {
			case <-ctx.Done():
			case <-f.wake:
			}
		}
		if !f.c.CaughtUp() {
			// Let the blocks that follow arrive first and go in one
			// batch, see indexGatherDelay.
			select {
			case <-ctx.Done():
			case <-time.After(indexGatherDelay):
			}
		}
	}
}

// indexGatherDelay is how long an index that applied every block there was,
// or is at the tip and sees a new block, waits while the node is still
// catching up with the network before it follows: a syncing node connects
// hundreds of blocks a second, and blocks that come together go in one
// batch, which commits once. An index
// that followed at once after a batch would apply the few blocks connected
// meanwhile in one of their own, and so on, in ever smaller batches. Once
// caught up, an index follows each block at once. Queries wait for an
// index near the tip (indexSyncWait) far longer than this.
var indexGatherDelay = 100 * time.Millisecond

func (f *indexFollower) bestNode() *blockNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.best
}

// An index behind the chain applies up to indexBatchBlocks blocks in one
// Badger transaction, and adds none once the batch holds indexBatchRecords
// records or indexBatchBytes bytes: a Badger transaction of the index
// database may hold up to ~104,000 records and ~10 MB (15% of a memtable,
// Badger's limits), and one block writes at most ~36,000 records and ~3.1
// MB (a MaxBlockSize block of 28-byte outputs, each to a key hash of its
// own: an address-index record of at most ~86 bytes each). The bytes need
// their own bound since the address index's records are of any size: a
// block of transactions each spending a hundred outputs of one key hash
// writes a record of ~4 KB a transaction, and 144 such blocks ~35 MB in a
// few thousand records.
// indexBatchBlocks keeps a batch of small blocks, each loaded from the chain
// database, short, so that the marker of an index catching up moves often.
const (
	indexBatchBlocks  = 144
	indexBatchRecords = 30_000
	indexBatchBytes   = 4 << 20
)

// step takes back the index's last block if that left the main chain, or
// else adds the next main-chain blocks, as many as one batch takes. It
// reports whether the index moved, and whether it has more to do at once: a
// block to take back, or blocks that did not fit in the batch.
func (f *indexFollower) step() (moved, more bool, err error) {
	best := f.bestNode()
	c := f.c
	c.mu.RLock()
	onMain := c.isMain(best)
	var next []*blockNode
	if onMain {
		last := min(len(c.mainChain)-1, int(best.height)+indexBatchBlocks)
		next = slices.Clone(c.mainChain[best.height+1 : last+1])
	}
	c.mu.RUnlock()
	if !onMain {
		b := new(IndexBatch)
		if err := f.apply(b, best, f.ix.DisconnectBlock); err != nil {
			return false, false, err
		}
		moved, err := f.commit(b, best.parent)
		return moved, moved, err
	}
	if len(next) == 0 {
		return false, false, nil
	}
	// The blocks were the main chain's when read: if it has left them
	// since, the next step takes them back.
	b := new(IndexBatch)
	var newBest *blockNode
	for _, n := range next {
		if newBest != nil && (len(b.writes) >= indexBatchRecords || b.bytes >= indexBatchBytes) {
			more = true
			break
		}
		if err := f.apply(b, n, f.ix.ConnectBlock); err != nil {
			return false, false, err
		}
		newBest = n
	}
	moved, err = f.commit(b, newBest)
	return moved, moved && (more || len(next) == indexBatchBlocks), err
}

// apply adds the block n to b with the index's ConnectBlock or
// DisconnectBlock.
func (f *indexFollower) apply(b *IndexBatch, n *blockNode, fn func(*IndexBatch, *BlockUpdate) error) error {
	blk, txids, ok := f.c.recent.get(n.hash)
	if !ok {
		var err error
		if blk, err = f.c.loadBlock(n.hash); err != nil {
			return err
		}
		txids = blk.TxIDs()
	}
	spent, err := f.c.loadUndo(n, blk)
	if err != nil {
		return err
	}
	u := &BlockUpdate{Block: blk, TxIDs: txids, Hash: n.hash, Height: n.height, Spent: spent}
	if err := fn(b, u); err != nil {
		return fmt.Errorf("block %s: %w", n.hash, err)
	}
	return nil
}

// commit writes b and the index's marker, newBest, in one transaction, and
// reports whether it did.
func (f *indexFollower) commit(b *IndexBatch, newBest *blockNode) (bool, error) {
	if err := writeIndexBatch(f.c.idb, b, indexMarkerKey(f.ix.Name()), indexMarker(newBest, f.ix.Version())); err != nil {
		return false, fmt.Errorf("write the index up to block %s: %w", newBest.hash, err)
	}
	f.mu.Lock()
	f.best = newBest
	close(f.moved)
	f.moved = make(chan struct{})
	f.mu.Unlock()
	f.c.recent.applied(f.c.lowestIndexHeight())
	return true, nil
}

// writeIndexBatch writes b and the index's marker in one transaction of
// the index database idb, in the batch's order, so that a record's last
// write is the one kept. Badger's commit hands its memtable the records
// from a map, in no order; at a syncing node's batch sizes (a few thousand
// records into a memtable of hundreds of thousands) a sorted insert was
// measured no cheaper anyway.
func writeIndexBatch(idb *badger.DB, b *IndexBatch, markerKey, marker []byte) error {
	return idb.Update(func(txn *badger.Txn) error {
		for _, w := range b.writes {
			var err error
			if w.deleted {
				err = txn.Delete(w.key)
			} else {
				err = txn.Set(w.key, w.value)
			}
			if err != nil {
				return err
			}
		}
		return txn.Set(markerKey, marker)
	})
}

// lowestIndexHeight is the height of the index furthest down.
func (c *Chain) lowestIndexHeight() int32 {
	lowest := int32(-1)
	for _, f := range c.indexes {
		if h := f.bestNode().height; lowest < 0 || h < lowest {
			lowest = h
		}
	}
	return lowest
}

// indexReady returns nil when the index holds the main chain up to the tip
// as it is now, waiting a little for an index near the tip to apply the last
// blocks; otherwise an *IndexError.
func (c *Chain) indexReady(name string) error {
	f := c.indexes[name]
	if f == nil {
		return &IndexError{Index: name, Disabled: true}
	}
	c.mu.RLock()
	asked := c.tip()
	c.mu.RUnlock()
	deadline := time.NewTimer(indexSyncWait)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		best, moved := f.best, f.moved
		f.mu.Unlock()
		// The index may pass the tip the query saw between two looks, or
		// never reach it when a reorganisation took it away: it is ready
		// once it holds that tip or the one there is now. What it has left
		// to do is what separates it from the tip the query saw, which the
		// tip moving on does not add to.
		c.mu.RLock()
		tip := c.tip()
		reached := best.ancestor(asked.height) == asked || best.ancestor(tip.height) == tip
		toDo := asked.height - forkPoint(best, asked).height
		behind := tip.height - forkPoint(best, tip).height
		c.mu.RUnlock()
		if reached {
			return nil
		}
		if toDo > indexNearTip {
			return &IndexError{Index: name, Behind: behind}
		}
		select {
		case <-moved:
		case <-deadline.C:
			return &IndexError{Index: name, Behind: behind}
		}
	}
}

// IndexStatus is what getindexinfo shows of one index.
type IndexStatus struct {
	Name string
	// Synced: the index is at most indexNearTip blocks behind the tip, and
	// queries wait for it to apply them rather than fail.
	Synced     bool
	BestHeight int32
	BestHash   chain.Hash
}

// IndexStatuses lists the enabled indexes, in the order of Config.Indexers.
func (c *Chain) IndexStatuses() []IndexStatus {
	out := make([]IndexStatus, 0, len(c.indexOrder))
	for _, name := range c.indexOrder {
		best := c.indexes[name].bestNode()
		c.mu.RLock()
		tip := c.tip()
		behind := tip.height - forkPoint(best, tip).height
		c.mu.RUnlock()
		out = append(out, IndexStatus{Name: name, Synced: behind <= indexNearTip, BestHeight: best.height, BestHash: best.hash})
	}
	return out
}
