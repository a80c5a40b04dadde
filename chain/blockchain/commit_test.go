package blockchain_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// A block whose connect fails to commit leaves the UTXO cache as the disk
// has it: the outputs it spent are still there, those it created are not,
// and the tip has not moved. Once the store works again, a restart connects
// the block (it is stored) and ends where a chain that never failed does.
func TestFailedCommitRollsBackCache(t *testing.T) {
	dir := t.TempDir()
	c := openChain(t, dir)
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	tip := base[len(base)-1]
	// The block spends one output in the cache and one on the disk, and one
	// created within itself.
	if err := c.FlushChainState(); err != nil {
		t.Fatal(err)
	}
	cached := g.SpendAll(g.Coinbase(base[0].Hash()), 1000)
	tip = g.NextBlock(tip.Hash(), cached)
	chaintest.MustProcess(t, c, tip)
	parent := tip.Hash()
	fromDisk, fromCache := g.Coinbase(base[1].Hash()), chain.OutPoint{TxID: cached.TxID()}
	first := g.SpendAll(fromDisk, 1000)
	g.NextBlock(parent, first) // the generator learns first's outputs
	inner := g.SpendAll(chain.OutPoint{TxID: first.TxID()}, 1000)
	block := g.NextBlock(parent, first, inner, g.SpendAll(fromCache, 1000))
	created := chain.OutPoint{TxID: inner.TxID()}

	failure := errors.New("disk full")
	blockchain.SetCommitHook(func(what string, txn *badger.Txn) error {
		if what == "connect" {
			return failure
		}
		return txn.Commit()
	})
	_, err := c.ProcessBlock(block)
	blockchain.SetCommitHook(nil)
	if !errors.Is(err, failure) {
		t.Fatalf("process: %v, want the commit's failure", err)
	}
	if c.Best().Hash != parent {
		t.Fatalf("tip moved to %s after a failed commit", c.Best().Hash)
	}
	for _, op := range []chain.OutPoint{fromDisk, fromCache} {
		if e, err := c.FetchUtxo(op); err != nil || e == nil {
			t.Fatalf("output %s spent by the failed block is gone from the cache (%v)", op, err)
		}
	}
	for _, op := range []chain.OutPoint{created, {TxID: block.Txs[0].TxID()}} {
		if e := c.LookupUtxo(op); e != nil {
			t.Fatalf("output %s of the failed block is in the cache", op)
		}
	}
	stats, err := c.UtxoStats()
	if err != nil {
		t.Fatal(err)
	}
	fresh := openChain(t, t.TempDir())
	chaintest.MustProcess(t, fresh, append(base, tip)...)
	if want := utxoHash(t, fresh); stats.SetHash != want {
		t.Fatal("UTXO set after the failed commit differs from the one at its parent")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	requireSameState(t, openChain(t, dir), append(base, tip, block))
}

// While a block's connect commits, no reader (the mempool, RPC) sees the
// outputs it creates: the commit may fail and the outputs be taken back, and
// a mempool that accepted a transaction spending one would then offer miners
// a transaction with a missing input.
func TestCommitWindowHidesBlockFromReaders(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	spend := g.SpendAll(g.Coinbase(base[0].Hash()), 1000)
	block := g.NextBlock(base[len(base)-1].Hash(), spend)
	created := chain.OutPoint{TxID: spend.TxID()}

	failure := errors.New("disk full")
	seen := false
	blockchain.SetCommitHook(func(what string, txn *badger.Txn) error {
		if what != "connect" {
			return txn.Commit()
		}
		// Until readers are held off, or the block's output shows.
		for {
			e, readable := blockchain.PeekUtxo(c, created)
			if !readable {
				break
			}
			if e != nil {
				seen = true
				break
			}
			runtime.Gosched()
		}
		return failure
	})
	_, err := c.ProcessBlock(block)
	blockchain.SetCommitHook(nil)
	if !errors.Is(err, failure) {
		t.Fatalf("process: %v, want the commit's failure", err)
	}
	if seen {
		t.Fatal("a reader saw an output of a block whose commit then failed")
	}
	if e := c.LookupUtxo(created); e != nil {
		t.Fatal("the failed block's output is in the cache")
	}
}

// A block whose store fails is not connected (its connect waits for the
// store) and is not taken as stored: processed again once the store works,
// it connects.
func TestFailedBlockStoreIsNotConnected(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	parent := base[len(base)-1]
	spent := g.Coinbase(base[0].Hash())
	block := g.NextBlock(parent.Hash(), g.SpendAll(spent, 1000))

	failure := errors.New("disk full")
	blockchain.SetCommitHook(func(what string, txn *badger.Txn) error {
		if what == "block" {
			return failure
		}
		return txn.Commit()
	})
	_, err := c.ProcessBlock(block)
	blockchain.SetCommitHook(nil)
	if !errors.Is(err, failure) {
		t.Fatalf("process: %v, want the store's failure", err)
	}
	requireTip(t, c, parent)
	if e := c.LookupUtxo(spent); e == nil {
		t.Fatal("the output the unstored block spends is gone")
	}
	res, err := c.ProcessBlock(block)
	if err != nil || !res.MainChain {
		t.Fatalf("process again: %+v %v", res, err)
	}
	requireSameState(t, c, append(base, block))
}

// fanOut opens a chain with a mature base and connects a block on it whose
// transaction fan has 300 outputs; txs spend one each (the generator knows
// their outputs; none is processed), more inputs than a prefetch batch.
func fanOut(t *testing.T) (c *blockchain.Chain, g *chaintest.Generator, base []*chain.Block, fanBlock *chain.Block, fan *chain.Tx, txs []*chain.Tx) {
	t.Helper()
	c = openChain(t, t.TempDir())
	g = chaintest.New(chain.RegtestParams)
	base = matureBase(t, c, g)
	values := make([]uint64, 300)
	for i := range values {
		values[i] = chain.RegtestParams.Subsidy(1)/300 - 100
	}
	fan = g.Spend([]chain.OutPoint{g.Coinbase(base[0].Hash())}, values...)
	fanBlock = g.NextBlock(base[100].Hash(), fan)
	chaintest.MustProcess(t, c, fanBlock)
	for i := range 300 {
		txs = append(txs, g.SpendAll(chain.OutPoint{TxID: fan.TxID(), Index: uint32(i)}, 1000))
	}
	g.NextBlock(fanBlock.Hash(), txs...)
	return c, g, base, fanBlock, fan, txs
}

// A block of more inputs than one prefetch batch connects with spends of
// outputs it creates itself, from an earlier batch and from the same one,
// and is rejected for an input missing in a later batch.
func TestConnectAcrossPrefetchBatches(t *testing.T) {
	c, g, base, fanBlock, _, txs := fanOut(t)
	early := g.SpendAll(chain.OutPoint{TxID: txs[1].TxID()}, 1000)
	g.NextBlock(fanBlock.Hash(), early)
	late := g.SpendAll(chain.OutPoint{TxID: early.TxID()}, 1000)

	missing := g.Spend([]chain.OutPoint{{TxID: chaintest.TxIDFromSeed(7)}}, 1000)
	bad := g.NextBlock(fanBlock.Hash(), append(append([]*chain.Tx{}, txs...), missing)...)
	if _, err := c.ProcessBlock(bad); !errors.Is(err, chain.ErrMissingTxOut) {
		t.Fatalf("block with a missing input in its last batch: %v, want %v", err, chain.ErrMissingTxOut)
	}
	good := g.NextBlock(fanBlock.Hash(), append(append([]*chain.Tx{}, txs...), early, late)...)
	chaintest.MustProcess(t, c, good)
	requireSameState(t, c, append(base, fanBlock, good))
}

// The spends a block's prefetch batches cannot see: an output spent twice
// with a batch boundary between the spends, and an output created by a later
// transaction of the block, are rejected; a block connected through several
// batches disconnects in a reorganisation to the state its parent had.
func TestPrefetchBatchesDoubleSpendAndReorg(t *testing.T) {
	c, g, base, fanBlock, fan, txs := fanOut(t)

	twice := g.SpendAll(chain.OutPoint{TxID: fan.TxID()}, 2000)
	double := g.NextBlock(fanBlock.Hash(), append(append([]*chain.Tx{}, txs...), twice)...)
	if _, err := c.ProcessBlock(double); !errors.Is(err, chain.ErrMissingTxOut) {
		t.Fatalf("output spent in the first batch and again in the last: %v, want %v", err, chain.ErrMissingTxOut)
	}
	forward := g.SpendAll(chain.OutPoint{TxID: txs[299].TxID()}, 1000)
	ahead := g.NextBlock(fanBlock.Hash(), append([]*chain.Tx{forward}, txs...)...)
	if _, err := c.ProcessBlock(ahead); !errors.Is(err, chain.ErrMissingTxOut) {
		t.Fatalf("spend of an output a later transaction creates: %v, want %v", err, chain.ErrMissingTxOut)
	}
	requireTip(t, c, fanBlock)

	chained := g.SpendAll(chain.OutPoint{TxID: txs[0].TxID()}, 1000)
	wide := g.NextBlock(fanBlock.Hash(), append(append([]*chain.Tx{}, txs...), chained)...)
	chaintest.MustProcess(t, c, wide)
	requireSameState(t, c, append(base, fanBlock, wide))
	alt := g.Chain(fanBlock.Hash(), 2)
	chaintest.MustProcess(t, c, alt...)
	requireTip(t, c, alt[1])
	requireSameState(t, c, append(append(base, fanBlock), alt...))
}

// A block whose ancestor turns out invalid while the block is being stored
// (the reorganisation it starts connects the ancestor first) keeps the
// invalid mark in its stored header record: the store, committing late,
// does not overwrite the record the mark was written in.
func TestLateBlockStoreKeepsInvalidMark(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	tip := base[len(base)-1]
	// bad ties with the tip, so it is stored but not connected; child, on
	// it, has more work and makes the chain try bad.
	bad := g.NextBlock(tip.Header.PrevBlock, g.Spend([]chain.OutPoint{{TxID: chaintest.TxIDFromSeed(3)}}, 1000))
	if res, err := c.ProcessBlock(bad); err != nil || res.MainChain {
		t.Fatalf("process the tying block: %+v %v", res, err)
	}
	child := g.NextBlock(bad.Hash())

	blockchain.SetCommitHook(func(what string, txn *badger.Txn) error {
		if what == "block" {
			// The store commits once the chain marked the block invalid.
			for !c.IsKnownInvalid(child.Hash()) {
				runtime.Gosched()
			}
		}
		return txn.Commit()
	})
	_, err := c.ProcessBlock(child)
	blockchain.SetCommitHook(nil)
	if !errors.Is(err, chain.ErrInvalidAncestor) {
		t.Fatalf("process the child of an invalid block: %v, want %v", err, chain.ErrInvalidAncestor)
	}
	requireTip(t, c, tip)
	if invalid, err := blockchain.StoredInvalid(c, child.Hash()); err != nil || !invalid {
		t.Fatalf("stored record of the child says invalid: %v (%v), want true", invalid, err)
	}
}
