// Package chaintest holds what tests of chain and of the packages built on it
// share. A Generator builds chains of valid and deliberately invalid blocks, in
// the manner of Bitcoin Core's feature_block.py and btcd's fullblocktests: it
// remembers every block and the outputs it can spend, so a test can extend any
// block, fork anywhere and break any rule. OpenChain opens a chain in a test's
// temporary directory; HighS and OtherKey make the signatures and keys that
// break the signature rules.
package chaintest

import (
	"encoding/binary"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/quarrychain/quarry/chain"
)

// Generator builds blocks on a network whose difficulty does not change between
// the blocks it builds (regtest, or a test's own params with a fixed limit).
type Generator struct {
	Params *chain.Params
	Key    *secp256k1.PrivateKey
	PKH    [chain.PubKeyHashSize]byte

	blocks  map[chain.Hash]*chain.Block
	heights map[chain.Hash]int32
	outputs map[chain.OutPoint]chain.TxOut
	keys    map[[chain.PubKeyHashSize]byte]*secp256k1.PrivateKey
	extra   uint64
}

// New returns a generator whose coinbases pay to a fixed test key.
func New(params *chain.Params) *Generator {
	g := &Generator{
		Params:  params,
		blocks:  map[chain.Hash]*chain.Block{params.GenesisHash: params.GenesisBlock},
		heights: map[chain.Hash]int32{params.GenesisHash: 0},
		outputs: make(map[chain.OutPoint]chain.TxOut),
		keys:    make(map[[chain.PubKeyHashSize]byte]*secp256k1.PrivateKey),
	}
	g.PKH = g.NewKey()
	g.Key = g.keys[g.PKH]
	return g
}

// NewKey makes another key, derived from the number of keys made before it so
// that runs repeat, and returns its key hash; the generator signs spends of
// outputs paying to it.
func (g *Generator) NewKey() [chain.PubKeyHashSize]byte {
	var seed [32]byte
	seed[0], seed[31] = 0x51, 0x07
	binary.BigEndian.PutUint32(seed[1:], uint32(len(g.keys)))
	key := secp256k1.PrivKeyFromBytes(seed[:])
	pkh := chain.PubKeyHash(key.PubKey().SerializeCompressed())
	g.keys[pkh] = key
	return pkh
}

// Height returns the height of a block the generator built.
func (g *Generator) Height(h chain.Hash) int32 { return g.heights[h] }

// Block returns a block the generator built.
func (g *Generator) Block(h chain.Hash) *chain.Block { return g.blocks[h] }

// Coinbase returns the outpoint of the first coinbase output of block h.
func (g *Generator) Coinbase(h chain.Hash) chain.OutPoint {
	return chain.OutPoint{TxID: g.blocks[h].Txs[0].TxID()}
}

// Output returns the output op refers to, if the generator made it.
func (g *Generator) Output(op chain.OutPoint) (chain.TxOut, bool) {
	out, ok := g.outputs[op]
	return out, ok
}

// NextBlock builds a valid block on parent carrying txs, with a coinbase that
// claims the subsidy plus the fees of txs whose inputs the generator made.
func (g *Generator) NextBlock(parent chain.Hash, txs ...*chain.Tx) *chain.Block {
	return g.BuildBlock(parent, nil, txs...)
}

// BuildBlock is NextBlock with a hook that may change the block before its
// merkle root is computed and its proof of work found.
func (g *Generator) BuildBlock(parent chain.Hash, mutate func(*chain.Block), txs ...*chain.Tx) *chain.Block {
	prev, ok := g.blocks[parent]
	if !ok {
		panic(fmt.Sprintf("chaintest: unknown parent %s", parent))
	}
	height := g.heights[parent] + 1
	var fees uint64
	for _, tx := range txs {
		fees += g.fee(tx)
	}
	g.extra++
	cb := chain.NewCoinbase(height, g.extra, nil, g.Params.Subsidy(height)+fees, g.PKH)
	b := &chain.Block{
		Header: chain.Header{
			Version:   1,
			PrevBlock: parent,
			Time:      prev.Header.Time + 1,
			Bits:      prev.Header.Bits,
		},
		Txs: append([]*chain.Tx{cb}, txs...),
	}
	if mutate != nil {
		mutate(b)
	}
	g.Solve(b)
	g.remember(b, height)
	return b
}

// Solve recomputes the merkle root and searches the nonce for the block's bits.
func (g *Generator) Solve(b *chain.Block) {
	b.Header.MerkleRoot = chain.MerkleRoot(b.WitnessHashes())
	for b.Header.Nonce = 0; chain.CheckProofOfWork(&b.Header, g.Params) != nil; b.Header.Nonce++ {
	}
}

func (g *Generator) remember(b *chain.Block, height int32) {
	h := b.Hash()
	g.blocks[h] = b
	g.heights[h] = height
	for _, tx := range b.Txs {
		id := tx.TxID()
		for i, out := range tx.Outputs {
			g.outputs[chain.OutPoint{TxID: id, Index: uint32(i)}] = out
		}
	}
}

func (g *Generator) fee(tx *chain.Tx) uint64 {
	var in uint64
	for _, txin := range tx.Inputs {
		out, ok := g.outputs[txin.PrevOut]
		if !ok {
			return 0
		}
		in += out.Value
	}
	out, _ := tx.TotalOut()
	if out > in {
		return 0
	}
	return in - out
}

// KeyRing makes n keys and returns a function that gives their hashes in
// turn, round and round, for outputs spread over many keys that each receive
// more than once.
func (g *Generator) KeyRing(n int) func() [chain.PubKeyHashSize]byte {
	ring := make([][chain.PubKeyHashSize]byte, n)
	for i := range ring {
		ring[i] = g.NewKey()
	}
	next := -1
	return func() [chain.PubKeyHashSize]byte {
		next = (next + 1) % n
		return ring[next]
	}
}

// KeyFor returns the key an output paying to pkh is spent with: the key of
// that hash if the generator made it, else its first key.
func (g *Generator) KeyFor(pkh [chain.PubKeyHashSize]byte) *secp256k1.PrivateKey {
	if key, ok := g.keys[pkh]; ok {
		return key
	}
	return g.Key
}

// Spend builds a transaction spending ops (outputs the generator made, paying
// to its keys) into outputs of the given values paying to its first key, signed.
func (g *Generator) Spend(ops []chain.OutPoint, values ...uint64) *chain.Tx {
	outs := make([]chain.TxOut, len(values))
	for i, v := range values {
		outs[i] = chain.TxOut{Value: v, PubKeyHash: g.PKH}
	}
	return g.SpendTo(ops, outs...)
}

// SpendTo builds a transaction spending ops (outputs the generator made, paying
// to its keys) into outs, signed.
func (g *Generator) SpendTo(ops []chain.OutPoint, outs ...chain.TxOut) *chain.Tx {
	tx := &chain.Tx{Version: 1, Outputs: outs}
	for _, op := range ops {
		tx.Inputs = append(tx.Inputs, chain.TxIn{PrevOut: op})
	}
	g.Sign(tx)
	return tx
}

// Sign signs every input of tx whose spent output the generator knows, with
// the key the output pays to (the first key for an output paying elsewhere).
func (g *Generator) Sign(tx *chain.Tx) {
	spent := make([]chain.TxOut, len(tx.Inputs))
	for i, in := range tx.Inputs {
		spent[i] = g.outputs[in.PrevOut]
	}
	hasher := chain.NewSigHasher(tx, spent)
	for i := range tx.Inputs {
		chain.SignInput(tx, hasher, i, g.KeyFor(spent[i].PubKeyHash))
	}
}

// SpendAll spends op entirely, less fee, into one output.
func (g *Generator) SpendAll(op chain.OutPoint, fee uint64) *chain.Tx {
	return g.Spend([]chain.OutPoint{op}, g.outputs[op].Value-fee)
}

// Chain extends parent by n blocks with no transactions and returns them.
func (g *Generator) Chain(parent chain.Hash, n int) []*chain.Block {
	out := make([]*chain.Block, n)
	for i := range out {
		out[i] = g.NextBlock(parent)
		parent = out[i].Hash()
	}
	return out
}

// TxIDFromSeed makes a txid no real transaction has, for missing-input tests.
func TxIDFromSeed(seed uint32) chain.Hash {
	var h chain.Hash
	binary.LittleEndian.PutUint32(h[:], seed)
	h[31] = 0xee
	return h
}
