package blockchain_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// chainKinds are the first bytes of the chain database's own records.
const chainKinds = "bhnurm"

// openRawStore opens the Badger store in dir as it is, without the chain.
func openRawStore(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// storeKeys lists the keys of the Badger store in dir: the markers of the
// indexes ("mindex/<name>") by name, every other key by its first byte.
func storeKeys(t *testing.T, dir string) map[string]int {
	t.Helper()
	db := openRawStore(t, dir)
	defer db.Close()
	keys := make(map[string]int)
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if bytes.HasPrefix(k, []byte("mindex/")) {
				keys[string(k)]++
			} else {
				keys[string(k[:1])]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// lockedBuffer is a log destination a test reads while the chain writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The indexes' records and markers are in the index database, by default
// in the chain database's directory, else where Config.IndexDir says; the
// chain database holds only the chain's records, and a node without
// indexes makes no index database.
func TestIndexDatabaseHoldsTheIndexes(t *testing.T) {
	for _, custom := range []bool{false, true} {
		dir := t.TempDir()
		indexDir := filepath.Join(dir, "indexes")
		if custom {
			indexDir = filepath.Join(t.TempDir(), "elsewhere")
		}
		c := openChain(t, dir)
		g := chaintest.New(chain.RegtestParams)
		base := matureBase(t, c, g)
		c.Close()
		if _, err := os.Stat(indexDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a node without indexes made the index database: %v", err)
		}

		cfg := blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog,
			Indexers: []blockchain.Indexer{indexers.NewTxIndex(), indexers.NewAddrIndex()}}
		if custom {
			cfg.IndexDir = indexDir
		}
		c, err := blockchain.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		chaintest.MustProcess(t, c, g.NextBlock(base[100].Hash(), g.SpendAll(g.Coinbase(base[0].Hash()), 1000)))
		chaintest.WaitIndexes(t, c)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		for k := range storeKeys(t, dir) {
			if len(k) != 1 || !strings.Contains(chainKinds, k) {
				t.Errorf("index DB at %s: chain database holds %q records", indexDir, k)
			}
		}
		idx := storeKeys(t, indexDir)
		for _, k := range []string{"mindex/txindex", "mindex/addrindex", "t", "p"} {
			if idx[k] == 0 {
				t.Errorf("index DB at %s: no %q records in it: %v", indexDir, k, idx)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "indexes")); custom && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the default index directory was made too: %v", err)
		}
	}
}

// writeOldLayout puts into the chain database in dir what the indexes kept
// there before they moved out: their records and markers at the tip.
func writeOldLayout(t *testing.T, dir string, tip chain.Hash, blocks []*chain.Block) {
	t.Helper()
	db := openRawStore(t, dir)
	defer db.Close()
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	set := func(k, v []byte) {
		if err := wb.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	set([]byte("mindex/txindex"), append(tip[:], 0, 0, 0, 0))
	set([]byte("mindex/addrindex"), append(tip[:], 1, 0, 0, 0))
	for _, b := range blocks {
		for _, id := range b.TxIDs() {
			set(append([]byte{'t'}, id[:]...), make([]byte, chain.HashSize+4))
			set(append([]byte{'a'}, id[:]...), make([]byte, 12))
			set(append([]byte{'x'}, id[:]...), make([]byte, 8))
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A chain database from before the indexes had their own holds their
// records and markers: the next start deletes them from it, says so, and the
// indexes on build themselves again in the index database.
func TestIndexesMoveOutOfTheChainDatabase(t *testing.T) {
	for _, on := range []bool{true, false} {
		dir := t.TempDir()
		c := openChain(t, dir)
		g := chaintest.New(chain.RegtestParams)
		base, spend, last := spendOnBase(t, c, g)
		c.Close()
		writeOldLayout(t, dir, last.Hash(), append(base, last))
		if keys := storeKeys(t, dir); keys["t"] != 103 || keys["mindex/txindex"] != 1 {
			t.Fatalf("old layout not written: %v", keys)
		}

		var logged lockedBuffer
		txIndex := indexers.NewTxIndex()
		cfg := blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: slog.New(slog.NewTextHandler(&logged, nil))}
		if on {
			cfg.Indexers = []blockchain.Indexer{txIndex, indexers.NewAddrIndex()}
		}
		c, err := blockchain.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		requireTip(t, c, last)
		if on {
			chaintest.WaitIndexes(t, c)
			if _, loc, err := txIndex.Find(spend.TxID()); err != nil || loc.Block != last.Hash() || loc.Height != 102 {
				t.Fatalf("indexes on: Find after the move: %+v, %v", loc, err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logged.String(), "the indexes moved out of the chain database") {
			t.Errorf("indexes on=%v: the move is not logged:\n%s", on, logged.String())
		}
		keys := storeKeys(t, dir)
		for k := range keys {
			if len(k) != 1 || !strings.Contains(chainKinds, k) {
				t.Errorf("indexes on=%v: chain database still holds %q records", on, k)
			}
		}
		if keys["b"] != 103 {
			t.Errorf("indexes on=%v: %d blocks left in the chain database, want 103", on, keys["b"])
		}
		if on {
			if idx := storeKeys(t, filepath.Join(dir, "indexes")); idx["t"] != 103 || idx["mindex/txindex"] != 1 {
				t.Errorf("index database after the move: %v", idx)
			}
		}
	}
}

// gatedIndex is a transaction index that refuses blocks while closed, so
// that it falls behind the chain where the test wants it.
type gatedIndex struct {
	*indexers.TxIndex
	closed atomic.Bool
}

var errGateClosed = errors.New("gate closed")

func (x *gatedIndex) ConnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	if x.closed.Load() {
		return errGateClosed
	}
	return x.TxIndex.ConnectBlock(b, u)
}

// An index far behind the tip is not synced, and its queries of what it does
// not hold yet fail at once saying how far behind it is, with an error that
// is not "not found", while those of what it holds are answered; after
// a stop without Close (as a kill leaves it: UTXO cache unflushed, the index
// where it was), it catches up on the next start.
func TestIndexFarBehindFailsAtOnceAndCatchesUp(t *testing.T) {
	defer blockchain.SetIndexSyncWait(time.Hour)()
	dir := t.TempDir()
	gated := &gatedIndex{TxIndex: indexers.NewTxIndex()}
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog,
		Indexers: []blockchain.Indexer{gated}})
	if err != nil {
		t.Fatal(err)
	}
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	chaintest.WaitIndexes(t, c)
	gated.closed.Store(true)
	spend := g.SpendAll(g.Coinbase(base[0].Hash()), 1000)
	tail := []*chain.Block{g.NextBlock(base[100].Hash(), spend)}
	tail = append(tail, g.Chain(tail[0].Hash(), blockchain.IndexNearTip+3)...)
	chaintest.MustProcess(t, c, tail...)
	behind := int32(len(tail))

	done := make(chan error, 1)
	go func() {
		_, _, err := gated.Find(spend.TxID())
		done <- err
	}()
	select {
	case err := <-done:
		var ie *blockchain.IndexError
		if !errors.As(err, &ie) || ie.Index != indexers.TxIndexName || ie.Disabled || ie.Behind != behind ||
			!errors.Is(err, blockchain.ErrIndexUnavailable) || errors.Is(err, blockchain.ErrNotFound) {
			t.Fatalf("query of an index %d blocks behind: %v", behind, err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("a query of an index %d blocks behind waits for it", behind)
	}
	// What the index holds already it answers for, as Core's does.
	if _, loc, err := gated.Find(base[50].Txs[0].TxID()); err != nil || loc.Block != base[50].Hash() || loc.Height != 51 {
		t.Fatalf("query of a transaction the index %d blocks behind holds: %+v, %v", behind, loc, err)
	}
	statuses := c.IndexStatuses()
	if len(statuses) != 1 || statuses[0].Synced || statuses[0].BestHeight != 101 {
		t.Fatalf("statuses with the transaction index %d blocks behind: %+v", behind, statuses)
	}
	if err := c.Abandon(); err != nil {
		t.Fatal(err)
	}

	c, txIndex, _ := openIndexed(t, dir)
	requireTip(t, c, tail[len(tail)-1])
	chaintest.WaitIndexes(t, c)
	if _, loc, err := txIndex.Find(spend.TxID()); err != nil || loc.Block != tail[0].Hash() {
		t.Fatalf("Find after catching up: %+v, %v", loc, err)
	}
	for _, st := range c.IndexStatuses() {
		if !st.Synced {
			t.Fatalf("index %+v at the tip is not synced", st)
		}
	}
}

// countingIndex is a transaction index that counts the blocks it applies.
type countingIndex struct {
	*indexers.TxIndex
	connected atomic.Int32
}

func (x *countingIndex) ConnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	x.connected.Add(1)
	return x.TxIndex.ConnectBlock(b, u)
}

// indexedSpend opens the chain in dir with both indexes and gives it
// spendOnBase's blocks, applied by the indexes.
func indexedSpend(t *testing.T, dir string) (c *blockchain.Chain, spend *chain.Tx, last *chain.Block) {
	t.Helper()
	c, _, _ = openIndexed(t, dir)
	_, spend, last = spendOnBase(t, c, chaintest.New(chain.RegtestParams))
	chaintest.WaitIndexes(t, c)
	return c, spend, last
}

// --reindex empties the index database, with the indexes on or off, and the
// indexes build themselves again from genesis; --reindex-chainstate keeps
// them where they are (Core's -reindex and -reindex-chainstate).
func TestReindexDropsTheIndexes(t *testing.T) {
	dir := t.TempDir()
	c, spend, last := indexedSpend(t, dir)
	c.Close()

	reopen := func(mode blockchain.Config) int32 {
		t.Helper()
		ix := &countingIndex{TxIndex: indexers.NewTxIndex()}
		mode.Params, mode.Dir, mode.Logger = chain.RegtestParams, dir, quietLog
		mode.Indexers = []blockchain.Indexer{ix}
		c, err := blockchain.Open(mode)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		requireTip(t, c, last)
		chaintest.WaitIndexes(t, c)
		if _, loc, err := ix.Find(spend.TxID()); err != nil || loc.Block != last.Hash() {
			t.Fatalf("Find after %+v: %+v, %v", mode, loc, err)
		}
		return ix.connected.Load()
	}
	if n := reopen(blockchain.Config{ReindexChainState: true}); n != 0 {
		t.Fatalf("--reindex-chainstate: the index applied %d blocks again, want none", n)
	}
	if n := reopen(blockchain.Config{Reindex: true}); n != 102 {
		t.Fatalf("--reindex: the index applied %d blocks, want all 102", n)
	}

	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, Reindex: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if keys := storeKeys(t, filepath.Join(dir, "indexes")); len(keys) != 0 {
		t.Fatalf("index database after --reindex with the indexes off: %v", keys)
	}
	if n := reopen(blockchain.Config{}); n != 102 {
		t.Fatalf("after --reindex with the indexes off: the index applied %d blocks, want all 102", n)
	}
}

// An index database ahead of the chain database, as a power loss may leave
// them (their files reach the disk apart): with its last blocks on a branch
// the chain database holds off its main chain, the index takes them back
// with their undo data rather than building itself again; with its last
// block one the chain database lost, it builds itself again from genesis.
// Either way it then answers for the main chain only.
func TestIndexDatabaseAheadOfTheChainDatabase(t *testing.T) {
	dir := t.TempDir()
	chainDir, indexDir := filepath.Join(dir, "chain"), filepath.Join(dir, "indexes")
	open := func() (*blockchain.Chain, *countingIndex) {
		t.Helper()
		ix := &countingIndex{TxIndex: indexers.NewTxIndex()}
		c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: chainDir, IndexDir: indexDir, Logger: quietLog,
			Indexers: []blockchain.Indexer{ix}})
		if err != nil {
			t.Fatal(err)
		}
		return c, ix
	}
	snapshot := func(from string) string {
		t.Helper()
		to := filepath.Join(t.TempDir(), "copy")
		if err := os.CopyFS(to, os.DirFS(from)); err != nil {
			t.Fatal(err)
		}
		return to
	}
	restore := func(snap, to string) {
		t.Helper()
		if err := os.RemoveAll(to); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(to, os.DirFS(snap)); err != nil {
			t.Fatal(err)
		}
	}
	// find waits for the index to reach the tip and looks tx up.
	find := func(ix *countingIndex, tx *chain.Tx) (indexers.TxLocation, error) {
		t.Helper()
		_, loc, err := ix.Find(tx.TxID())
		return loc, err
	}

	c, _ := open()
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	chaintest.WaitIndexes(t, c)
	c.Close()
	chainAtBase := snapshot(chainDir)

	// The index applies branch x; the chain then moves to the heavier y.
	c, ix := open()
	spendX := g.SpendAll(g.Coinbase(base[0].Hash()), 1000)
	x := []*chain.Block{g.NextBlock(base[100].Hash(), spendX)}
	x = append(x, g.NextBlock(x[0].Hash()))
	chaintest.MustProcess(t, c, x...)
	if loc, err := find(ix, spendX); err != nil || loc.Block != x[0].Hash() {
		t.Fatalf("Find on branch x: %+v, %v", loc, err)
	}
	c.Close()
	indexOnX := snapshot(indexDir)
	c, _ = open()
	spendY := g.SpendAll(g.Coinbase(base[1].Hash()), 1000)
	y := []*chain.Block{g.NextBlock(base[100].Hash(), spendY)}
	y = append(y, g.Chain(y[0].Hash(), 2)...)
	chaintest.MustProcess(t, c, y...)
	requireTip(t, c, y[2])
	chaintest.WaitIndexes(t, c)
	c.Close()

	// The index database on x, the chain database on y: x is taken back.
	restore(indexOnX, indexDir)
	c, ix = open()
	if _, err := find(ix, spendX); !errors.Is(err, blockchain.ErrNotFound) {
		t.Fatalf("Find of branch x's transaction once the index left x: %v", err)
	}
	if loc, err := find(ix, spendY); err != nil || loc.Block != y[0].Hash() {
		t.Fatalf("Find of branch y's transaction: %+v, %v", loc, err)
	}
	if n := ix.connected.Load(); n != int32(len(y)) {
		t.Fatalf("the index applied %d blocks to leave x for y, want the %d of y", n, len(y))
	}
	c.Close()

	// The index database on y, the chain database back at the base, without
	// y: the index builds itself again and holds nothing of y.
	restore(chainAtBase, chainDir)
	c, ix = open()
	defer c.Close()
	requireTip(t, c, base[100])
	if _, err := find(ix, spendY); !errors.Is(err, blockchain.ErrNotFound) {
		t.Fatalf("Find of a transaction of blocks the chain database lost: %v", err)
	}
	if n := ix.connected.Load(); n != int32(len(base)) {
		t.Fatalf("the index applied %d blocks after the chain database lost its last ones, want all %d from genesis", n, len(base))
	}
}

// A power loss may keep the index database's last block and lose the chain
// database's connect of it, while keeping the block itself, stored when it
// arrived: the chain connects it again at the start, and the index, on it,
// goes on from there rather than building itself again from genesis.
func TestIndexOnABlockTheChainConnectsAgain(t *testing.T) {
	dir := t.TempDir()
	c, spend, last := indexedSpend(t, dir)
	// Abandoned, not closed: the stored UTXO set stays where the last flush
	// left it, before the last block.
	if err := c.Abandon(); err != nil {
		t.Fatal(err)
	}
	if err := blockchain.LoseConnect(dir, last, blockHeight(last)); err != nil {
		t.Fatal(err)
	}

	ix := &countingIndex{TxIndex: indexers.NewTxIndex()}
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, Indexers: []blockchain.Indexer{ix}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	requireTip(t, c, last)
	if _, loc, err := ix.Find(spend.TxID()); err != nil || loc.Block != last.Hash() {
		t.Fatalf("Find: %+v, %v", loc, err)
	}
	if n := ix.connected.Load(); n != 0 {
		t.Fatalf("the index applied %d blocks again, want none", n)
	}
}
