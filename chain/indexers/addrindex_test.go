package indexers_test

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// openOnBase opens a chain in a new directory with the index ix alone, and
// processes a base of n blocks, which the index applies; the chain closes
// when the test ends.
func openOnBase(tb testing.TB, ix blockchain.Indexer, n int) (*blockchain.Chain, *chaintest.Generator, []*chain.Block) {
	tb.Helper()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: tb.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Indexers: []blockchain.Indexer{ix}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, n)
	chaintest.MustProcess(tb, c, base...)
	chaintest.WaitIndexes(tb, c)
	return c, g, base
}

// requireAddress fails the test unless the address index lists for pkh the
// unspent outputs and history given, in that order, from each query.
func requireAddress(t *testing.T, ix *indexers.AddrIndex, pkh [chain.PubKeyHashSize]byte, utxos []indexers.AddressUtxo, txs []indexers.AddressTx) {
	t.Helper()
	gotUtxos, err := ix.Utxos(pkh)
	if err != nil {
		t.Fatal(err)
	}
	gotTxs, err := ix.TxIDs(pkh)
	if err != nil {
		t.Fatal(err)
	}
	bothUtxos, bothTxs, err := ix.UtxosAndTxIDs(pkh, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotUtxos, utxos) || !slices.Equal(bothUtxos, utxos) {
		t.Errorf("unspent outputs of %x: %+v, and with the history %+v; want %+v", pkh, gotUtxos, bothUtxos, utxos)
	}
	if !slices.Equal(gotTxs, txs) || !slices.Equal(bothTxs, txs) {
		t.Errorf("history of %x: %+v, and with the outputs %+v; want %+v", pkh, gotTxs, bothTxs, txs)
	}
}

// The address index lists in chain order what an address was paid and
// spent: an output spent in the block that created it (its spender's record
// follows its creator's by position), an address paying itself its change
// (received counts the change alone), a transaction only spending from it
// (received 0); and a reorganisation that takes the spend away lists the
// outputs it spent as unspent again.
func TestAddrIndexSpendsChangeAndReorgs(t *testing.T) {
	ix := indexers.NewAddrIndex()
	c, g, base := openOnBase(t, ix, 101)
	key, other := g.NewKey(), g.NewKey()

	pay := g.SpendTo([]chain.OutPoint{g.Coinbase(base[0].Hash())}, chain.TxOut{Value: 1000, PubKeyHash: key}, chain.TxOut{Value: 2000, PubKeyHash: key})
	// The generator signs for outputs of blocks it made: a block of pay
	// alone, never processed, lets it sign pay's spend in pay's block.
	g.NextBlock(base[100].Hash(), pay)
	change := g.SpendTo([]chain.OutPoint{{TxID: pay.TxID()}}, chain.TxOut{Value: 300, PubKeyHash: other}, chain.TxOut{Value: 600, PubKeyHash: key})
	b1 := g.NextBlock(base[100].Hash(), pay, change)
	chaintest.MustProcess(t, c, b1)
	chaintest.WaitIndexes(t, c)
	h1 := g.Height(b1.Hash())
	keyUtxos := []indexers.AddressUtxo{
		{OutPoint: chain.OutPoint{TxID: pay.TxID(), Index: 1}, Value: 2000, Height: h1},
		{OutPoint: chain.OutPoint{TxID: change.TxID(), Index: 1}, Value: 600, Height: h1},
	}
	keyTxs := []indexers.AddressTx{{TxID: pay.TxID(), Height: h1, Received: 3000}, {TxID: change.TxID(), Height: h1, Received: 600}}
	otherUtxos := []indexers.AddressUtxo{{OutPoint: chain.OutPoint{TxID: change.TxID()}, Value: 300, Height: h1}}
	otherTxs := []indexers.AddressTx{{TxID: change.TxID(), Height: h1, Received: 300}}
	requireAddress(t, ix, key, keyUtxos, keyTxs)
	requireAddress(t, ix, other, otherUtxos, otherTxs)

	sweep := g.SpendTo([]chain.OutPoint{keyUtxos[0].OutPoint, keyUtxos[1].OutPoint}, chain.TxOut{Value: 2500, PubKeyHash: other})
	b2 := g.NextBlock(b1.Hash(), sweep)
	chaintest.MustProcess(t, c, b2)
	chaintest.WaitIndexes(t, c)
	h2 := g.Height(b2.Hash())
	requireAddress(t, ix, key, nil, append(slices.Clone(keyTxs), indexers.AddressTx{TxID: sweep.TxID(), Height: h2}))
	requireAddress(t, ix, other,
		append(slices.Clone(otherUtxos), indexers.AddressUtxo{OutPoint: chain.OutPoint{TxID: sweep.TxID()}, Value: 2500, Height: h2}),
		append(slices.Clone(otherTxs), indexers.AddressTx{TxID: sweep.TxID(), Height: h2, Received: 2500}))

	fork := g.Chain(b1.Hash(), 2)
	chaintest.MustProcess(t, c, fork...)
	if c.Best().Hash != fork[1].Hash() {
		t.Fatalf("tip %s, want the fork's %s", c.Best().Hash, fork[1].Hash())
	}
	chaintest.WaitIndexes(t, c)
	requireAddress(t, ix, key, keyUtxos, keyTxs)
	requireAddress(t, ix, other, otherUtxos, otherTxs)
}

// A transaction paying more key hashes than are looked up one by one
// (touchedLinearMax) lists each key hash's outputs in its record alone.
func TestAddrIndexTransactionOfManyKeys(t *testing.T) {
	ix := indexers.NewAddrIndex()
	c, g, base := openOnBase(t, ix, 101)
	keys := make([][chain.PubKeyHashSize]byte, 12)
	outs := make([]chain.TxOut, 3*len(keys))
	for i := range keys {
		keys[i] = g.NewKey()
	}
	for i := range outs {
		outs[i] = chain.TxOut{Value: uint64(1000 + i), PubKeyHash: keys[i%len(keys)]}
	}
	pay := g.SpendTo([]chain.OutPoint{g.Coinbase(base[0].Hash())}, outs...)
	b := g.NextBlock(base[100].Hash(), pay)
	chaintest.MustProcess(t, c, b)
	chaintest.WaitIndexes(t, c)
	h := g.Height(b.Hash())
	for i, key := range keys {
		var utxos []indexers.AddressUtxo
		var received uint64
		for j := i; j < len(outs); j += len(keys) {
			utxos = append(utxos, indexers.AddressUtxo{OutPoint: chain.OutPoint{TxID: pay.TxID(), Index: uint32(j)}, Value: outs[j].Value, Height: h})
			received += outs[j].Value
		}
		requireAddress(t, ix, key, utxos, []indexers.AddressTx{{TxID: pay.TxID(), Height: h, Received: received}})
	}
}

// addressModel is what the address index must list for every key hash of a
// row of main-chain blocks from height 1, worked out from the blocks alone:
// the reference the index's queries are checked against.
type addressModel struct {
	outputs map[chain.OutPoint]chain.TxOut
	utxos   map[[chain.PubKeyHashSize]byte][]indexers.AddressUtxo
	txs     map[[chain.PubKeyHashSize]byte][]indexers.AddressTx
}

func modelAddresses(blocks []*chain.Block) *addressModel {
	m := &addressModel{outputs: make(map[chain.OutPoint]chain.TxOut),
		utxos: make(map[[chain.PubKeyHashSize]byte][]indexers.AddressUtxo), txs: make(map[[chain.PubKeyHashSize]byte][]indexers.AddressTx)}
	for i, b := range blocks {
		height := int32(i + 1)
		for pos, tx := range b.Txs {
			id := tx.TxID()
			received := make(map[[chain.PubKeyHashSize]byte]uint64)
			var touched [][chain.PubKeyHashSize]byte
			touch := func(pkh [chain.PubKeyHashSize]byte, value uint64) {
				if _, ok := received[pkh]; !ok {
					touched = append(touched, pkh)
				}
				received[pkh] += value
			}
			if pos > 0 {
				for _, in := range tx.Inputs {
					out := m.outputs[in.PrevOut]
					touch(out.PubKeyHash, 0)
					m.utxos[out.PubKeyHash] = slices.DeleteFunc(m.utxos[out.PubKeyHash], func(u indexers.AddressUtxo) bool { return u.OutPoint == in.PrevOut })
				}
			}
			for idx, out := range tx.Outputs {
				op := chain.OutPoint{TxID: id, Index: uint32(idx)}
				m.outputs[op] = out
				touch(out.PubKeyHash, out.Value)
				m.utxos[out.PubKeyHash] = append(m.utxos[out.PubKeyHash], indexers.AddressUtxo{OutPoint: op, Value: out.Value, Height: height})
			}
			for _, pkh := range touched {
				m.txs[pkh] = append(m.txs[pkh], indexers.AddressTx{TxID: id, Height: height, Received: received[pkh]})
			}
		}
	}
	return m
}

// requireModel checks every key hash the blocks touch, and those of keys,
// against the model of blocks.
func requireModel(t *testing.T, ix *indexers.AddrIndex, blocks []*chain.Block, keys ...[chain.PubKeyHashSize]byte) {
	t.Helper()
	m := modelAddresses(blocks)
	for pkh := range m.txs {
		requireAddress(t, ix, pkh, m.utxos[pkh], m.txs[pkh])
	}
	for _, pkh := range keys {
		requireAddress(t, ix, pkh, m.utxos[pkh], m.txs[pkh])
	}
}

// A transaction spending from more key hashes than are looked up one by one
// (touchedLinearMax), two outputs of each, and paying some of them again in
// several outputs, one of which a later transaction of the same block
// spends; then a reorganisation to a branch whose coinbase, at the same
// height and position, pays the same key hash as the one it replaces (the
// same record key, deleted and set again), and a restart. Every key hash's
// outputs and history match what the blocks say.
func TestAddrIndexMatchesTheBlocksAcrossReorgAndRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() (*blockchain.Chain, *indexers.AddrIndex) {
		ix := indexers.NewAddrIndex()
		c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: slog.New(slog.DiscardHandler),
			Indexers: []blockchain.Indexer{ix}})
		if err != nil {
			t.Fatal(err)
		}
		return c, ix
	}
	c, ix := open()
	defer func() { c.Close() }()
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 101)
	chaintest.MustProcess(t, c, base...)

	keys := make([][chain.PubKeyHashSize]byte, 12)
	for i := range keys {
		keys[i] = g.NewKey()
	}
	outs := make([]chain.TxOut, 2*len(keys))
	for i := range outs {
		outs[i] = chain.TxOut{Value: uint64(10_000 + i), PubKeyHash: keys[i%len(keys)]}
	}
	pay := g.SpendTo([]chain.OutPoint{g.Coinbase(base[0].Hash())}, outs...)
	b1 := g.NextBlock(base[100].Hash(), pay)
	ins := []chain.OutPoint{g.Coinbase(base[1].Hash())}
	for i := range outs {
		ins = append(ins, chain.OutPoint{TxID: pay.TxID(), Index: uint32(i)})
	}
	sweep := g.SpendTo(ins, chain.TxOut{Value: 5000, PubKeyHash: keys[0]}, chain.TxOut{Value: 6000, PubKeyHash: keys[0]},
		chain.TxOut{Value: 7000, PubKeyHash: keys[11]}, chain.TxOut{Value: 8000, PubKeyHash: g.PKH}, chain.TxOut{Value: 9000, PubKeyHash: keys[0]})
	g.NextBlock(b1.Hash(), sweep) // lets the generator sign for sweep's outputs
	again := g.SpendTo([]chain.OutPoint{{TxID: sweep.TxID(), Index: 1}}, chain.TxOut{Value: 3000, PubKeyHash: keys[0]}, chain.TxOut{Value: 2000, PubKeyHash: keys[5]})
	b2 := g.NextBlock(b1.Hash(), sweep, again)
	chaintest.MustProcess(t, c, b1, b2)
	chaintest.WaitIndexes(t, c)
	main := append(slices.Clone(base), b1, b2)
	requireModel(t, ix, main, keys...)

	fork := g.Chain(b1.Hash(), 2)
	chaintest.MustProcess(t, c, fork...)
	if c.Best().Hash != fork[1].Hash() {
		t.Fatalf("tip %s, want the fork's %s", c.Best().Hash, fork[1].Hash())
	}
	chaintest.WaitIndexes(t, c)
	main = append(slices.Clone(base), b1, fork[0], fork[1])
	requireModel(t, ix, main, keys...)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, ix = open()
	chaintest.WaitIndexes(t, c)
	requireModel(t, ix, main, keys...)
}
