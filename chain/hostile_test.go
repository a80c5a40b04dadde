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

// headersOf returns the blocks' headers.
func headersOf(blocks []*chain.Block) []chain.Header {
	hs := make([]chain.Header, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Header
	}
	return hs
}

// With the tip at height 300, branches forking low, with far less work than
// the tip, leave no trace: neither their headers (AcceptHeaders) nor their
// blocks sent unasked (ProcessUnrequestedBlock) are stored, and getchaintips
// does not list them. A fork near the tip, whose headers may yet overtake
// it, is still stored, and a branch with more work than the tip wins.
func TestLowWorkBranchesLeaveNoTrace(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	main := g.Chain(chain.RegtestParams.GenesisHash, 300)
	mustProcess(t, c, main...)

	for i := range 40 {
		branch := g.Chain(chain.RegtestParams.GenesisHash, 50)
		if err := c.AcceptHeaders(headersOf(branch)); !errors.Is(err, chain.ErrLowWork) {
			t.Fatalf("branch %d: AcceptHeaders of 50 headers from genesis: %v, want ErrLowWork", i, err)
		}
		for _, b := range branch {
			res, err := c.ProcessUnrequestedBlock(b)
			if err != nil || res.MainChain {
				t.Fatalf("branch %d: unrequested low-work block: %+v %v", i, res, err)
			}
		}
		// (Its later blocks wait in the bounded in-memory orphan pool, for a
		// parent that never comes: no trace in the index or the store.)
		for _, b := range branch {
			_, infoErr := c.BlockInfo(b.Hash())
			if _, rawErr := c.RawBlock(b.Hash()); infoErr == nil || rawErr == nil {
				t.Fatalf("branch %d: block %s of a low-work branch was stored", i, b.Hash())
			}
		}
	}
	if tips := c.ChainTips(); len(tips) != 1 || tips[0].Status != "active" {
		t.Fatalf("chain tips %+v, want only the active one", tips)
	}

	// A fork 20 blocks below the tip, 10 long: within 144 blocks' work of
	// the tip, so its headers are kept, as Core keeps them.
	near := g.Chain(main[279].Hash(), 10)
	if err := c.AcceptHeaders(headersOf(near)); err != nil {
		t.Fatalf("headers of a fork near the tip: %v", err)
	}
	if _, err := c.BlockInfo(near[9].Hash()); err != nil {
		t.Fatalf("near fork's header not stored: %v", err)
	}
	// A branch from height 100 that overtakes the tip: its headers are
	// stored, its blocks are taken when the node asks for them (sync's
	// ProcessBlock), not when sent unasked while still short of the tip.
	long := g.Chain(main[99].Hash(), 202)
	if err := c.AcceptHeaders(headersOf(long)); err != nil {
		t.Fatalf("headers of a branch with more work: %v", err)
	}
	if res, err := c.ProcessUnrequestedBlock(long[0]); err != nil || !res.LowWork || c.HaveBlock(long[0].Hash()) {
		t.Fatalf("unrequested block below the tip's work: %+v %v, want it dropped", res, err)
	}
	mustProcess(t, c, long...)
	requireTip(t, c, long[len(long)-1])
}
