package blockchain_test

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// randomIndexChain builds, on a mature base, a random chain of payments
// among a few keys, with forks that reorganise it: transactions spend
// outputs of earlier blocks, and keys receive and spend in many blocks. It returns the blocks in the order to process them,
// the final main chain's tip, and the keys.
func randomIndexChain(g *chaintest.Generator, base []*chain.Block, seed uint64) (blocks []*chain.Block, tip chain.Hash, keys [][chain.PubKeyHashSize]byte) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for range 4 {
		keys = append(keys, g.NewKey())
	}
	key := func() [chain.PubKeyHashSize]byte { return keys[rng.IntN(len(keys))] }
	// The unspent outputs after each block, and each block's parent.
	utxos := make(map[chain.Hash][]chain.OutPoint)
	parent := make(map[chain.Hash]chain.Hash)

	var outs []chain.TxOut
	for range 12 {
		outs = append(outs, chain.TxOut{Value: 100_000_000, PubKeyHash: key()})
	}
	fund := g.SpendTo([]chain.OutPoint{g.Coinbase(base[0].Hash()), g.Coinbase(base[1].Hash())}, outs...)
	b := g.NextBlock(base[100].Hash(), fund)
	blocks, tip = append(blocks, b), b.Hash()
	parent[tip] = base[100].Hash()
	for i := range outs {
		utxos[tip] = append(utxos[tip], chain.OutPoint{TxID: fund.TxID(), Index: uint32(i)})
	}
	extend := func(from chain.Hash) chain.Hash {
		// Outputs of the block's own transactions are not spent in it: the
		// generator signs for outputs of the blocks it made.
		avail := slices.Clone(utxos[from])
		var created []chain.OutPoint
		var txs []*chain.Tx
		for range 1 + rng.IntN(3) {
			if len(avail) == 0 {
				break
			}
			var ins []chain.OutPoint
			var in uint64
			for range 1 + rng.IntN(min(2, len(avail))) {
				j := rng.IntN(len(avail))
				out, _ := g.Output(avail[j])
				in += out.Value
				ins = append(ins, avail[j])
				avail = slices.Delete(avail, j, j+1)
			}
			n := 1 + rng.IntN(3)
			outs := make([]chain.TxOut, n)
			for k := range outs {
				outs[k] = chain.TxOut{Value: (in - 100) / uint64(n), PubKeyHash: key()}
			}
			tx := g.SpendTo(ins, outs...)
			txs = append(txs, tx)
			for k := range outs {
				created = append(created, chain.OutPoint{TxID: tx.TxID(), Index: uint32(k)})
			}
		}
		b := g.NextBlock(from, txs...)
		blocks = append(blocks, b)
		parent[b.Hash()] = from
		utxos[b.Hash()] = append(avail, created...)
		return b.Hash()
	}
	for range 40 {
		if rng.IntN(4) > 0 || g.Height(tip) < 105 {
			tip = extend(tip)
			continue
		}
		// A fork d blocks back, one block longer: the chain reorganises.
		d := 1 + rng.IntN(3)
		from := tip
		for range d {
			from = parent[from]
		}
		for range d + 1 {
			from = extend(from)
		}
		tip = from
	}
	return blocks, tip, keys
}

// openAddrIndexed opens the chain in dir with an address index alone.
func openAddrIndexed(t *testing.T, dir string, ix blockchain.Indexer) *blockchain.Chain {
	t.Helper()
	var ixs []blockchain.Indexer
	if ix != nil {
		ixs = []blockchain.Indexer{ix}
	}
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, Indexers: ixs})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The address index's records are a function of the main chain alone: an
// index that follows a random chain with reorganisations block by block,
// one that is held while the chain moves and then applies it in batches
// spanning the reorganisations, and one built from scratch on the final
// chain hold the same records, and answer as the final UTXO set and the
// main chain's transactions say.
func TestAddrIndexBatchesMatchBlockByBlock(t *testing.T) {
	for seed := range uint64(3) {
		g := chaintest.New(chain.RegtestParams)
		base := g.Chain(chain.RegtestParams.GenesisHash, 101)
		blocks, tip, keys := randomIndexChain(g, base, seed)

		// Block by block: the index catches up after every block.
		live := indexers.NewAddrIndex()
		cLive := openAddrIndexed(t, t.TempDir(), live)
		t.Cleanup(func() { cLive.Close() })
		chaintest.MustProcess(t, cLive, base...)
		for _, b := range blocks {
			chaintest.MustProcess(t, cLive, b)
			chaintest.WaitIndexes(t, cLive)
		}
		if cLive.Best().Hash != tip {
			t.Fatalf("seed %d: tip %s, want %s", seed, cLive.Best().Hash, tip)
		}

		// Held in a block on the final main chain while every other block
		// is processed.
		cHeld, held := openBatchWatched(t, t.TempDir(), true)
		chaintest.MustProcess(t, cHeld, base...)
		chaintest.WaitIndexes(t, cHeld)
		holdAt := g.Block(tip)
		for range 20 {
			holdAt = g.Block(holdAt.Header.PrevBlock)
		}
		held.hold(holdAt.Hash())
		chaintest.MustProcess(t, cHeld, blocks...)
		<-held.entered
		close(held.release)
		chaintest.WaitIndexes(t, cHeld)

		// Built from scratch on the final chain.
		dir := t.TempDir()
		c := openAddrIndexed(t, dir, nil)
		chaintest.MustProcess(t, c, base...)
		chaintest.MustProcess(t, c, blocks...)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		fresh := indexers.NewAddrIndex()
		cFresh := openAddrIndexed(t, dir, fresh)
		t.Cleanup(func() { cFresh.Close() })
		chaintest.WaitIndexes(t, cFresh)

		want, err := blockchain.IndexRecords(cLive)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]*blockchain.Chain{"held": cHeld, "built from scratch": cFresh} {
			got, err := blockchain.IndexRecords(c)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("seed %d: the index %s holds %d records, the one following block by block %d; they differ", seed, name, len(got), len(want))
			}
		}

		// The answers, against the main chain.
		var main []*chain.Block
		for h := tip; h != base[100].Hash(); h = g.Block(h).Header.PrevBlock {
			main = append(main, g.Block(h))
		}
		slices.Reverse(main)
		for _, pkh := range keys {
			unspent := make(map[chain.OutPoint]bool)
			var history []chain.Hash
			for _, b := range main {
				for _, tx := range b.Txs[1:] {
					touches := false
					for _, in := range tx.Inputs {
						if out, _ := g.Output(in.PrevOut); out.PubKeyHash == pkh {
							touches = true
						}
						delete(unspent, in.PrevOut)
					}
					for k, out := range tx.Outputs {
						if out.PubKeyHash == pkh {
							touches = true
							unspent[chain.OutPoint{TxID: tx.TxID(), Index: uint32(k)}] = true
						}
					}
					if touches {
						history = append(history, tx.TxID())
					}
				}
			}
			for name, ix := range map[string]*indexers.AddrIndex{"live": live, "held": held.AddrIndex, "built from scratch": fresh} {
				gotUtxos, ids := addrAnswers(t, ix, pkh)
				got := make(map[chain.OutPoint]bool)
				for _, op := range gotUtxos {
					got[op] = true
				}
				if !maps.Equal(got, unspent) {
					t.Errorf("seed %d: index %s lists %d unspent outputs of %x, the main chain has %d", seed, name, len(got), pkh, len(unspent))
				}
				if !sameSet(ids, history) {
					t.Errorf("seed %d: index %s lists a history of %d transactions for %x, the main chain has %d", seed, name, len(ids), pkh, len(history))
				}
			}
		}
	}
}

func sameSet(a, b []chain.Hash) bool {
	cmp := func(x, y chain.Hash) int { return slices.Compare(x[:], y[:]) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}
