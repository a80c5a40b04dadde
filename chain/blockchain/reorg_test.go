package blockchain_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// utxoHash is the hash of the stored UTXO set.
func utxoHash(t *testing.T, c *blockchain.Chain) chain.Hash {
	t.Helper()
	st, err := c.UtxoStats()
	if err != nil {
		t.Fatal(err)
	}
	return st.SetHash
}

// requireSameState checks that c ends where a fresh chain fed only the winning
// branch ends: same tip and the same UTXO set, and that the set matches a replay.
func requireSameState(t *testing.T, c *blockchain.Chain, winning []*chain.Block) {
	t.Helper()
	fresh := openChain(t, t.TempDir())
	chaintest.MustProcess(t, fresh, winning...)
	requireTip(t, c, winning[len(winning)-1])
	if utxoHash(t, c) != utxoHash(t, fresh) {
		t.Fatal("UTXO set after the reorganisation differs from a chain that only saw the winner")
	}
	if err := c.VerifyUtxoSet(); err != nil {
		t.Fatal(err)
	}
}

func TestReorgs(t *testing.T) {
	for _, depth := range []int{1, 120} {
		t.Run("", func(t *testing.T) {
			c := openChain(t, t.TempDir())
			g := chaintest.New(chain.RegtestParams)
			base := matureBase(t, c, g)
			fork := base[len(base)-1].Hash()

			// Branch A spends a coinbase in its first block; branch B spends the same
			// coinbase differently and one more, and is one block longer.
			cb := g.Coinbase(base[0].Hash())
			a := []*chain.Block{g.NextBlock(fork, g.SpendAll(cb, 1000))}
			a = append(a, g.Chain(a[0].Hash(), depth-1)...)
			chaintest.MustProcess(t, c, a...)
			requireTip(t, c, a[len(a)-1])

			var events []blockchain.Event
			c.Subscribe(func(e blockchain.Event) { events = append(events, e) })

			b := []*chain.Block{g.NextBlock(fork, g.SpendAll(cb, 5000), g.SpendAll(g.Coinbase(base[1].Hash()), 1000))}
			b = append(b, g.Chain(b[0].Hash(), depth)...)
			chaintest.MustProcess(t, c, b...)
			requireSameState(t, c, append(slices.Clone(base), b...))

			// Every block of A leaves, tip first, before B's blocks arrive in
			// order, each with its transactions' ids.
			if len(events) != 2*depth+1 {
				t.Fatalf("%d events, want %d", len(events), 2*depth+1)
			}
			for i, e := range events {
				if !slices.Equal(e.TxIDs, e.Block.TxIDs()) {
					t.Fatalf("event %d: txids %v, want those of its block, %v", i, e.TxIDs, e.Block.TxIDs())
				}
			}
			for i := range depth {
				e := events[i]
				if e.Kind != blockchain.BlockDisconnected || e.Hash != a[depth-1-i].Hash() {
					t.Fatalf("event %d: %+v, want disconnect of A[%d]", i, e.Kind, depth-1-i)
				}
			}
			for i := range depth + 1 {
				e := events[depth+i]
				if e.Kind != blockchain.BlockConnected || e.Hash != b[i].Hash() {
					t.Fatalf("event %d: want connect of B[%d]", depth+i, i)
				}
			}
		})
	}
}

// A branch with more work whose middle block breaks a rule that only the
// connect step can see: the node tries it, fails, marks the rest invalid and
// returns to the best valid chain.
func TestReorgOntoInvalidBranch(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	fork := base[len(base)-1].Hash()
	a := g.Chain(fork, 3)
	chaintest.MustProcess(t, c, a...)

	b1 := g.NextBlock(fork)
	bad := g.NextBlock(b1.Hash(), g.SpendAll(chain.OutPoint{TxID: chaintest.TxIDFromSeed(9)}, 0))
	b3 := g.NextBlock(bad.Hash())
	b4 := g.NextBlock(b3.Hash())
	for _, b := range []*chain.Block{b1, bad, b3} {
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatalf("side block with less work: %v", err)
		}
	}
	requireTip(t, c, a[2])
	// b4 gives branch B more work: the reorg fails at bad and the tip comes back.
	if _, err := c.ProcessBlock(b4); !errors.Is(err, chain.ErrInvalidAncestor) {
		t.Fatalf("err = %v, want ErrInvalidAncestor", err)
	}
	requireSameState(t, c, append(slices.Clone(base), a...))
	for _, b := range []*chain.Block{bad, b3, b4} {
		if !c.IsKnownInvalid(b.Hash()) {
			t.Fatalf("block at %d should be invalid", blockHeight(b))
		}
	}
	if c.IsKnownInvalid(b1.Hash()) {
		t.Fatal("the valid block before the bad one was marked invalid")
	}
	// A longer valid branch from b1 still wins.
	c1 := g.Chain(b1.Hash(), 4)
	chaintest.MustProcess(t, c, c1...)
	requireTip(t, c, c1[3])
}

func TestOrphansInReverseOrder(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	blocks := g.Chain(chain.RegtestParams.GenesisHash, 20)
	for i := len(blocks) - 1; i > 0; i-- {
		res, err := c.ProcessBlock(blocks[i])
		if err != nil || !res.Orphan {
			t.Fatalf("block %d: %+v, %v; want an orphan", i, res, err)
		}
		if root := c.OrphanRoot(blocks[i].Hash()); root != blocks[i-1].Hash() {
			t.Fatalf("orphan root %s, want the parent of the oldest orphan", root)
		}
	}
	if _, err := c.ProcessBlock(blocks[5]); !errors.Is(err, chain.ErrDuplicateBlock) {
		t.Fatalf("orphan seen twice: %v", err)
	}
	chaintest.MustProcess(t, c, blocks[0])
	requireTip(t, c, blocks[19])
}

func TestOrphanPoolBounded(t *testing.T) {
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: quietLog, MaxOrphans: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := chaintest.New(chain.RegtestParams)
	blocks := g.Chain(chain.RegtestParams.GenesisHash, 12)
	for _, b := range blocks[1:] {
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	// Only the five newest orphans are left: blocks 7..11.
	for i, b := range blocks[1:] {
		if want := i+1 >= 7; c.HaveBlock(b.Hash()) != want {
			t.Fatalf("orphan %d held = %v, want %v", i+1, !want, want)
		}
	}
	chaintest.MustProcess(t, c, blocks[0])
	requireTip(t, c, blocks[0])
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	g := chaintest.New(chain.RegtestParams)
	c, _, _ := openIndexed(t, dir)
	_, tx, last := spendOnBase(t, c, g)
	before := utxoHash(t, c)
	c.Close()

	c, txIndex, addrIndex := openIndexed(t, dir)
	requireTip(t, c, last)
	chaintest.WaitIndexes(t, c) // an index that had not caught up at the close goes on now
	if utxoHash(t, c) != before {
		t.Fatal("UTXO set changed across a restart")
	}
	got, loc, err := txIndex.Find(tx.TxID())
	if err != nil || got.TxID() != tx.TxID() || loc.Height != 102 || loc.Block != last.Hash() {
		t.Fatalf("Find = %v, %+v, %v", got, loc, err)
	}
	utxos, err := addrIndex.Utxos(g.PKH)
	if err != nil {
		t.Fatal(err)
	}
	// 102 coinbases and the spend's output, less the spent coinbase.
	if len(utxos) != 102 {
		t.Fatalf("%d address utxos, want 102", len(utxos))
	}
	txids, err := addrIndex.TxIDs(g.PKH)
	if err != nil || len(txids) != 103 {
		t.Fatalf("%d address txids (%v), want 103", len(txids), err)
	}
	if _, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog}); err == nil {
		t.Fatal("a second open of the same directory must fail")
	}
}

// --reindex rebuilds the block index, the chain state and the indexes from
// the stored blocks; --reindex-chainstate only the chain state. Either way the
// node ends on the same tip and UTXO set, with a side branch still known and
// its indexes answering, even when a crash cut the reindex short.
func TestReindex(t *testing.T) {
	for _, mode := range []blockchain.Config{{Reindex: true}, {ReindexChainState: true}} {
		t.Run(fmt.Sprintf("reindex=%v,chainstate=%v", mode.Reindex, mode.ReindexChainState), func(t *testing.T) {
			dir := t.TempDir()
			c := openChain(t, dir)
			g := chaintest.New(chain.RegtestParams)
			base, spend, last := spendOnBase(t, c, g)
			side := g.NextBlock(base[99].Hash()) // less work: no tie for the tip
			chaintest.MustProcess(t, c, side)
			before := utxoHash(t, c)
			c.Close()

			// The reindex is cut short once the UTXO records are gone and
			// before the chain state's markers are; the next start finishes
			// it without being asked, rather than opening on the old tip with
			// an empty UTXO set.
			crash := errors.New("killed mid-reindex")
			blockchain.SetReindexHook(func() error { return crash })
			mode.Params, mode.Dir, mode.Logger = chain.RegtestParams, dir, quietLog
			_, err := blockchain.Open(mode)
			blockchain.SetReindexHook(nil)
			if !errors.Is(err, crash) {
				t.Fatalf("reindex stopped with %v, want the hook's error", err)
			}
			c, txIndex, _ := openIndexed(t, dir)
			requireTip(t, c, last)
			if utxoHash(t, c) != before {
				t.Fatal("reindexed UTXO set differs")
			}
			if err := c.VerifyUtxoSet(); err != nil {
				t.Fatal(err)
			}
			if info, err := c.BlockInfo(side.Hash()); err != nil || !info.HaveData || info.MainChain {
				t.Fatalf("side branch after the reindex: %+v, %v", info, err)
			}
			chaintest.WaitIndexes(t, c)
			if _, loc, err := txIndex.Find(spend.TxID()); err != nil || loc.Block != last.Hash() {
				t.Fatalf("Find after the reindex: %+v, %v", loc, err)
			}
		})
	}
}

// The largest block the rules allow, all outputs, must connect and disconnect
// in one store transaction each, in the chain database and in each index.
func TestLargestBlockConnectsAndDisconnects(t *testing.T) {
	c, txIndex, addrIndex := openIndexed(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	n := (chain.MaxBlockSize - 1000) / (8 + chain.PubKeyHashSize)
	values := make([]uint64, n)
	for i := range values {
		values[i] = 1000
	}
	big := g.NextBlock(base[100].Hash(), g.Spend([]chain.OutPoint{g.Coinbase(base[0].Hash())}, values...))
	if size := big.SerializeSize(); size > chain.MaxBlockSize || size < chain.MaxBlockSize-2000 {
		t.Fatalf("block of %d bytes, want just under the limit", size)
	}
	chaintest.MustProcess(t, c, big)
	requireTip(t, c, big)
	chaintest.WaitIndexes(t, c)
	bigTx := big.Txs[1].TxID()
	if utxos, err := addrIndex.Utxos(g.PKH); err != nil || len(utxos) < n {
		t.Fatalf("address index after the big block: %d outputs, %v", len(utxos), err)
	}
	// A longer branch from below makes the big block leave again.
	fork := g.Chain(base[100].Hash(), 2)
	chaintest.MustProcess(t, c, fork...)
	requireSameState(t, c, append(slices.Clone(base), fork...))
	chaintest.WaitIndexes(t, c)
	if _, _, err := txIndex.Find(bigTx); !errors.Is(err, blockchain.ErrNotFound) {
		t.Fatalf("transaction index after the big block left: %v", err)
	}
}
