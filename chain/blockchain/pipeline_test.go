package blockchain_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// runLength is the length of the runs the pipeline tests connect.
const runLength = 6

// pipelineRun builds runLength blocks on base's tip. Block j spends the
// coinbase of base[j] (spends[j]) and, but the first, the output of
// spends[j-1] (chained[j]): each block spends an output the run created
// and had not committed when the block was checked. extra(j) gives
// transactions block j takes after those, and replace(j), if it returns
// one, is block j's chained[j] in its place.
func pipelineRun(g *chaintest.Generator, base []*chain.Block, extra func(j int, spends []*chain.Tx) []*chain.Tx, replace func(j int, spends []*chain.Tx) *chain.Tx) (run []*chain.Block, spends, chained []*chain.Tx) {
	parent := base[len(base)-1].Hash()
	chained = make([]*chain.Tx, runLength)
	for j := range runLength {
		spend := g.SpendAll(g.Coinbase(base[j].Hash()), 1000)
		spends = append(spends, spend)
		txs := []*chain.Tx{spend}
		if j > 0 {
			chained[j] = g.SpendAll(chain.OutPoint{TxID: spends[j-1].TxID()}, 1000)
			if replace != nil {
				if tx := replace(j, spends); tx != nil {
					chained[j] = tx
				}
			}
			txs = append(txs, chained[j])
		}
		if extra != nil {
			txs = append(txs, extra(j, spends)...)
		}
		b := g.NextBlock(parent, txs...)
		run = append(run, b)
		parent = b.Hash()
	}
	return run, spends, chained
}

// requireRunOutcome checks that ProcessBlocks connected run's blocks before
// k, failed block k with want, and failed its descendants by ancestry.
func requireRunOutcome(t *testing.T, c *blockchain.Chain, run []*chain.Block, out []blockchain.BlockOutcome, k int, want error) {
	t.Helper()
	if len(out) != len(run) {
		t.Fatalf("%d outcomes for %d blocks", len(out), len(run))
	}
	for j, o := range out {
		switch {
		case j < k && (o.Err != nil || !o.MainChain):
			t.Fatalf("block %d before the failing one: %+v", j, o)
		case j == k && !errors.Is(o.Err, want):
			t.Fatalf("failing block %d: %v, want %v", j, o.Err, want)
		case j > k && (!errors.Is(o.Err, chain.ErrInvalidAncestor) || o.MainChain):
			t.Fatalf("block %d after the failing one: %+v, want %v", j, o, chain.ErrInvalidAncestor)
		}
		if j >= k && !c.IsKnownInvalid(run[j].Hash()) {
			t.Fatalf("block %d is not known invalid", j)
		}
	}
	var re *chain.RuleError
	if !errors.As(out[k].Err, &re) {
		t.Fatalf("failing block's error %v is not a *RuleError", out[k].Err)
	}
	requireTip(t, c, run[k-1])
}

// A run whose block k has two false signatures connects the blocks before k,
// fails k with the error ProcessBlock gives it (naming the first false
// signature's transaction) and its descendants by ancestry; the UTXO set is
// that of a chain that only saw the blocks before k.
func TestProcessBlocksBadSignature(t *testing.T) {
	const k = 3
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	run, _, chained := pipelineRun(g, base, func(j int, _ []*chain.Tx) []*chain.Tx {
		if j != k {
			return nil
		}
		// base[k+1]'s coinbase, the last mature at k's height.
		return []*chain.Tx{badSignatureTx(g, g.Coinbase(base[k+1].Hash()))}
	}, func(j int, spends []*chain.Tx) *chain.Tx {
		if j != k {
			return nil
		}
		return badSignatureTx(g, chain.OutPoint{TxID: spends[j-1].TxID()})
	})
	out := c.ProcessBlocks(run)
	requireRunOutcome(t, c, run, out, k, chain.ErrBadSignature)
	if !strings.Contains(out[k].Err.Error(), chained[k].TxID().String()) {
		t.Fatalf("error %q does not name the first false signature's transaction %s", out[k].Err, chained[k].TxID())
	}
	requireSameState(t, c, append(base, run[:k]...))

	// One by one, the block fails the same way.
	one := openChain(t, t.TempDir())
	chaintest.MustProcess(t, one, append(base, run[:k]...)...)
	if _, err := one.ProcessBlock(run[k]); err == nil || err.Error() != out[k].Err.Error() {
		t.Fatalf("ProcessBlock: %v, ProcessBlocks: %v", err, out[k].Err)
	}
}

// A run whose block k breaks a rule of the sequential checks connects the
// blocks before it, including their spends of outputs earlier blocks of the
// run created, and fails k and its descendants: k spends an output block k-1
// spent (created before the run, or by block k-2 of it), or more than its
// input.
func TestProcessBlocksSequentialFailure(t *testing.T) {
	const k = 3
	for _, tc := range []struct {
		name  string
		extra func(g *chaintest.Generator, base []*chain.Block, spends []*chain.Tx) *chain.Tx
		want  error
	}{
		{"spends an output of the block before's", func(g *chaintest.Generator, base []*chain.Block, _ []*chain.Tx) *chain.Tx {
			return g.SpendAll(g.Coinbase(base[k-1].Hash()), 2000)
		}, chain.ErrMissingTxOut},
		{"spends an output the run created and the block before spent", func(g *chaintest.Generator, _ []*chain.Block, spends []*chain.Tx) *chain.Tx {
			return g.SpendAll(chain.OutPoint{TxID: spends[k-2].TxID()}, 2000)
		}, chain.ErrMissingTxOut},
		{"overspends", func(g *chaintest.Generator, base []*chain.Block, _ []*chain.Tx) *chain.Tx {
			return g.Spend([]chain.OutPoint{g.Coinbase(base[k+1].Hash())}, chain.RegtestParams.Subsidy(1)+1)
		}, chain.ErrSpendTooHigh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openChain(t, t.TempDir())
			g := chaintest.New(chain.RegtestParams)
			base := matureBase(t, c, g)
			run, _, _ := pipelineRun(g, base, func(j int, spends []*chain.Tx) []*chain.Tx {
				if j != k {
					return nil
				}
				return []*chain.Tx{tc.extra(g, base, spends)}
			}, nil)
			out := c.ProcessBlocks(run)
			requireRunOutcome(t, c, run, out, k, tc.want)
			requireSameState(t, c, append(base, run[:k]...))
		})
	}
}

// A run connects under assumevalid with a false signature in a block the
// assumed-valid block descends from.
func TestProcessBlocksAssumeValid(t *testing.T) {
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 101)
	run, _, _ := pipelineRun(g, base, nil, func(j int, spends []*chain.Tx) *chain.Tx {
		if j != 2 {
			return nil
		}
		return badSignatureTx(g, chain.OutPoint{TxID: spends[j-1].TxID()})
	})
	above := g.Chain(run[runLength-1].Hash(), 2)
	av := above[1].Hash()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: quietLog, AssumeValid: &av})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chaintest.MustProcess(t, c, base...)
	var headers []chain.Header
	for _, b := range append(append([]*chain.Block{}, run...), above...) {
		headers = append(headers, b.Header)
	}
	if err := c.AcceptHeaders(headers); err != nil {
		t.Fatal(err)
	}
	for j, o := range c.ProcessBlocks(run) {
		if o.Err != nil || !o.MainChain {
			t.Fatalf("block %d: %+v", j, o)
		}
	}
	requireTip(t, c, run[runLength-1])
}

// A commit that fails in the middle of a run stops it there: the blocks
// before stay connected, the failing one and those after are not, the cache
// holds none of their changes, and no reader ever sees the outputs of a
// block before its commit succeeded. Restarted, the chain connects the rest
// from the store.
func TestProcessBlocksCommitFailure(t *testing.T) {
	const k = 3
	dir := t.TempDir()
	c := openChain(t, dir)
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	run, spends, _ := pipelineRun(g, base, nil, nil)

	failure := errors.New("disk full")
	var connects, committed atomic.Int32 // committed: blocks of the run whose commit succeeded
	blockchain.SetCommitHook(func(what string, txn *badger.Txn) error {
		if what != "connect" {
			return txn.Commit()
		}
		if connects.Add(1) == k+1 {
			return failure
		}
		if err := txn.Commit(); err != nil {
			return err
		}
		committed.Add(1)
		return nil
	})
	defer blockchain.SetCommitHook(nil)
	// The last output of each block, created by spends[j]: a reader polling
	// them must see none before its block committed.
	stop := make(chan struct{})
	var seenEarly atomic.Bool
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for j, spend := range spends {
				if c.LookupUtxo(chain.OutPoint{TxID: spend.TxID()}) != nil && j >= int(committed.Load()) {
					// spends[j]'s output is spent by block j+1; seen
					// unspent, block j is in the cache.
					seenEarly.Store(true)
				}
			}
		}
	})
	out := c.ProcessBlocks(run)
	close(stop)
	reader.Wait()
	blockchain.SetCommitHook(nil)
	if seenEarly.Load() {
		t.Fatal("a reader saw an output of a block whose commit had not succeeded")
	}
	for j, o := range out {
		if j < k && (o.Err != nil || !o.MainChain) || j >= k && (!errors.Is(o.Err, failure) || o.MainChain) {
			t.Fatalf("block %d: %+v", j, o)
		}
	}
	requireTip(t, c, run[k-1])
	for j := k; j < runLength; j++ {
		if c.LookupUtxo(chain.OutPoint{TxID: spends[j].TxID()}) != nil {
			t.Fatalf("output of unconnected block %d is in the cache", j)
		}
	}
	fresh := openChain(t, t.TempDir())
	chaintest.MustProcess(t, fresh, append(base, run[:k]...)...)
	if utxoHash(t, c) != utxoHash(t, fresh) {
		t.Fatal("UTXO set after the failed commit differs from the one at the last block committed")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	requireSameState(t, openChain(t, dir), append(base, run...))
}
