package blockchain_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// batchWatchIndex is an address index that records the batch each block
// went in, stops in a block's ConnectBlock until the test releases it, and
// fails a block when told: the test decides where the index is behind.
type batchWatchIndex struct {
	*indexers.AddrIndex
	mu      sync.Mutex
	batches map[chain.Hash]*blockchain.IndexBatch
	holdAt  chain.Hash
	entered chan struct{} // receives when ConnectBlock stops at holdAt
	release chan struct{}
	stop    chan struct{} // closed when the test ends, failed or not
	failAt  chain.Hash
	failed  chan struct{} // receives when ConnectBlock fails failAt
}

var errFailAt = errors.New("failing on purpose")

func newBatchWatchIndex() *batchWatchIndex {
	return &batchWatchIndex{AddrIndex: indexers.NewAddrIndex(), batches: make(map[chain.Hash]*blockchain.IndexBatch),
		entered: make(chan struct{}), release: make(chan struct{}), stop: make(chan struct{}), failed: make(chan struct{}, 1)}
}

func (x *batchWatchIndex) ConnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	x.mu.Lock()
	x.batches[u.Hash] = b
	hold, fail := u.Hash == x.holdAt, u.Hash == x.failAt
	x.mu.Unlock()
	if hold {
		select {
		case x.entered <- struct{}{}:
			<-x.release
		case <-x.stop:
		}
	}
	if fail {
		select {
		case x.failed <- struct{}{}:
		case <-x.stop:
		}
		return errFailAt
	}
	return x.AddrIndex.ConnectBlock(b, u)
}

// hold makes the index stop when it applies block h.
func (x *batchWatchIndex) hold(h chain.Hash) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.holdAt = h
}

func (x *batchWatchIndex) failOn(h chain.Hash) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.failAt = h
}

func (x *batchWatchIndex) batch(h chain.Hash) *blockchain.IndexBatch {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.batches[h]
}

// sameBatch fails the test unless the blocks went into the index in one
// batch.
func (x *batchWatchIndex) sameBatch(t *testing.T, blocks ...*chain.Block) {
	t.Helper()
	for _, b := range blocks[1:] {
		if x.batch(b.Hash()) == nil || x.batch(b.Hash()) != x.batch(blocks[0].Hash()) {
			t.Fatalf("block %d went into the index in a batch of its own, not with block %d", blockHeight(b), blockHeight(blocks[0]))
		}
	}
}

// openBatchWatched opens the chain in dir with a batchWatchIndex; close
// says whether the test's end closes it.
func openBatchWatched(t *testing.T, dir string, closeAtEnd bool) (*blockchain.Chain, *batchWatchIndex) {
	t.Helper()
	ix := newBatchWatchIndex()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, Indexers: []blockchain.Indexer{ix}})
	if err != nil {
		t.Fatal(err)
	}
	if closeAtEnd {
		t.Cleanup(func() { c.Close() })
	}
	// Runs before the Close: a test that fails with the index held lets
	// it go.
	t.Cleanup(func() { close(ix.stop) })
	return c, ix
}

// heldAfterBase opens the chain in dir as openBatchWatched does, processes
// a mature base, which the index applies, and then a block a, which the
// index stops in: the blocks the test processes next wait for it, for a
// batch of their own once the test releases it.
func heldAfterBase(t *testing.T, dir string, closeAtEnd bool) (c *blockchain.Chain, ix *batchWatchIndex, g *chaintest.Generator, base []*chain.Block, a *chain.Block) {
	t.Helper()
	c, ix = openBatchWatched(t, dir, closeAtEnd)
	g = chaintest.New(chain.RegtestParams)
	base = matureBase(t, c, g)
	chaintest.WaitIndexes(t, c)
	a = g.NextBlock(base[100].Hash())
	ix.hold(a.Hash())
	chaintest.MustProcess(t, c, a)
	<-ix.entered
	return c, ix, g, base, a
}

// addrHistoryKey is the address index's key of what the transaction at pos
// in the block at height paid to or spent from pkh.
func addrHistoryKey(pkh [chain.PubKeyHashSize]byte, height int32, pos int) []byte {
	k := binary.BigEndian.AppendUint32(append([]byte{'p'}, pkh[:]...), uint32(height))
	return binary.BigEndian.AppendUint32(k, uint32(pos))
}

// addrAnswers returns what the address index lists for pkh: its unspent
// outputs and its history.
func addrAnswers(t *testing.T, ix *indexers.AddrIndex, pkh [chain.PubKeyHashSize]byte) (utxos []chain.OutPoint, history []chain.Hash) {
	t.Helper()
	gotUtxos, err := ix.Utxos(pkh)
	if err != nil {
		t.Fatal(err)
	}
	gotHistory, err := ix.TxIDs(pkh)
	if err != nil {
		t.Fatal(err)
	}
	return mapSlice(gotUtxos, func(u indexers.AddressUtxo) chain.OutPoint { return u.OutPoint }),
		mapSlice(gotHistory, func(tx indexers.AddressTx) chain.Hash { return tx.TxID })
}

// requireAddr fails the test unless the address index lists for pkh the
// unspent outputs and the history given (nil for none).
func requireAddr(t *testing.T, ix *indexers.AddrIndex, pkh [chain.PubKeyHashSize]byte, utxos []chain.OutPoint, history []chain.Hash) {
	t.Helper()
	gotUtxos, gotHistory := addrAnswers(t, ix, pkh)
	if !slices.Equal(gotUtxos, utxos) {
		t.Errorf("unspent outputs of %x: %v, want %v", pkh, gotUtxos, utxos)
	}
	if !slices.Equal(gotHistory, history) {
		t.Errorf("history of %x: %v, want %v", pkh, gotHistory, history)
	}
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	var out []U
	for _, v := range s {
		out = append(out, f(v))
	}
	return out
}

// An index behind the chain applies the blocks it missed in one batch.
// Connecting writes each address index record once and deletes none: the
// records of an output created and spent within the batch and of one spent
// in a later batch are there once each, with no tombstone.
func TestIndexBehindAppliesBlocksInOneBatch(t *testing.T) {
	c, ix, g, base, a := heldAfterBase(t, t.TempDir(), true)
	key := g.NewKey()
	pay := g.SpendTo([]chain.OutPoint{g.Coinbase(base[1].Hash())}, chain.TxOut{Value: 1000, PubKeyHash: key})
	b1 := g.NextBlock(a.Hash(), pay)
	spend := g.SpendAll(chain.OutPoint{TxID: pay.TxID()}, 100)
	b2 := g.NextBlock(b1.Hash(), spend)
	chaintest.MustProcess(t, c, b1, b2)
	close(ix.release)
	chaintest.WaitIndexes(t, c)

	ix.sameBatch(t, b1, b2)
	if ix.batch(a.Hash()) == ix.batch(b1.Hash()) {
		t.Fatal("the blocks connected while the index applied the one before went into its batch")
	}
	requireAddr(t, ix.AddrIndex, key, nil, []chain.Hash{pay.TxID(), spend.TxID()})
	if n, err := blockchain.IndexKeyVersions(c, addrHistoryKey(key, g.Height(b1.Hash()), 1)); err != nil || n != 1 {
		t.Fatalf("the record of an output created and spent within a batch has %d versions in the index database (%v), want 1", n, err)
	}
	// The coinbase it spends was indexed long before: its record stays.
	if n, err := blockchain.IndexKeyVersions(c, addrHistoryKey(g.PKH, g.Height(base[1].Hash()), 0)); err != nil || n != 1 {
		t.Fatalf("the record of an output spent in a later batch has %d versions in the index database (%v), want 1", n, err)
	}
}

// A batch that fails half way writes nothing, marker included: the index
// goes on after a restart from the block before the batch, and then holds
// the batch's blocks.
func TestIndexBatchFailingHalfWayWritesNothing(t *testing.T) {
	dir := t.TempDir()
	c, ix, g, base, a := heldAfterBase(t, dir, false)
	key := g.NewKey()
	pay := g.SpendTo([]chain.OutPoint{g.Coinbase(base[1].Hash())}, chain.TxOut{Value: 1000, PubKeyHash: key})
	b1 := g.NextBlock(a.Hash(), pay)
	b2 := g.NextBlock(b1.Hash())
	chaintest.MustProcess(t, c, b1, b2)
	ix.failOn(b2.Hash())
	close(ix.release)
	<-ix.failed
	ix.sameBatch(t, b1, b2)
	if err := c.Abandon(); err != nil {
		t.Fatal(err)
	}

	idb := openRawStore(t, filepath.Join(dir, "indexes"))
	err := idb.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte("mindex/" + indexers.AddrIndexName))
		if err != nil {
			return err
		}
		marker, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if want := a.Hash(); !bytes.HasPrefix(marker, want[:]) {
			t.Errorf("marker %x after the failed batch, want block %s before it", marker, want)
		}
		if _, err := txn.Get(addrHistoryKey(key, g.Height(b1.Hash()), 1)); !errors.Is(err, badger.ErrKeyNotFound) {
			t.Errorf("a record of the failed batch: %v", err)
		}
		return nil
	})
	idb.Close()
	if err != nil {
		t.Fatal(err)
	}

	c, _, addrIndex := openIndexed(t, dir)
	chaintest.WaitIndexes(t, c)
	requireAddr(t, addrIndex, key, []chain.OutPoint{{TxID: pay.TxID()}}, []chain.Hash{pay.TxID()})
}

// A batch built from blocks the chain leaves while the index applies them
// is written, then taken back block by block, and the new branch applied in
// a batch: the index ends as the new main chain has it.
func TestIndexBatchAcrossAReorg(t *testing.T) {
	c, ix, g, base, a := heldAfterBase(t, t.TempDir(), true)
	key, other := g.NewKey(), g.NewKey()
	pay := g.SpendTo([]chain.OutPoint{g.Coinbase(base[1].Hash())}, chain.TxOut{Value: 1000, PubKeyHash: key})
	b1 := g.NextBlock(a.Hash(), pay)
	spend := g.SpendAll(chain.OutPoint{TxID: pay.TxID()}, 100)
	b2 := g.NextBlock(b1.Hash(), spend)
	chaintest.MustProcess(t, c, b1, b2)
	// The index stops in the batch of b1 and b2 while the chain leaves them.
	ix.hold(b1.Hash())
	ix.release <- struct{}{}
	<-ix.entered
	payOther := g.SpendTo([]chain.OutPoint{g.Coinbase(base[2].Hash())}, chain.TxOut{Value: 2000, PubKeyHash: other})
	d := []*chain.Block{g.NextBlock(a.Hash(), payOther)}
	d = append(d, g.Chain(d[0].Hash(), 2)...)
	chaintest.MustProcess(t, c, d...)
	requireTip(t, c, d[2])
	close(ix.release)
	chaintest.WaitIndexes(t, c)

	ix.sameBatch(t, b1, b2)
	ix.sameBatch(t, d...)
	requireAddr(t, ix.AddrIndex, key, nil, nil)
	requireAddr(t, ix.AddrIndex, other, []chain.OutPoint{{TxID: payOther.TxID()}}, []chain.Hash{payOther.TxID()})
	utxos, err := ix.Utxos(g.PKH)
	if err != nil {
		t.Fatal(err)
	}
	unspent := func(op chain.OutPoint) bool {
		return slices.ContainsFunc(utxos, func(u indexers.AddressUtxo) bool { return u.OutPoint == op })
	}
	if !unspent(g.Coinbase(base[1].Hash())) || unspent(g.Coinbase(base[2].Hash())) {
		t.Fatal("the coinbases the branches spent are not as the main chain has them")
	}
}

// The largest batch an index writes, one just short of indexBatchRecords
// records and then a largest block of outputs each paying an address of its
// own (a record an output), fits in one transaction of the index database;
// and the block is taken back again in one.
func TestLargestIndexBatchCommits(t *testing.T) {
	c, ix, g, base, a := heldAfterBase(t, t.TempDir(), true)
	var next uint32
	payEach := func(n int) []chain.TxOut {
		outs := make([]chain.TxOut, n)
		for i := range outs {
			next++
			outs[i].Value = 1000
			binary.BigEndian.PutUint32(outs[i].PubKeyHash[:], next)
		}
		return outs
	}
	// A record for the coinbase, one for the spend of an indexed coinbase.
	fill := g.SpendTo([]chain.OutPoint{g.Coinbase(base[0].Hash())}, payEach(blockchain.IndexBatchRecords-4)...)
	x := g.NextBlock(a.Hash(), fill)
	n := (chain.MaxBlockSize - 400) / (8 + chain.PubKeyHashSize)
	big := g.NextBlock(x.Hash(), g.SpendTo([]chain.OutPoint{g.Coinbase(base[1].Hash())}, payEach(n)...))
	if size := big.SerializeSize(); size > chain.MaxBlockSize {
		t.Fatalf("block of %d bytes, over the limit", size)
	}
	chaintest.MustProcess(t, c, x, big)
	close(ix.release)
	chaintest.WaitIndexes(t, c)

	ix.sameBatch(t, x, big)
	if got, want := ix.batch(big.Hash()).Len(), blockchain.IndexBatchRecords-2+n+2; got != want {
		t.Fatalf("the batch wrote %d records, want the largest, %d", got, want)
	}
	last := big.Txs[1].Outputs[n-1]
	requireAddr(t, ix.AddrIndex, last.PubKeyHash, []chain.OutPoint{{TxID: big.Txs[1].TxID(), Index: uint32(n - 1)}}, []chain.Hash{big.Txs[1].TxID()})

	fork := g.Chain(base[100].Hash(), 4)
	chaintest.MustProcess(t, c, fork...)
	requireTip(t, c, fork[3])
	chaintest.WaitIndexes(t, c)
	requireAddr(t, ix.AddrIndex, last.PubKeyHash, nil, nil)
}

// While the chain catches up, an index at the tip waits for the blocks that
// follow a new one and applies them in one batch.
func TestIndexGathersBlocksWhileCatchingUp(t *testing.T) {
	t.Cleanup(blockchain.SetIndexGatherDelay(2 * time.Second))
	c, ix := openBatchWatched(t, t.TempDir(), true)
	g := chaintest.New(chain.RegtestParams)
	blocks := g.Chain(chain.RegtestParams.GenesisHash, 2)
	chaintest.MustProcess(t, c, blocks[0])
	// Time enough for an index that did not wait to apply the first block
	// alone; the second still comes within the wait.
	time.Sleep(300 * time.Millisecond)
	chaintest.MustProcess(t, c, blocks[1])
	if c.CaughtUp() {
		t.Fatal("a chain of blocks dated at the regtest genesis counts as caught up")
	}
	chaintest.WaitIndexes(t, c)
	ix.sameBatch(t, blocks...)
}

// While the chain catches up, an index that has just applied every block
// there was also waits before its next batch: the blocks connected while it
// applied one go in the next with those that follow them, not in a batch of
// their own.
func TestIndexGathersAfterABatchWhileCatchingUp(t *testing.T) {
	t.Cleanup(blockchain.SetIndexGatherDelay(2 * time.Second))
	c, ix := openBatchWatched(t, t.TempDir(), true)
	g := chaintest.New(chain.RegtestParams)
	blocks := g.Chain(chain.RegtestParams.GenesisHash, 3)
	ix.hold(blocks[0].Hash())
	chaintest.MustProcess(t, c, blocks[0])
	<-ix.entered
	chaintest.MustProcess(t, c, blocks[1])
	ix.release <- struct{}{}
	// Time enough for an index that did not wait to apply the second block
	// alone; the third still comes within the wait.
	time.Sleep(300 * time.Millisecond)
	chaintest.MustProcess(t, c, blocks[2])
	chaintest.WaitIndexes(t, c)
	if ix.batch(blocks[0].Hash()) == ix.batch(blocks[1].Hash()) {
		t.Fatal("the block connected while the index applied the first went into the first's batch")
	}
	ix.sameBatch(t, blocks[1:]...)
}

// Once the chain has caught up, an index follows each block at once.
func TestIndexFollowsAtOnceWhenCaughtUp(t *testing.T) {
	t.Cleanup(blockchain.SetIndexGatherDelay(time.Hour))
	c, _ := openBatchWatched(t, t.TempDir(), true)
	g := chaintest.New(chain.RegtestParams)
	now := uint32(time.Now().Unix())
	parent := chain.RegtestParams.GenesisHash
	for i := range uint32(3) {
		b := g.BuildBlock(parent, func(b *chain.Block) { b.Header.Time = now + i })
		chaintest.MustProcess(t, c, b)
		parent = b.Hash()
	}
	if !c.CaughtUp() {
		t.Fatal("a chain whose tip is dated now has not caught up")
	}
	chaintest.WaitIndexes(t, c) // fails after 20 s: it would wait an hour
}
