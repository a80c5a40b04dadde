package chain

import (
	"encoding/binary"
	"fmt"
)

// Header is a block header, encoded in HeaderSize bytes as Bitcoin's.
type Header struct {
	Version    uint32
	PrevBlock  Hash
	MerkleRoot Hash
	Time       uint32 // unix seconds
	Bits       uint32 // compact target
	Nonce      uint32
}

// NonceOffset is where the nonce sits in an encoded header.
const NonceOffset = 76

// Encode returns the header's 80 bytes.
func (h *Header) Encode() [HeaderSize]byte {
	var b [HeaderSize]byte
	binary.LittleEndian.PutUint32(b[0:], h.Version)
	copy(b[4:36], h.PrevBlock[:])
	copy(b[36:68], h.MerkleRoot[:])
	binary.LittleEndian.PutUint32(b[68:], h.Time)
	binary.LittleEndian.PutUint32(b[72:], h.Bits)
	binary.LittleEndian.PutUint32(b[NonceOffset:], h.Nonce)
	return b
}

// Hash is the block hash: SHA-256d of the encoded header.
func (h *Header) Hash() Hash {
	b := h.Encode()
	return DoubleSHA256(b[:])
}

// DecodeHeader reads exactly one encoded header.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) != HeaderSize {
		return Header{}, NewRuleError(ErrShortRead, fmt.Sprintf("header must be %d bytes, got %d", HeaderSize, len(b)))
	}
	r := reader{buf: b}
	h := r.header()
	return h, r.finish("header")
}

func (r *reader) header() Header {
	return Header{
		Version:    r.uint32("version"),
		PrevBlock:  r.hash("previous block hash"),
		MerkleRoot: r.hash("merkle root"),
		Time:       r.uint32("time"),
		Bits:       r.uint32("bits"),
		Nonce:      r.uint32("nonce"),
	}
}
