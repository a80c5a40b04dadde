package chain_test

import (
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// reopen closes c and opens the chain in dir again.
func reopen(t *testing.T, c *chain.Chain, dir string) *chain.Chain {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := chain.Open(chain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A block with more work than the tip that breaks a contextual rule is in
// the index as invalid, and must never be the best header: not as it is
// added, and not after a restart, when the index is loaded from the store.
// A best header ahead of the tip keeps a node in initial block download.
func TestBestHeaderIsNeverInvalid(t *testing.T) {
	dir := t.TempDir()
	c, err := chain.Open(chain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 3)
	mustProcess(t, c, base...)
	bad := g.BuildBlock(base[2].Hash(), func(b *chain.Block) {
		b.Txs[0] = chain.NewCoinbase(40, 0, nil, chain.RegtestParams.Subsidy(4), g.PKH)
	})
	if _, err := c.ProcessBlock(bad); !errors.Is(err, chain.ErrBadCoinbaseHeight) {
		t.Fatalf("block with a wrong coinbase height: %v", err)
	}
	if !c.IsKnownInvalid(bad.Hash()) {
		t.Fatal("the block is not remembered as invalid")
	}
	if got := c.BestHeaderHeight(); got != 3 {
		t.Fatalf("best header at height %d after an invalid block, want the tip's 3", got)
	}
	c = reopen(t, c, dir)
	if got := c.BestHeaderHeight(); got != 3 {
		t.Fatalf("best header at height %d after a restart, want the tip's 3", got)
	}
}
