package blockchain_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// A node pruning to a tiny target keeps the last 288 blocks and every header:
// old bodies are gone (ErrPruned), headers are still served, a reorganisation
// six blocks deep still works, and the pruning survives a restart.
func TestPruneKeepsRecentBlocksAndHeaders(t *testing.T) {
	cfg := blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: quietLog, PruneTargetBytes: 2}
	c, g, main := openPruned400(t, cfg)
	st := c.PruneState()
	if want := int32(400 - blockchain.MinBlocksToKeep + 1); !st.Pruned || !st.Automatic || st.Height != want || st.TargetBytes != 2 {
		t.Fatalf("prune state %+v, want automatic, pruned below %d", st, want)
	}
	old := main[49].Hash() // height 50
	if _, err := c.BlockByHash(old); !errors.Is(err, blockchain.ErrPruned) || !errors.Is(err, blockchain.ErrNotFound) {
		t.Fatalf("BlockByHash of a pruned block: %v", err)
	}
	if info, err := c.BlockInfo(old); err != nil || !info.Pruned || info.HaveData || c.HaveBlock(old) {
		t.Fatalf("BlockInfo of a pruned block: %+v, %v", info, err)
	}
	if _, err := c.BlockByHash(main[400-blockchain.MinBlocksToKeep].Hash()); err != nil {
		t.Fatalf("block %d of the last %d: %v", 400-blockchain.MinBlocksToKeep+1, blockchain.MinBlocksToKeep, err)
	}
	if hs := c.HeadersAfter([]chain.Hash{chain.RegtestParams.GenesisHash}, chain.Hash{}, 2000); len(hs) != 400 || hs[49].Hash() != old {
		t.Fatalf("%d headers served, want 400", len(hs))
	}

	side := g.Chain(main[393].Hash(), 7) // from height 394: six blocks off, one more
	chaintest.MustProcess(t, c, side...)
	requireTip(t, c, side[6])
	fresh := openChain(t, t.TempDir())
	chaintest.MustProcess(t, fresh, append(main[:394:394], side...)...)
	if utxoHash(t, c) != utxoHash(t, fresh) {
		t.Fatal("UTXO set after a reorganisation on a pruned node differs from a node that saw only the winner")
	}
	c.Close()

	c, err := blockchain.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	requireTip(t, c, side[6])
	if st := c.PruneState(); !st.Pruned || st.Height < 400-blockchain.MinBlocksToKeep {
		t.Fatalf("prune state after a restart: %+v", st)
	}
}

// Neither automatic nor manual pruning starts before the tip passes the
// network's PruneAfterHeight, as Core's.
func TestPruneWaitsForPruneAfterHeight(t *testing.T) {
	after := chain.RegtestParams.PruneAfterHeight
	blocks := chaintest.New(chain.RegtestParams).Chain(chain.RegtestParams.GenesisHash, int(after)+1)
	for _, target := range []int64{blockchain.PruneManual, 2} {
		c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: quietLog, PruneTargetBytes: target})
		if err != nil {
			t.Fatal(err)
		}
		chaintest.MustProcess(t, c, blocks[:after-1]...)
		if _, err := c.PruneBlockchain(5); !errors.Is(err, blockchain.ErrTooShortToPrune) {
			t.Errorf("target %d: PruneBlockchain at height %d: %v, want ErrTooShortToPrune", target, after-1, err)
		}
		chaintest.MustProcess(t, c, blocks[after-1])
		if st := c.PruneState(); st.Pruned {
			t.Errorf("target %d: pruned at height %d, PruneAfterHeight %d: %+v", target, after, after, st)
		}
		chaintest.MustProcess(t, c, blocks[after])
		want := after + 1 - blockchain.MinBlocksToKeep // the last block pruned
		if target == blockchain.PruneManual {
			if got, err := c.PruneBlockchain(after); err != nil || got != want {
				t.Errorf("PruneBlockchain at height %d = %d, %v; want %d", after+1, got, err, want)
			}
		}
		if st := c.PruneState(); !st.Pruned || st.Height != want+1 {
			t.Errorf("target %d: at height %d: %+v, want blocks up to %d pruned", target, after+1, st, want)
		}
		c.Close()
	}
}

// openPruned400 opens the chain cfg describes, pruning automatically, and
// processes 400 blocks: everything below height 113 is pruned.
func openPruned400(t *testing.T, cfg blockchain.Config) (*blockchain.Chain, *chaintest.Generator, []*chain.Block) {
	t.Helper()
	c, err := blockchain.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := chaintest.New(chain.RegtestParams)
	main := g.Chain(chain.RegtestParams.GenesisHash, 400)
	chaintest.MustProcess(t, c, main...)
	return c, g, main
}

func TestPruneBlockchainManual(t *testing.T) {
	g := chaintest.New(chain.RegtestParams)
	main := g.Chain(chain.RegtestParams.GenesisHash, 400)
	c := openChain(t, t.TempDir())
	chaintest.MustProcess(t, c, main...)
	if _, err := c.PruneBlockchain(100); !errors.Is(err, blockchain.ErrNotPruneMode) {
		t.Fatalf("PruneBlockchain not in prune mode: %v", err)
	}
	c.Close()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: quietLog, PruneTargetBytes: blockchain.PruneManual})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chaintest.MustProcess(t, c, main...)
	if st := c.PruneState(); st.Pruned || st.Automatic || !st.Enabled {
		t.Fatalf("manual prune mode pruned on its own: %+v", st)
	}
	for _, tc := range []struct{ ask, want int32 }{{100, 100}, {50, 100}, {390, 400 - blockchain.MinBlocksToKeep}} {
		if got, err := c.PruneBlockchain(tc.ask); err != nil || got != tc.want {
			t.Fatalf("PruneBlockchain(%d) = %d, %v; want %d", tc.ask, got, err, tc.want)
		}
	}
	if _, err := c.BlockByHash(main[99].Hash()); !errors.Is(err, blockchain.ErrPruned) {
		t.Fatalf("block 100 after pruning: %v", err)
	}
}

// An index turned on again after the node pruned past it cannot catch up:
// the node refuses to start with it, as Core does, rather than retrying for
// ever and calling it "still being built".
func TestIndexBehindPrunedDataRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, PruneTargetBytes: blockchain.PruneManual}
	c, err := blockchain.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	chaintest.MustProcess(t, c, chaintest.New(chain.RegtestParams).Chain(chain.RegtestParams.GenesisHash, 300)...)
	if got, err := c.PruneBlockchain(10); err != nil || got != 10 {
		t.Fatalf("PruneBlockchain(10) = %d, %v", got, err)
	}
	c.Close()

	cfg.Indexers = []blockchain.Indexer{indexers.NewAddrIndex()}
	if c, err := blockchain.Open(cfg); err == nil || !strings.Contains(err.Error(), "addrindex best block of the index goes beyond pruned data") {
		if err == nil {
			c.Close()
		}
		t.Fatalf("open with an index behind the pruned blocks: %v", err)
	}
	cfg.Indexers = nil
	c, err = blockchain.Open(cfg)
	if err != nil {
		t.Fatalf("open with the index off again: %v", err)
	}
	c.Close()
}

// Blocks connected while the chain opens (here every block, reconnected by
// --reindex-chainstate) prune too, and that pruning must already leave what
// the indexes still need: an index far behind must not find its next blocks
// gone once it starts.
func TestPruneAtOpenKeepsWhatIndexesNeed(t *testing.T) {
	dir := t.TempDir()
	cfg := blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, PruneTargetBytes: 1 << 40}
	c, err := blockchain.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Past PruneAfterHeight, so that only the index holds pruning back.
	chaintest.MustProcess(t, c, chaintest.New(chain.RegtestParams).Chain(chain.RegtestParams.GenesisHash, 400)...)
	c.Close()

	cfg.PruneTargetBytes, cfg.Indexers, cfg.ReindexChainState = 2, []blockchain.Indexer{indexers.NewAddrIndex()}, true
	c, err = blockchain.Open(cfg)
	if err != nil {
		t.Fatalf("open with an index at genesis while reconnecting the chain: %v", err)
	}
	defer c.Close()
	chaintest.WaitIndexes(t, c)
	if st := c.PruneState(); st.Pruned {
		t.Fatalf("pruned %+v before the index caught up", st)
	}
}

// An index left on a branch that lost needs that branch's blocks (to take
// them back) and the main chain's above the fork (to apply them): pruning
// keeps everything above the fork, not merely up to the index's height.
// Here the index sits on a block that lost to a 300-block branch while it
// was off, and --reindex-chainstate reconnects, and prunes, every block
// before it starts.
func TestPruneKeepsWhatAnIndexOnALosingBranchNeeds(t *testing.T) {
	dir := t.TempDir()
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 10)
	fork := base[len(base)-1].Hash()
	loser := g.NextBlock(fork)
	c, _, _ := openIndexed(t, dir)
	chaintest.MustProcess(t, c, append(base, loser)...)
	chaintest.WaitIndexes(t, c)
	c.Close()

	winner := g.Chain(fork, 300)
	c = openChain(t, dir)
	chaintest.MustProcess(t, c, winner...)
	c.Close()

	addrIndex := indexers.NewAddrIndex()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog,
		PruneTargetBytes: 2, ReindexChainState: true, Indexers: []blockchain.Indexer{addrIndex}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range []*chain.Block{loser, winner[0]} {
		if _, err := c.BlockByHash(b.Hash()); err != nil {
			t.Fatalf("block %s the index needs: %v", b.Hash(), err)
		}
	}
	chaintest.WaitIndexes(t, c)
	if st := c.IndexStatuses(); len(st) != 1 || !st[0].Synced {
		t.Fatalf("index after the prune: %+v", st)
	}
	txs, err := addrIndex.TxIDs(g.PKH)
	if err != nil || len(txs) != len(base)+len(winner) {
		t.Fatalf("address index holds %d transactions (%v), want the %d coinbases of the main chain", len(txs), err, len(base)+len(winner))
	}
}

// A branch with more work that forks below the pruned blocks cannot be
// reorganised to (the undo data of the main chain down to the fork is gone):
// the chain stays on its tip with its state untouched, the blocks that would
// make the branch the best get ErrForkBeyondPrune, the branch is tried once
// and not at every block after, and the chain still extends and reopens.
func TestReorgBelowPruneHeightRefused(t *testing.T) {
	refusals := &countingHandler{match: "forks below the pruned blocks"}
	cfg := blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: slog.New(refusals), PruneTargetBytes: 2}
	c, g, main := openPruned400(t, cfg)
	pruneHeight := c.PruneState().Height // the lowest block stored
	if pruneHeight != 400-blockchain.MinBlocksToKeep+1 {
		t.Fatalf("prune state %+v", c.PruneState())
	}
	before := utxoHash(t, c)

	// Forks at height 50: 350 blocks take it to 400 (as much work as the
	// tip, which stays), the 351st past it.
	side := g.Chain(main[49].Hash(), 352)
	chaintest.MustProcess(t, c, side[:350]...)
	for _, b := range side[350:] {
		_, err := c.ProcessBlock(b)
		if !errors.Is(err, blockchain.ErrForkBeyondPrune) || !strings.Contains(err.Error(), "fork at height 50") {
			t.Fatalf("block %d of the branch: %v, want ErrForkBeyondPrune at the fork", blockHeight(b), err)
		}
	}
	requireTip(t, c, main[399])
	if utxoHash(t, c) != before {
		t.Fatal("the UTXO set changed on a refused reorganisation")
	}
	for _, h := range []int32{pruneHeight, 399} {
		if hash, err := c.BlockHashByHeight(h); err != nil || hash != main[h-1].Hash() {
			t.Fatalf("main chain at height %d: %s, %v; want the old main chain", h, hash, err)
		}
	}
	if _, err := c.BlockByHash(main[399].Hash()); err != nil {
		t.Fatalf("tip block: %v", err)
	}
	if n := refusals.count(); n != 1 {
		t.Fatalf("the branch was refused %d times, want once", n)
	}
	requireBranchTip(t, c, side[351], 352)
	c.Close()

	// Reopened with the branch still ahead: it is found beyond the pruned
	// blocks once more, and Open goes on from the old tip.
	c, err := blockchain.Open(cfg)
	if err != nil {
		t.Fatalf("reopen with a refused branch ahead: %v", err)
	}
	defer c.Close()
	requireTip(t, c, main[399])
	if n := refusals.count(); n != 2 {
		t.Fatalf("the branch was refused %d times in all, want once before and once at the restart", n)
	}
	requireBranchTip(t, c, side[351], 352)
	more := g.Chain(main[399].Hash(), 3) // the main chain grows past the branch
	chaintest.MustProcess(t, c, more...)
	requireTip(t, c, more[2])
	tail := g.Chain(side[351].Hash(), 2) // and the branch past it again
	for _, b := range tail {
		if _, err := c.ProcessBlock(b); !errors.Is(err, blockchain.ErrForkBeyondPrune) {
			t.Fatalf("a block extending the refused branch: %v", err)
		}
	}
	requireTip(t, c, more[2])
	if n := refusals.count(); n != 2 {
		t.Fatalf("the refused branch was tried again: %d refusals", n)
	}
}

// requireBranchTip fails unless getchaintips shows b as a branch of
// branchLen blocks, "valid-headers" as Core shows a stored branch never
// connected: on a pruned node that includes one forking below the pruned
// blocks, which it will not switch to.
func requireBranchTip(t *testing.T, c *blockchain.Chain, b *chain.Block, branchLen int32) {
	t.Helper()
	for _, tip := range c.ChainTips() {
		if tip.Hash == b.Hash() {
			if tip.Status != "valid-headers" || tip.BranchLen != branchLen {
				t.Fatalf("branch tip %+v, want valid-headers with a branch of %d", tip, branchLen)
			}
			return
		}
	}
	t.Fatalf("branch tip %s not among the chain tips", b.Hash())
}

// countingHandler counts the log records whose message contains match.
type countingHandler struct {
	match string
	mu    sync.Mutex
	n     int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.match) {
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
	}
	return nil
}

func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
