package blockchain_test

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func openChain(t testing.TB, dir string) *blockchain.Chain {
	t.Helper()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openIndexed opens the chain in dir, closed when the test ends, with the
// transaction and address indexes.
func openIndexed(t testing.TB, dir string) (*blockchain.Chain, *indexers.TxIndex, *indexers.AddrIndex) {
	t.Helper()
	txIndex, addrIndex := indexers.NewTxIndex(), indexers.NewAddrIndex()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog,
		Indexers: []blockchain.Indexer{txIndex, addrIndex}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, txIndex, addrIndex
}

func blockHeight(b *chain.Block) int32 {
	h, _ := chain.CoinbaseHeight(b.Txs[0])
	return h
}

func requireTip(t testing.TB, c *blockchain.Chain, want *chain.Block) {
	t.Helper()
	if got := c.Best().Hash; got != want.Hash() {
		t.Fatalf("tip %s at %d, want %s at %d", got, c.Best().Height, want.Hash(), blockHeight(want))
	}
}

// matureBase builds 101 blocks on genesis, so the first coinbases are spendable
// at the next height, and processes them.
func matureBase(t testing.TB, c *blockchain.Chain, g *chaintest.Generator) []*chain.Block {
	t.Helper()
	blocks := g.Chain(chain.RegtestParams.GenesisHash, 101)
	chaintest.MustProcess(t, c, blocks...)
	return blocks
}

// spendOnBase processes a mature base and, on it, a block whose one
// transaction spends the first coinbase; it returns the base, that
// transaction and that block.
func spendOnBase(t testing.TB, c *blockchain.Chain, g *chaintest.Generator) (base []*chain.Block, spend *chain.Tx, last *chain.Block) {
	t.Helper()
	base = matureBase(t, c, g)
	spend = g.SpendAll(g.Coinbase(base[0].Hash()), 1000)
	last = g.NextBlock(base[100].Hash(), spend)
	chaintest.MustProcess(t, c, last)
	return base, spend, last
}

// One case per contextual rule, each on top of the same mature base: the block
// must be rejected with the rule's error kind and the tip must not move.
func TestProcessBlockRules(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	tip := base[len(base)-1]
	tipHash := tip.Hash()
	cb1, cb2 := g.Coinbase(base[0].Hash()), g.Coinbase(base[1].Hash())
	subsidy := chain.RegtestParams.Subsidy(1)

	// A block that spends cb2 goes first, for the cross-block double spend.
	spender := g.NextBlock(tipHash, g.SpendAll(cb2, 1000))
	chaintest.MustProcess(t, c, spender)
	tipHash = spender.Hash()

	cases := []struct {
		name  string
		build func() *chain.Block
		want  chain.ErrorKind
	}{
		{"double spend in block", func() *chain.Block {
			return g.NextBlock(tipHash, g.SpendAll(cb1, 1000), g.Spend([]chain.OutPoint{cb1}, subsidy-2000))
		}, chain.ErrMissingTxOut},
		{"double spend across blocks", func() *chain.Block {
			return g.NextBlock(tipHash, g.SpendAll(cb2, 2000))
		}, chain.ErrMissingTxOut},
		{"missing input", func() *chain.Block {
			tx := g.SpendAll(cb1, 1000)
			tx.Inputs[0].PrevOut = chain.OutPoint{TxID: chaintest.TxIDFromSeed(1)}
			return g.NextBlock(tipHash, tx)
		}, chain.ErrMissingTxOut},
		{"immature coinbase spend", func() *chain.Block {
			return g.NextBlock(tipHash, g.SpendAll(g.Coinbase(base[10].Hash()), 1000))
		}, chain.ErrImmatureSpend},
		{"outputs above inputs", func() *chain.Block {
			return g.NextBlock(tipHash, g.Spend([]chain.OutPoint{cb1}, subsidy+1))
		}, chain.ErrSpendTooHigh},
		{"coinbase overpays", func() *chain.Block {
			return g.BuildBlock(tipHash, func(b *chain.Block) { b.Txs[0].Outputs[0].Value++ })
		}, chain.ErrBadCoinbaseValue},
		{"coinbase wrong height", func() *chain.Block {
			return g.BuildBlock(tipHash, func(b *chain.Block) {
				b.Txs[0].Inputs[0].Witness[0] = chain.CoinbaseData(7, 0, nil)
			})
		}, chain.ErrBadCoinbaseHeight},
		{"bad signature", func() *chain.Block {
			tx := g.SpendAll(cb1, 1000)
			tx.Outputs[0].Value-- // signed before: the signature no longer matches
			return g.NextBlock(tipHash, tx)
		}, chain.ErrBadSignature},
		{"signature for another amount", func() *chain.Block {
			tx := g.SpendAll(cb1, 1000)
			hasher := chain.NewSigHasher(tx, []chain.TxOut{{Value: subsidy - 1, PubKeyHash: g.PKH}})
			chain.SignInput(tx, hasher, 0, g.Key)
			return g.NextBlock(tipHash, tx)
		}, chain.ErrBadSignature},
		{"signature shown another input's amount", func() *chain.Block {
			// BIP 143's weakness: input 0's signer is shown input 1's output
			// wrong. Under a sighash over every spent output its signature
			// does not verify, so the fee it displayed is the fee or nothing.
			tx := g.Spend([]chain.OutPoint{cb1, g.Coinbase(base[2].Hash())}, 2*subsidy-1000)
			hasher := chain.NewSigHasher(tx, []chain.TxOut{{Value: subsidy, PubKeyHash: g.PKH}, {Value: subsidy + 1000, PubKeyHash: g.PKH}})
			chain.SignInput(tx, hasher, 0, g.Key)
			return g.NextBlock(tipHash, tx)
		}, chain.ErrBadSignature},
		{"signature for another input", func() *chain.Block {
			tx := g.Spend([]chain.OutPoint{cb1, g.Coinbase(base[2].Hash())}, 2*subsidy-1000)
			tx.Inputs[0].Witness, tx.Inputs[1].Witness = tx.Inputs[1].Witness, tx.Inputs[0].Witness
			return g.NextBlock(tipHash, tx)
		}, chain.ErrBadSignature},
		{"key of another owner", func() *chain.Block {
			tx := g.SpendAll(cb1, 1000)
			chain.SignInput(tx, chain.NewSigHasher(tx, []chain.TxOut{{Value: subsidy, PubKeyHash: g.PKH}}), 0, chaintest.OtherKey())
			return g.NextBlock(tipHash, tx)
		}, chain.ErrPubKeyHashMismatch},
		{"bad merkle root", func() *chain.Block {
			b := g.NextBlock(tipHash)
			b.Header.MerkleRoot[0] ^= 1
			resolve(g, b)
			return b
		}, chain.ErrBadMerkleRoot},
		{"coinbase lock time not height-1", func() *chain.Block {
			return g.BuildBlock(tipHash, func(b *chain.Block) { b.Txs[0].LockTime = 0 })
		}, chain.ErrBadCoinbaseLockTime},
		{"time not after median", func() *chain.Block {
			return g.BuildBlock(tipHash, func(b *chain.Block) { b.Header.Time = base[95].Header.Time })
		}, chain.ErrTimeTooOld},
		{"time too far ahead", func() *chain.Block {
			return g.BuildBlock(tipHash, func(b *chain.Block) {
				b.Header.Time = uint32(time.Now().Unix() + chain.MaxFutureBlockTime + 60)
			})
		}, chain.ErrTimeTooNew},
		{"wrong bits", func() *chain.Block {
			return g.BuildBlock(tipHash, func(b *chain.Block) { b.Header.Bits = 0x207ffffe })
		}, chain.ErrBadDifficulty},
		{"lock time in the future", func() *chain.Block {
			tx := g.SpendAll(cb1, 1000)
			tx.LockTime = 5000
			g.Sign(tx)
			return g.NextBlock(tipHash, tx)
		}, chain.ErrUnfinalizedTx},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.build()
			_, err := c.ProcessBlock(b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if c.Best().Hash != tipHash {
				t.Fatal("tip moved")
			}
		})
	}
	// The chain still takes a valid block on the same tip.
	chaintest.MustProcess(t, c, g.NextBlock(tipHash, g.SpendAll(cb1, 1000)))
	if err := c.VerifyUtxoSet(); err != nil {
		t.Fatal(err)
	}
}

// resolve searches the proof of work again without touching the merkle root.
func resolve(g *chaintest.Generator, b *chain.Block) {
	for b.Header.Nonce = 0; chain.CheckProofOfWork(&b.Header, g.Params) != nil; b.Header.Nonce++ {
	}
}

func TestInvalidBlockRemembered(t *testing.T) {
	c := openChain(t, t.TempDir())
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	tip := base[len(base)-1].Hash()
	bad := g.BuildBlock(tip, func(b *chain.Block) { b.Txs[0].Outputs[0].Value++ })
	if _, err := c.ProcessBlock(bad); !errors.Is(err, chain.ErrBadCoinbaseValue) {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.ProcessBlock(bad); !errors.Is(err, chain.ErrKnownInvalid) {
		t.Fatalf("second time: err = %v, want ErrKnownInvalid", err)
	}
	child := g.NextBlock(bad.Hash())
	if _, err := c.ProcessBlock(child); !errors.Is(err, chain.ErrInvalidAncestor) {
		t.Fatalf("child: err = %v, want ErrInvalidAncestor", err)
	}
	if !c.IsKnownInvalid(child.Hash()) {
		t.Fatal("child of an invalid block must be invalid")
	}
}
