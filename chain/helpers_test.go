package chain

import (
	"encoding/binary"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// testKey returns a deterministic private key for seed.
func testKey(seed byte) *secp256k1.PrivateKey {
	var b [32]byte
	b[31] = seed
	b[0] = 1
	return secp256k1.PrivKeyFromBytes(b[:])
}

// spendTx builds a signed transaction spending n made-up outpoints, each worth
// value and paying to key, into two outputs.
func spendTx(t testing.TB, key *secp256k1.PrivateKey, seed uint32, n int, value uint64) *Tx {
	t.Helper()
	tx := &Tx{Version: 1}
	for i := 0; i < n; i++ {
		var id Hash
		binary.LittleEndian.PutUint32(id[:], seed)
		binary.LittleEndian.PutUint32(id[4:], uint32(i))
		tx.Inputs = append(tx.Inputs, TxIn{PrevOut: OutPoint{TxID: id, Index: uint32(i)}})
	}
	pkh := PubKeyHash(key.PubKey().SerializeCompressed())
	tx.Outputs = []TxOut{{Value: value / 2, PubKeyHash: pkh}, {Value: value/2 - 1000, PubKeyHash: pkh}}
	spent := make([]TxOut, n)
	for i := range spent {
		spent[i] = TxOut{Value: value, PubKeyHash: pkh}
	}
	hasher := NewSigHasher(tx, spent)
	for i := range tx.Inputs {
		SignInput(tx, hasher, i, key)
	}
	return tx
}

// solve sets the nonce of a regtest-difficulty header so its hash meets its bits
// (want true) or misses them (want false).
func solve(t testing.TB, h *Header, params *Params, want bool) {
	t.Helper()
	for h.Nonce = 0; ; h.Nonce++ {
		if (CheckProofOfWork(h, params) == nil) == want {
			return
		}
	}
}

// testBlock builds a regtest block at height 1 with a coinbase and txs, with a
// correct merkle root and proof of work.
func testBlock(t testing.TB, txs ...*Tx) *Block {
	t.Helper()
	params := RegtestParams
	cb := NewCoinbase(1, 0, nil, params.Subsidy(1), [20]byte{1})
	b := &Block{
		Header: Header{Version: 1, PrevBlock: params.GenesisHash, Time: genesisTime + 600, Bits: params.PowLimitBits},
		Txs:    append([]*Tx{cb}, txs...),
	}
	finishBlock(t, b)
	return b
}

// finishBlock recomputes the merkle root and solves the header again.
func finishBlock(t testing.TB, b *Block) {
	t.Helper()
	b.Header.MerkleRoot = MerkleRoot(b.WitnessHashes())
	solve(t, &b.Header, RegtestParams, true)
}
