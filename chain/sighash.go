package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// sigHashTag separates Quarry's signature hashes from every other use of SHA-256d.
// v2 commits to every spent output; v1 (the spent output of the signing input
// only) signatures do not verify under it.
const sigHashTag = "QuarrySigHash/v2"

// SigHasher computes the message each input of one transaction signs: SHA-256d of
// the tag, the transaction without witnesses, SHA-256 of the value and key hash
// of every output the transaction spends (in input order), and the input index.
// Committing to every spent output, as BIP 341 does, means a signer shown a
// wrong value for another input signs a message the network will not accept,
// so it cannot be led to sign a fee other than the one it displayed. Everything
// but the index is hashed once per transaction, so signing or checking every
// input costs linear, not quadratic, time.
type SigHasher struct {
	prefix hash.Hash
}

// NewSigHasher hashes the tag, tx (without witnesses) and spent once; spent[i]
// is the output input i spends. It panics if spent does not hold one output
// per input: that is a caller's bug, never a property of untrusted data.
func NewSigHasher(tx *Tx, spent []TxOut) *SigHasher {
	if len(spent) != len(tx.Inputs) {
		panic(fmt.Sprintf("chain: NewSigHasher given %d spent outputs for %d inputs", len(spent), len(tx.Inputs)))
	}
	return newSigHasher(tx, func(i int) (uint64, *[PubKeyHashSize]byte) {
		return spent[i].Value, &spent[i].PubKeyHash
	})
}

// newSigHasher builds the shared prefix, reading input i's spent output from
// spentBy, so validation can hash its UTXO entries without copying them.
func newSigHasher(tx *Tx, spentBy func(i int) (uint64, *[PubKeyHashSize]byte)) *SigHasher {
	spentHash := sha256.New()
	var rec [8 + PubKeyHashSize]byte
	for i := range tx.Inputs {
		value, pkh := spentBy(i)
		binary.LittleEndian.PutUint64(rec[:], value)
		copy(rec[8:], pkh[:])
		spentHash.Write(rec[:])
	}
	var spentDigest Hash
	spentHash.Sum(spentDigest[:0])

	h := sha256.New()
	h.Write([]byte(sigHashTag))
	var stack [512]byte
	h.Write(tx.AppendEncoding(stack[:0], false))
	h.Write(spentDigest[:])
	return &SigHasher{prefix: h}
}

// SigHash returns the message that input index signs.
func (s *SigHasher) SigHash(index int) Hash {
	clone, err := s.prefix.(hash.Cloner).Clone()
	if err != nil {
		// crypto/sha256's digest always clones.
		panic(err)
	}
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], uint32(index))
	clone.Write(tail[:])
	var first Hash
	clone.Sum(first[:0])
	return sha256.Sum256(first[:])
}

// SignInput signs input index of the transaction hasher was built for, with
// key, and sets that input's witness.
func SignInput(tx *Tx, hasher *SigHasher, index int, key *secp256k1.PrivateKey) {
	msg := hasher.SigHash(index)
	sig := ecdsa.Sign(key, msg[:])
	tx.Inputs[index].Witness = [][]byte{key.PubKey().SerializeCompressed(), sig.Serialize()}
}
