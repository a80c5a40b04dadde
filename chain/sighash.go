package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// sigHashTag separates Quarry's signature hashes from every other use of SHA-256d.
const sigHashTag = "QuarrySigHash/v1"

// SigHasher computes the message each input of one transaction signs: SHA-256d of
// the tag, the transaction without witnesses, the input index, and the value and
// key hash of the output being spent. The prefix common to all inputs is hashed
// once, so signing or checking every input costs linear, not quadratic, time.
type SigHasher struct {
	prefix hash.Hash
}

// NewSigHasher hashes the tag and tx (without witnesses) once.
func NewSigHasher(tx *Tx) *SigHasher {
	h := sha256.New()
	h.Write([]byte(sigHashTag))
	var stack [512]byte
	h.Write(tx.AppendEncoding(stack[:0], false))
	return &SigHasher{prefix: h}
}

// SigHash returns the message that input index signs when spending an output of
// value paying to pkh.
func (s *SigHasher) SigHash(index int, value uint64, pkh [PubKeyHashSize]byte) Hash {
	h := s.prefix.(hash.Cloner)
	clone, err := h.Clone()
	if err != nil {
		// crypto/sha256's digest always clones.
		panic(err)
	}
	var tail [4 + 8 + PubKeyHashSize]byte
	binary.LittleEndian.PutUint32(tail[0:], uint32(index))
	binary.LittleEndian.PutUint64(tail[4:], value)
	copy(tail[12:], pkh[:])
	clone.Write(tail[:])
	var first Hash
	clone.Sum(first[:0])
	return sha256.Sum256(first[:])
}

// SignInput signs input index of tx, spending an output of value paying to the
// hash of key's public key, and sets that input's witness.
func SignInput(tx *Tx, hasher *SigHasher, index int, value uint64, key *secp256k1.PrivateKey) {
	pub := key.PubKey().SerializeCompressed()
	msg := hasher.SigHash(index, value, PubKeyHash(pub))
	sig := ecdsa.Sign(key, msg[:])
	tx.Inputs[index].Witness = [][]byte{pub, sig.Serialize()}
}
