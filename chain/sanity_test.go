package chain

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// One case per context-free rule: each mutation of a valid block must fail with
// that rule's error kind.
func TestCheckBlockSanity(t *testing.T) {
	params := RegtestParams
	key := testKey(3)
	cases := []struct {
		name    string
		mutate  func(b *Block)
		resolve bool // recompute merkle root and proof of work after mutate
		want    ErrorKind
	}{
		{"valid", func(*Block) {}, true, ""},
		{"hash above target", func(b *Block) { solve(t, &b.Header, params, false) }, false, ErrHighHash},
		{"bits above pow limit", func(b *Block) { b.Header.Bits = 0x2100ffff }, false, ErrBadBits},
		{"negative bits", func(b *Block) { b.Header.Bits = 0x20800000 | 0x1234 }, false, ErrBadBits},
		{"no transactions", func(b *Block) { b.Txs = nil }, true, ErrNoTransactions},
		{"block too big", func(b *Block) {
			b.Txs[1].Outputs = make([]TxOut, MaxBlockSize/minTxOutSize)
		}, true, ErrBlockTooBig},
		{"first not coinbase", func(b *Block) { b.Txs = b.Txs[1:] }, true, ErrFirstTxNotCoinbase},
		{"second coinbase", func(b *Block) {
			b.Txs = append(b.Txs, NewCoinbase(1, 1, nil, 1, [20]byte{}))
		}, true, ErrMultipleCoinbases},
		{"bad merkle root", func(b *Block) { b.Header.MerkleRoot[0] ^= 1; solve(t, &b.Header, params, true) }, false, ErrBadMerkleRoot},
		{"merkle root over txids", func(b *Block) {
			b.Header.MerkleRoot = MerkleRoot(b.TxIDs())
			solve(t, &b.Header, params, true)
		}, false, ErrBadMerkleRoot},
		{"duplicate tx", func(b *Block) { b.Txs = append(b.Txs, b.Txs[1]) }, true, ErrDuplicateTx},
		{"tx without inputs", func(b *Block) { b.Txs[1].Inputs = nil }, true, ErrNoTxInputs},
		{"tx without outputs", func(b *Block) { b.Txs[1].Outputs = nil }, true, ErrNoTxOutputs},
		{"output over max money", func(b *Block) { b.Txs[1].Outputs[0].Value = MaxMoney + 1 }, true, ErrBadTxOutValue},
		{"outputs sum over max money", func(b *Block) {
			b.Txs[1].Outputs[0].Value = MaxMoney
			b.Txs[1].Outputs[1].Value = 1
		}, true, ErrBadTxOutValue},
		{"outputs sum overflows", func(b *Block) {
			b.Txs[1].Outputs[0].Value = 1 << 63
			b.Txs[1].Outputs[1].Value = 1 << 63
		}, true, ErrBadTxOutValue},
		{"input spent twice", func(b *Block) { b.Txs[1].Inputs[1].PrevOut = b.Txs[1].Inputs[0].PrevOut }, true, ErrDuplicateTxInputs},
		{"coinbase data too short", func(b *Block) { b.Txs[0].Inputs[0].Witness[0] = []byte{1} }, true, ErrBadCoinbaseDataLen},
		{"coinbase data too long", func(b *Block) { b.Txs[0].Inputs[0].Witness[0] = make([]byte, 101) }, true, ErrBadCoinbaseDataLen},
		{"coinbase witness of two items", func(b *Block) {
			b.Txs[0].Inputs[0].Witness = append(b.Txs[0].Inputs[0].Witness, []byte{1, 2})
		}, true, ErrBadCoinbaseWitness},
		{"null outpoint in a spend", func(b *Block) { b.Txs[1].Inputs[1].PrevOut = NullOutPoint }, true, ErrNullPrevOut},
		{"witness of one item", func(b *Block) { b.Txs[1].Inputs[0].Witness = b.Txs[1].Inputs[0].Witness[:1] }, true, ErrBadWitness},
		{"uncompressed key", func(b *Block) {
			b.Txs[1].Inputs[0].Witness[0] = key.PubKey().SerializeUncompressed()
		}, true, ErrBadPubKey},
		{"key with bad prefix", func(b *Block) {
			pub := bytes.Clone(b.Txs[1].Inputs[0].Witness[0])
			pub[0] = secp256k1.PubKeyFormatUncompressed
			b.Txs[1].Inputs[0].Witness[0] = pub
		}, true, ErrBadPubKey},
		{"signature not DER", func(b *Block) { b.Txs[1].Inputs[0].Witness[1] = []byte{0x30, 1, 2} }, true, ErrBadSignatureEncode},
		{"signature too long", func(b *Block) { b.Txs[1].Inputs[0].Witness[1] = make([]byte, 73) }, true, ErrBadSignatureEncode},
		{"high S", func(b *Block) {
			b.Txs[1].Inputs[0].Witness[1] = highS(t, b.Txs[1].Inputs[0].Witness[1])
		}, true, ErrHighS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := testBlock(t, spendTx(t, key, 1, 2, 10_000), spendTx(t, key, 2, 1, 10_000))
			c.mutate(b)
			if c.resolve {
				finishBlock(t, b)
			}
			txids, err := CheckBlockSanity(b, params)
			if c.want == "" {
				if err != nil {
					t.Fatalf("valid block rejected: %v", err)
				}
				if !slices.Equal(txids, b.TxIDs()) {
					t.Fatalf("txids %v, want %v", txids, b.TxIDs())
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var re *RuleError
			if !errors.As(err, &re) || re.Description == "" {
				t.Fatalf("err %v is not a described *RuleError", err)
			}
		})
	}
}

// A block large enough to be checked on several cores returns every txid,
// and of two failing transactions reports the first in block order, whichever
// core meets its failure first.
func TestCheckBlockSanityLargeBlock(t *testing.T) {
	key := testKey(4)
	txs := make([]*Tx, 4*parallelSanityTxs)
	for i := range txs {
		txs[i] = spendTx(t, key, uint32(i+1), 1, 10_000)
	}
	b := testBlock(t, txs...)
	txids, err := CheckBlockSanity(b, RegtestParams)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(txids, b.TxIDs()) {
		t.Fatal("txids of a large block differ from the transactions'")
	}
	// Transaction 3 sits in the first core's chunk, the last one in the last
	// core's; the first core has a chunk of hundreds to go through first.
	b.Txs[len(b.Txs)-1].Outputs = nil
	b.Txs[3].Inputs = nil
	finishBlock(t, b)
	for range 20 {
		_, err := CheckBlockSanity(b, RegtestParams)
		if !errors.Is(err, ErrNoTxInputs) || !strings.HasPrefix(err.Error(), "transaction 3:") {
			t.Fatalf("err = %v, want transaction 3's missing inputs", err)
		}
	}
}

func TestMerkleRoot(t *testing.T) {
	var a, b, c Hash
	a[0], b[0], c[0] = 1, 2, 3
	if MerkleRoot([]Hash{a}) != a {
		t.Error("a single leaf is its own root")
	}
	ab := DoubleSHA256(append(a[:], b[:]...))
	if MerkleRoot([]Hash{a, b}) != ab {
		t.Error("two leaves hash as a pair")
	}
	cc := DoubleSHA256(append(c[:], c[:]...))
	if got := MerkleRoot([]Hash{a, b, c}); got != DoubleSHA256(append(ab[:], cc[:]...)) {
		t.Error("odd level must duplicate its last hash")
	}
	leaves := []Hash{a, b, c}
	MerkleRoot(leaves)
	if leaves[0] != a || leaves[1] != b {
		t.Error("MerkleRoot modified its input")
	}
}

func TestMerkleBranch(t *testing.T) {
	for n := 1; n <= 9; n++ {
		leaves := make([]Hash, n)
		for i := range leaves {
			leaves[i][0], leaves[i][1] = byte(i), byte(n)
		}
		branch := MerkleBranch(leaves)
		if got := MerkleRootFromBranch(leaves[0], branch); got != MerkleRoot(leaves) {
			t.Fatalf("%d leaves: root from branch %s, want %s", n, got, MerkleRoot(leaves))
		}
		// A new first leaf (a rolled coinbase) gives the root of the changed list.
		leaves[0][5] = 0xaa
		if got := MerkleRootFromBranch(leaves[0], branch); got != MerkleRoot(leaves) {
			t.Fatalf("%d leaves: root after changing the first leaf is wrong", n)
		}
	}
}
