package chain

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// HashSize is the length of every hash in Quarry.
const HashSize = 32

// Hash is a SHA-256d digest in internal byte order. It prints reversed, as
// Bitcoin shows hashes, so the leading zeros of a block hash come first.
type Hash [HashSize]byte

// String returns the hash as reversed hex.
func (h Hash) String() string {
	var r Hash
	for i := range h {
		r[HashSize-1-i] = h[i]
	}
	return hex.EncodeToString(r[:])
}

// Compare orders h and o as their Strings order, without printing them:
// -1 if h comes first, 0 if they are equal, +1 if o does.
func (h Hash) Compare(o Hash) int {
	for i := HashSize - 1; i >= 0; i-- {
		if h[i] != o[i] {
			return cmp.Compare(h[i], o[i])
		}
	}
	return 0
}

// IsZero reports whether every byte of h is zero.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes the hash as reversed hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses reversed hex.
func (h *Hash) UnmarshalText(text []byte) error {
	parsed, err := ParseHash(string(text))
	if err != nil {
		return err
	}
	*h = parsed
	return nil
}

// ParseHash reads a hash written as 64 hex digits in reversed byte order.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("hash must be %d hex digits, got %d", 2*HashSize, len(s))
	}
	var b Hash
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash is not hex: %w", err)
	}
	for i := range b {
		h[HashSize-1-i] = b[i]
	}
	return h, nil
}

// DoubleSHA256 is SHA-256(SHA-256(b)).
func DoubleSHA256(b []byte) Hash {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}
