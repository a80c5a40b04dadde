package chain

import (
	"encoding/binary"
	"fmt"
)

// Consensus size limits. Decoders check them before allocating anything sized by
// what the bytes claim.
const (
	// MaxBlockSize is the largest encoded block, header included: Bitcoin's
	// classic limit. Connecting a block writes about three records per output
	// in one Badger transaction; at this size even a block of nothing but
	// outputs fits the transaction limit of the store's memtables.
	MaxBlockSize = 1_000_000
	// MaxTxSize is the largest encoded transaction a block can carry.
	MaxTxSize = MaxBlockSize - HeaderSize - 9
	// HeaderSize is the encoded size of a block header.
	HeaderSize = 80

	// The smallest encodings, used to bound counts by the bytes that remain.
	minTxInSize  = HashSize + 4 + 1 // outpoint and an empty witness
	minTxOutSize = 8 + PubKeyHashSize
	minTxSize    = 4 + 1 + 1 + 4 // version, two zero counts, lock time
)

// CompactSizeLen is the encoded length of n as a CompactSize integer.
func CompactSizeLen(n uint64) int {
	switch {
	case n < 0xfd:
		return 1
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

// AppendCompactSize appends n in Bitcoin's CompactSize encoding.
func AppendCompactSize(dst []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(dst, 0xfd), uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(dst, 0xfe), uint32(n))
	default:
		return binary.LittleEndian.AppendUint64(append(dst, 0xff), n)
	}
}

// ReadCompactSize decodes the CompactSize at the start of b, held to the
// same minimal encoding as the consensus formats, and returns it with the
// number of bytes it took.
func ReadCompactSize(b []byte) (n uint64, size int, err error) {
	r := reader{buf: b}
	n = r.compactSize("count")
	return n, r.off, r.err
}

// reader decodes consensus encodings from a byte slice. The first error sticks:
// later reads return zero values, so decoders check err once per structure.
type reader struct {
	buf []byte
	off int
	err error
}

func (r *reader) fail(kind ErrorKind, format string, args ...any) {
	if r.err == nil {
		r.err = NewRuleError(kind, fmt.Sprintf("at byte %d: ", r.off)+fmt.Sprintf(format, args...))
	}
}

func (r *reader) remaining() int { return len(r.buf) - r.off }

func (r *reader) next(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > r.remaining() {
		r.fail(ErrShortRead, "%s needs %d bytes, %d left", what, n, r.remaining())
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) uint32(what string) uint32 {
	if b := r.next(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) uint64(what string) uint64 {
	if b := r.next(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) hash(what string) (h Hash) {
	if b := r.next(HashSize, what); b != nil {
		copy(h[:], b)
	}
	return h
}

// compactSize reads a CompactSize integer and rejects encodings longer than needed,
// so every value has exactly one encoding and re-encoding gives the same bytes.
func (r *reader) compactSize(what string) uint64 {
	b := r.next(1, what)
	if b == nil {
		return 0
	}
	var n, min uint64
	switch b[0] {
	case 0xfd:
		if b := r.next(2, what); b != nil {
			n, min = uint64(binary.LittleEndian.Uint16(b)), 0xfd
		}
	case 0xfe:
		if b := r.next(4, what); b != nil {
			n, min = uint64(binary.LittleEndian.Uint32(b)), 0x10000
		}
	case 0xff:
		if b := r.next(8, what); b != nil {
			n, min = binary.LittleEndian.Uint64(b), 0x100000000
		}
	default:
		return uint64(b[0])
	}
	if r.err == nil && n < min {
		r.fail(ErrNonCanonicalCount, "%s %d is not minimally encoded", what, n)
	}
	return n
}

// count reads a CompactSize count of items at least minSize bytes each, and
// rejects it unless that many items could fit in the bytes that remain.
func (r *reader) count(what string, minSize int) int {
	n := r.compactSize(what)
	if r.err != nil {
		return 0
	}
	if n > uint64(r.remaining()/minSize) {
		r.fail(ErrCountTooLarge, "%s %d cannot fit in the %d bytes left", what, n, r.remaining())
		return 0
	}
	return int(n)
}

// finish reports the first error, or trailing bytes after a complete structure.
func (r *reader) finish(what string) error {
	if r.err == nil && r.remaining() != 0 {
		r.fail(ErrTrailingBytes, "%d bytes after the end of the %s", r.remaining(), what)
	}
	return r.err
}
