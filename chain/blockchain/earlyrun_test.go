package blockchain_test

import (
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// A batch whose block k fails its sanity checks (a body that does not match
// its header's merkle root) while the blocks before it are being connected:
// those are connected, k fails and is not remembered as invalid (its header
// may be honest), and the blocks after it wait as orphans, as they would
// one by one; k's true body then connects them all.
func TestProcessBlocksSanityFailureMidBatch(t *testing.T) {
	const k = 3
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	run, _, _ := pipelineRun(g, base, nil, nil)
	mutated := *run[k]
	mutated.Txs = append([]*chain.Tx{}, run[k].Txs[:len(run[k].Txs)-1]...)
	batch := append(append(append([]*chain.Block{}, run[:k]...), &mutated), run[k+1:]...)

	out := c.ProcessBlocks(batch)
	for j, o := range out {
		switch {
		case j < k && (o.Err != nil || !o.MainChain):
			t.Fatalf("block %d before the failing one: %+v", j, o)
		case j == k && !errors.Is(o.Err, chain.ErrBadMerkleRoot):
			t.Fatalf("block %d: %v, want %v", j, o.Err, chain.ErrBadMerkleRoot)
		case j > k && (o.Err != nil || !o.Orphan):
			t.Fatalf("block %d after the failing one: %+v, want an orphan", j, o)
		}
	}
	if c.IsKnownInvalid(run[k].Hash()) {
		t.Fatal("a block whose body failed its sanity checks is remembered as invalid")
	}
	requireSameState(t, c, append(base, run[:k]...))

	if _, err := c.ProcessBlock(run[k]); err != nil {
		t.Fatalf("the true block %d: %v", k, err)
	}
	requireSameState(t, c, append(base, run...))
}

// A batch that does not extend the tip as a chain of its own connects as
// it did before blocks were connected while a batch is stored: one whose
// first block forks below the tip, and one with a sibling of its first
// block in the middle, reorganise onto the branch of most work once the
// whole batch is stored.
func TestProcessBlocksNotExtendingTip(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	// A branch from base's parent of two blocks more than base's last.
	fork := g.Chain(base[len(base)-2].Hash(), 2)
	out := c.ProcessBlocks(fork)
	requireOutcomes(t, out, true, true)
	requireSameState(t, c, append(append([]*chain.Block{}, base[:len(base)-1]...), fork...))

	// On the new tip: a block, then its sibling and the sibling's child.
	tip := fork[len(fork)-1].Hash()
	first := g.Chain(tip, 1)
	sibling := g.Chain(tip, 2)
	out = c.ProcessBlocks(append(first, sibling...))
	requireOutcomes(t, out, false, true, true)
	requireSameState(t, c, append(append(append([]*chain.Block{}, base[:len(base)-1]...), fork...), sibling...))
}

// requireOutcomes checks that every outcome is without error and on the
// main chain as mainChain says.
func requireOutcomes(t *testing.T, out []blockchain.BlockOutcome, mainChain ...bool) {
	t.Helper()
	for i, o := range out {
		if o.Err != nil || o.MainChain != mainChain[i] {
			t.Fatalf("block %d: %+v, want main chain %v", i, o, mainChain[i])
		}
	}
}

// A batch extending the tip delivers each block's connect event once, in
// order, as the block commits: a subscriber then finds the chain at that
// block or past it, never behind, and every event has been delivered when
// ProcessBlocks returns.
func TestProcessBlocksEventsAsBlocksCommit(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	run, _, _ := pipelineRun(g, base, nil, nil)
	var events []blockchain.Event
	var behind []int32
	cancel := c.Subscribe(func(ev blockchain.Event) {
		events = append(events, ev)
		if c.Best().Height < ev.Height {
			behind = append(behind, ev.Height)
		}
	})
	defer cancel()
	requireOutcomes(t, c.ProcessBlocks(run), true, true, true, true, true, true)
	if len(behind) > 0 {
		t.Fatalf("events of heights %v delivered before the chain reached them", behind)
	}
	if len(events) != len(run) {
		t.Fatalf("%d events for %d blocks", len(events), len(run))
	}
	for i, ev := range events {
		if ev.Kind != blockchain.BlockConnected || ev.Hash != run[i].Hash() || ev.Height != blockHeight(run[i]) {
			t.Fatalf("event %d: %v of %s at %d, want block %s connected at %d", i, ev.Kind, ev.Hash, ev.Height, run[i].Hash(), blockHeight(run[i]))
		}
	}
}

// A failure that comes after a block committed (the UTXO cache's flush, or
// the pruning, at the block's end) stops the run with every block fed to it
// connected: it is returned as the last block's error, not a panic looking
// for the block after the last, in a batch extending the tip as in a lone
// block's activation.
func TestProcessBlocksFlushFailureAfterLastBlock(t *testing.T) {
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: quietLog, DBCacheBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	run, _, _ := pipelineRun(g, base, nil, nil)
	// No flush of base's may still be under way to meet the hook.
	if err := c.FlushChainState(); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("disk full mid-flush")
	blockchain.SetFlushStopHook(func() error { return crash })
	defer blockchain.SetFlushStopHook(nil)

	// The first block's flush fails in the background; the second's
	// reports it, once the second is committed.
	out := c.ProcessBlocks(run[:2])
	if !errors.Is(out[1].Err, crash) {
		t.Fatalf("batch: %+v, want the flush's failure on its last block", out)
	}
	requireTip(t, c, run[1])
	if _, err := c.ProcessBlock(run[2]); !errors.Is(err, crash) {
		t.Fatalf("lone block: %v, want the flush's failure", err)
	}
	requireTip(t, c, run[2])
}

// A batch extending the tip whose block k breaks a rule in the connect
// delivers the events of the blocks before k, once each and in order, and
// none of k or after (that k's descendants stay invalid across a restart is
// TestProcessBlocksInvalidDescendantsPersist's).
func TestProcessBlocksRuleFailureEvents(t *testing.T) {
	const k = 3
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	run, _, _ := pipelineRun(g, base, nil, func(j int, spends []*chain.Tx) *chain.Tx {
		if j != k {
			return nil
		}
		return badSignatureTx(g, chain.OutPoint{TxID: spends[j-1].TxID()})
	})
	var events []blockchain.Event
	cancel := c.Subscribe(func(ev blockchain.Event) { events = append(events, ev) })
	out := c.ProcessBlocks(run)
	cancel()
	requireRunOutcome(t, c, run, out, k, chain.ErrBadSignature)
	if len(events) != k {
		t.Fatalf("%d events, want %d", len(events), k)
	}
	for i, ev := range events {
		if ev.Kind != blockchain.BlockConnected || ev.Hash != run[i].Hash() {
			t.Fatalf("event %d: %v of %s, want block %s connected", i, ev.Kind, ev.Hash, run[i].Hash())
		}
	}
}
