package blockchain_test

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// A batch that reorganises onto a branch whose blocks spend what the run
// created, with a cache so small that every commit starts a flush while
// the run's later blocks are checked, leaves the UTXO set of a chain that
// only saw the winner, in memory and after a restart; a block of the branch
// double-spending what an earlier block of the run spent fails alone.
func TestProcessBlocksReorgFlushEachBlock(t *testing.T) {
	dir := t.TempDir()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, DBCacheBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	// The losing branch spends base[0]'s coinbase too.
	losing := g.NextBlock(base[100].Hash(), g.SpendAll(g.Coinbase(base[0].Hash()), 1000))
	losing2 := g.NextBlock(losing.Hash())
	chaintest.MustProcess(t, c, losing, losing2)
	run, _, _ := pipelineRun(g, base, nil, nil)
	out := c.ProcessBlocks(run)
	for j, o := range out {
		if o.Err != nil || !o.MainChain {
			t.Fatalf("block %d: %+v", j, o)
		}
	}
	requireSameState(t, c, append(base, run...))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err = blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog}); err != nil {
		t.Fatal(err)
	}
	requireSameState(t, c, append(base, run...))

	// A next run whose third block spends again what its first spent.
	tip := run[len(run)-1]
	spent := g.Coinbase(base[runLength].Hash())
	b1 := g.NextBlock(tip.Hash(), g.SpendAll(spent, 1000))
	b2 := g.NextBlock(b1.Hash())
	b3 := g.NextBlock(b2.Hash(), g.SpendAll(spent, 2000))
	b4 := g.NextBlock(b3.Hash())
	out = c.ProcessBlocks([]*chain.Block{b1, b2, b3, b4})
	if out[0].Err != nil || out[1].Err != nil || out[2].Err == nil || out[3].Err == nil {
		t.Fatalf("outcomes %+v", out)
	}
	requireSameState(t, c, append(append(base, run...), b1, b2))
}

// The blocks of a batch after one breaking a rule, stored while the run
// was connected, are still known invalid after a restart.
func TestProcessBlocksInvalidDescendantsPersist(t *testing.T) {
	const k = 1
	dir := t.TempDir()
	c := openChain(t, dir)
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	run, _, _ := pipelineRun(g, base, func(j int, _ []*chain.Tx) []*chain.Tx {
		if j != k {
			return nil
		}
		return []*chain.Tx{g.SpendAll(g.Coinbase(base[k-1].Hash()), 2000)}
	}, nil)
	out := c.ProcessBlocks(run)
	requireRunOutcome(t, c, run, out, k, chain.ErrMissingTxOut)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openChain(t, dir)
	requireTip(t, c, run[k-1])
	for j := k; j < len(run); j++ {
		if !c.IsKnownInvalid(run[j].Hash()) {
			t.Fatalf("block %d is not known invalid after a restart", j)
		}
	}
}
