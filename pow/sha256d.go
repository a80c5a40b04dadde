package pow

import (
	"encoding/binary"
	"math/bits"
)

// sha256IV is SHA-256's initial state (FIPS 180-4, 5.3.3).
var sha256IV = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// sha256K holds SHA-256's round constants (FIPS 180-4, 4.2.2).
var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// Padding words of the two blocks hashed per nonce. The header's second block holds
// 16 bytes of data, then a 1 bit, zeros and the message length (640 bits); the outer
// hash's only block holds the 32-byte inner digest, a 1 bit, zeros and 256 bits.
const (
	padBit       = 0x80000000
	headerBits   = 80 * 8
	innerHashLen = 32 * 8
)

// headerState is everything about a header's double SHA-256 that does not depend on
// the nonce, computed once so that each nonce costs two compressions instead of three.
type headerState struct {
	mid  [8]uint32 // state after the header's first 64 bytes: the midstate
	tail [3]uint32 // header bytes 64..75 (end of the merkle root, time, bits) as big-endian words
	pre3 [8]uint32 // mid advanced by rounds 0..2 of the second block, which precede the nonce word
}

func newHeaderState(header *[80]byte) *headerState {
	h := &headerState{mid: sha256IV}
	var w [64]uint32
	for i := range 16 {
		w[i] = binary.BigEndian.Uint32(header[4*i:])
	}
	compress(&h.mid, &w)
	for i := range h.tail {
		h.tail[i] = binary.BigEndian.Uint32(header[64+4*i:])
	}
	h.pre3 = h.mid
	for i, x := range h.tail {
		round(&h.pre3, sha256K[i]+x)
	}
	return h
}

// round runs one SHA-256 round on s with kw = K[i] + W[i].
func round(s *[8]uint32, kw uint32) {
	d, h := step(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], kw)
	*s = [8]uint32{h, s[0], s[1], s[2], d, s[4], s[5], s[6]}
}

// expand fills w[16:] from the message block in w[:16].
func expand(w *[64]uint32) {
	for i := 16; i < 64; i++ {
		w[i] = sigma1(w[i-2]) + w[i-7] + sigma0(w[i-15]) + w[i-16]
	}
}

// sigma0 and sigma1 are the message schedule's σ functions.
func sigma0(x uint32) uint32 {
	return bits.RotateLeft32(x, -7) ^ bits.RotateLeft32(x, -18) ^ x>>3
}

func sigma1(x uint32) uint32 {
	return bits.RotateLeft32(x, -17) ^ bits.RotateLeft32(x, -19) ^ x>>10
}

// step is one SHA-256 round, with the state passed in rotated order by the
// caller instead of moved between variables: it returns the new d and h.
func step(a, b, c, d, e, f, g, h, kw uint32) (uint32, uint32) {
	t1 := h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + (e&f ^ ^e&g) + kw
	t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + (a&b ^ a&c ^ b&c)
	return d + t1, t1 + t2
}

// rounds runs rounds from..to-1 on s with the expanded schedule w. The rounds in
// whole groups of eight are unrolled, with the variables' roles rotating, so that
// the state stays in registers without being shuffled every round.
func rounds(s *[8]uint32, w *[64]uint32, from, to int) {
	a, b, c, d, e, f, g, h := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	i := from
	for ; i < to && i%8 != 0; i++ {
		d, h = step(a, b, c, d, e, f, g, h, sha256K[i&63]+w[i&63])
		a, b, c, d, e, f, g, h = h, a, b, c, d, e, f, g
	}
	for ; i+8 <= to; i += 8 {
		k, w := (*[8]uint32)(sha256K[i&56:]), (*[8]uint32)(w[i&56:])
		d, h = step(a, b, c, d, e, f, g, h, k[0]+w[0])
		c, g = step(h, a, b, c, d, e, f, g, k[1]+w[1])
		b, f = step(g, h, a, b, c, d, e, f, k[2]+w[2])
		a, e = step(f, g, h, a, b, c, d, e, k[3]+w[3])
		h, d = step(e, f, g, h, a, b, c, d, k[4]+w[4])
		g, c = step(d, e, f, g, h, a, b, c, k[5]+w[5])
		f, b = step(c, d, e, f, g, h, a, b, k[6]+w[6])
		e, a = step(b, c, d, e, f, g, h, a, k[7]+w[7])
	}
	for ; i < to; i++ {
		d, h = step(a, b, c, d, e, f, g, h, sha256K[i&63]+w[i&63])
		a, b, c, d, e, f, g, h = h, a, b, c, d, e, f, g
	}
	*s = [8]uint32{a, b, c, d, e, f, g, h}
}

// compress runs the SHA-256 compression function on s for the block in w[:16]
// (w[16:] is scratch for the message schedule).
func compress(s *[8]uint32, w *[64]uint32) {
	expand(w)
	t := *s
	rounds(&t, w, 0, 64)
	for i := range s {
		s[i] += t[i]
	}
}

// inner returns the state after hashing the whole header with nonce: the first
// SHA-256 of the header, as state words.
func (h *headerState) inner(nonce uint32, w *[64]uint32) [8]uint32 {
	// Only w[:16] needs setting: expand overwrites the rest.
	*(*[16]uint32)(w[:16]) = [16]uint32{0: h.tail[0], 1: h.tail[1], 2: h.tail[2], 3: bits.ReverseBytes32(nonce), 4: padBit, 15: headerBits}
	expand(w)
	s := h.pre3
	rounds(&s, w, 3, 64)
	for i := range s {
		s[i] += h.mid[i]
	}
	return s
}

// outerBlock loads the outer hash's message block: the inner digest as words (the
// digest's big-endian bytes read back as big-endian words are the state words, so
// no byte conversion is needed) and its padding.
func outerBlock(w *[64]uint32, s *[8]uint32) {
	*(*[16]uint32)(w[:16]) = [16]uint32{s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], padBit, 15: innerHashLen}
	expand(w)
}

// hash returns the block hash, SHA-256(SHA-256(header)), of the header with nonce.
func (h *headerState) hash(nonce uint32) [32]byte {
	var w [64]uint32
	s := h.inner(nonce, &w)
	outerBlock(&w, &s)
	s = sha256IV
	compress(&s, &w)
	var out [32]byte
	for i, x := range s {
		binary.BigEndian.PutUint32(out[4*i:], x)
	}
	return out
}

// scanGeneric is the portable kernel: it hashes nonce, nonce+1, ... nonce+n-1 and
// returns the index of the first whose hash may meet a target with top word ttop,
// or n if none may. It stops the outer hash after round 60: the last state word
// H7, which holds the hash's most significant bytes, is final by then (h after
// round 63 is e after round 60).
func (h *headerState) scanGeneric(nonce, n, ttop uint32) uint32 {
	var w [64]uint32
	for i := range n {
		s := h.inner(nonce+i, &w)
		outerBlock(&w, &s)
		s = sha256IV
		rounds(&s, &w, 0, 61)
		if topWord(s[4]+sha256IV[7]) <= ttop {
			return i
		}
	}
	return n
}

// topWord converts the hash's last state word H7 to the most significant 32 bits of
// the hash read as a little-endian 256-bit number.
func topWord(h7 uint32) uint32 { return bits.ReverseBytes32(h7) }

// meetsTarget reports whether hash, read as a little-endian 256-bit number, is at
// most target, comparing exactly from the most significant word down.
func meetsTarget(hash, target *[32]byte) bool {
	for i := 24; i >= 0; i -= 8 {
		h := binary.LittleEndian.Uint64(hash[i:])
		t := binary.LittleEndian.Uint64(target[i:])
		if h != t {
			return h < t
		}
	}
	return true
}
