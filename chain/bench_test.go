package chain

import "testing"

// benchBlock is a block of 2,000 one-input, two-output transactions.
func benchBlock(b *testing.B) *Block {
	b.Helper()
	key := testKey(5)
	txs := make([]*Tx, 2000)
	for i := range txs {
		txs[i] = spendTx(b, key, uint32(i), 1, 100_000)
	}
	return testBlock(b, txs...)
}

func BenchmarkDecodeBlock2000(b *testing.B) {
	enc := benchBlock(b).Encode()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := DecodeBlock(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTxIDs2000(b *testing.B) {
	blk := benchBlock(b)
	for b.Loop() {
		blk.TxIDs()
	}
}

func BenchmarkMerkleRoot2000(b *testing.B) {
	blk := benchBlock(b)
	leaves := blk.WitnessHashes()
	for b.Loop() {
		MerkleRoot(leaves)
	}
}

func BenchmarkBlockSanity2000(b *testing.B) {
	blk := benchBlock(b)
	for b.Loop() {
		if _, err := CheckBlockSanity(blk, RegtestParams); err != nil {
			b.Fatal(err)
		}
	}
}
