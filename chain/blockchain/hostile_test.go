package blockchain_test

import (
	"errors"
	"math/big"
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// reopen closes c and opens the chain in dir again.
func reopen(t *testing.T, c *blockchain.Chain, dir string) *blockchain.Chain {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog})
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
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 3)
	chaintest.MustProcess(t, c, base...)
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
	chaintest.MustProcess(t, c, main...)

	for i := range 40 {
		branch := g.Chain(chain.RegtestParams.GenesisHash, 50)
		if err := c.AcceptHeaders(headersOf(branch)); !errors.Is(err, blockchain.ErrLowWork) {
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
	chaintest.MustProcess(t, c, long...)
	requireTip(t, c, long[len(long)-1])
}

// openHeavyMinimum opens a regtest chain whose network minimum chain work is
// minWork, so that every branch below it is presynced, not stored.
func openHeavyMinimum(t testing.TB, minWork *big.Int) (*blockchain.Chain, *chain.Params) {
	t.Helper()
	p := *chain.RegtestParams
	p.MinChainWork = minWork
	c, err := blockchain.Open(blockchain.Config{Params: &p, Dir: t.TempDir(), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, &p
}

// regtestBranch returns n linked headers from genesis, each with valid proof
// of work (2 of work each on regtest).
func regtestBranch(p *chain.Params, n int) []chain.Header {
	hs := make([]chain.Header, n)
	prev, when := p.GenesisHash, p.GenesisBlock.Header.Time
	for i := range hs {
		h := chain.Header{Version: 1, PrevBlock: prev, Time: when + uint32(i) + 1, Bits: p.PowLimitBits}
		for chain.CheckProofOfWork(&h, p) != nil {
			h.Nonce++
		}
		hs[i], prev = h, h.Hash()
	}
	return hs
}

// PresyncWork counts a batch that continues a branch held in presync from
// the work counted before, hashing only the batch, and stops counting where
// the batch stops being a chain of headers with their proof of work.
func TestPresyncWork(t *testing.T) {
	c, p := openHeavyMinimum(t, big.NewInt(2*60+2))
	hs := regtestBranch(p, 60)
	if err := c.AcceptHeaders(hs[:20]); !errors.Is(err, blockchain.ErrLowWork) {
		t.Fatalf("20 headers of 2 work each, below a minimum of 122: %v", err)
	}
	noPow := slices.Clone(hs[20:40])
	for chain.CheckProofOfWork(&noPow[5], p) == nil {
		noPow[5].Nonce++
	}
	unlinked := slices.Clone(hs[20:40])
	unlinked[5].PrevBlock = chain.Hash{1}
	for _, tc := range []struct {
		name       string
		prevWork   int64
		batch      []chain.Header
		wantWork   int64
		wantEnough bool
	}{
		{"a linked batch", 42, hs[20:40], 82, false},
		{"the batch that proves enough", 82, hs[40:60], 122, true},
		{"stops at a header without proof of work", 42, noPow, 52, false},
		{"stops at a header not linked to the one before", 42, unlinked, 52, false},
		{"an empty batch", 42, nil, 42, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work, enough := c.PresyncWork(big.NewInt(tc.prevWork), tc.batch)
			if work.Int64() != tc.wantWork || enough != tc.wantEnough {
				t.Fatalf("work %v, enough %v; want %d, %v", work, enough, tc.wantWork, tc.wantEnough)
			}
		})
	}
	// What presync proved, the chain agrees with when handed the branch.
	if err := c.AcceptHeaders(hs); err != nil {
		t.Fatalf("the branch presync found heavy enough: %v", err)
	}
}

// BenchmarkPresync holds a branch of 100,000 headers too light to store in
// batches of 2,000, as p2p's header sync does, counting each batch as it
// comes (chain.PresyncWork); a peer may restart such a presync at will.
func BenchmarkPresync(b *testing.B) {
	const total, batch = 100_000, 2_000
	c, p := openHeavyMinimum(b, new(big.Int).Lsh(big.NewInt(1), 200))
	hs := regtestBranch(p, total)
	b.ResetTimer()
	for range b.N {
		if err := c.AcceptHeaders(hs[:batch]); !errors.Is(err, blockchain.ErrLowWork) {
			b.Fatal(err)
		}
		work := big.NewInt(2 * (batch + 1))
		for i := batch; i < total; i += batch {
			if w, enough := c.PresyncWork(work, hs[i:i+batch]); enough {
				b.Fatal("a light branch proved enough")
			} else {
				work = w
			}
		}
	}
}

// BenchmarkAcceptHeaders stores one full headers message (2,000 headers) in
// a fresh chain, as header sync does for each answer a peer sends.
func BenchmarkAcceptHeaders(b *testing.B) {
	hs := regtestBranch(chain.RegtestParams, 2_000)
	for b.Loop() {
		b.StopTimer()
		c := openChain(b, b.TempDir())
		b.StartTimer()
		if err := c.AcceptHeaders(hs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// Headers before one that breaks a rule stay stored: AcceptHeaders writes
// their records in batches, and writes them on its error path too.
func TestAcceptHeadersStoresThoseBeforeABadOne(t *testing.T) {
	dir := t.TempDir()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	hs := regtestBranch(chain.RegtestParams, 20)
	for chain.CheckProofOfWork(&hs[10], chain.RegtestParams) == nil {
		hs[10].Nonce++
	}
	if err := c.AcceptHeaders(hs); err == nil {
		t.Fatal("a header without its proof of work was accepted")
	}
	c = reopen(t, c, dir)
	if got := c.BestHeaderHeight(); got != 10 {
		t.Fatalf("best header at height %d after a restart, want 10, the last before the bad one", got)
	}
}
