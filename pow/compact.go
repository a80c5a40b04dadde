package pow

import (
	"errors"
	"fmt"
	"math/big"
)

// ErrBadBits is returned for compact bits that are negative, zero or overflow 256 bits.
var ErrBadBits = errors.New("invalid compact bits")

var (
	bigOne      = big.NewInt(1)
	oneLsh256   = new(big.Int).Lsh(bigOne, 256)
	maxTarget   = new(big.Int).Sub(oneLsh256, bigOne)
	compactSign = uint32(0x00800000)
)

// CompactToBig decodes Bitcoin's compact representation of a 256-bit number: the
// high byte is a base-256 exponent, the low 23 bits the mantissa and bit 23 a sign.
// It also reports whether the encoding is negative and whether it overflows 256 bits,
// as Bitcoin Core's arith_uint256::SetCompact does.
func CompactToBig(bits uint32) (n *big.Int, negative, overflow bool) {
	exponent := uint(bits >> 24)
	mantissa := bits & 0x007fffff
	if exponent <= 3 {
		mantissa >>= 8 * (3 - exponent)
		n = big.NewInt(int64(mantissa))
	} else {
		n = new(big.Int).Lsh(big.NewInt(int64(mantissa)), 8*(exponent-3))
	}
	negative = mantissa != 0 && bits&compactSign != 0
	overflow = mantissa != 0 && (exponent > 34 ||
		(mantissa > 0xff && exponent > 33) ||
		(mantissa > 0xffff && exponent > 32))
	return n, negative, overflow
}

// BigToCompact encodes a non-negative number in compact form, rounding down to the
// precision of the 23-bit mantissa.
func BigToCompact(n *big.Int) uint32 {
	if n.Sign() == 0 {
		return 0
	}
	var mantissa uint32
	exponent := uint((n.BitLen() + 7) / 8)
	if exponent <= 3 {
		mantissa = uint32(n.Uint64()) << (8 * (3 - exponent))
	} else {
		mantissa = uint32(new(big.Int).Rsh(n, 8*(exponent-3)).Uint64())
	}
	// A mantissa with bit 23 set would read back as negative: shift it into the exponent.
	if mantissa&compactSign != 0 {
		mantissa >>= 8
		exponent++
	}
	return uint32(exponent)<<24 | mantissa
}

// Target decodes bits into a proof-of-work target, rejecting zero, negative and
// overflowing encodings and targets above powLimit.
func Target(bits uint32, powLimit *big.Int) (*big.Int, error) {
	t, negative, overflow := CompactToBig(bits)
	switch {
	case negative:
		return nil, fmt.Errorf("%w: %#08x is negative", ErrBadBits, bits)
	case overflow:
		return nil, fmt.Errorf("%w: %#08x overflows 256 bits", ErrBadBits, bits)
	case t.Sign() == 0:
		return nil, fmt.Errorf("%w: %#08x is zero", ErrBadBits, bits)
	case powLimit != nil && t.Cmp(powLimit) > 0:
		return nil, fmt.Errorf("%w: %#08x is above the pow limit", ErrBadBits, bits)
	}
	return t, nil
}

// Work is the expected number of hashes needed to meet target: 2^256 / (target+1).
func Work(target *big.Int) *big.Int {
	if target.Sign() <= 0 {
		return new(big.Int)
	}
	d := new(big.Int).Add(target, bigOne)
	return d.Quo(oneLsh256, d)
}

// WorkFromBits is Work of the target that bits encode, or zero for invalid bits.
func WorkFromBits(bits uint32) *big.Int {
	t, err := Target(bits, nil)
	if err != nil {
		return new(big.Int)
	}
	return Work(t)
}

// HashToBig reads a 32-byte hash in internal order as a little-endian number.
func HashToBig(hash *[32]byte) *big.Int {
	var be [32]byte
	for i := range hash {
		be[31-i] = hash[i]
	}
	return new(big.Int).SetBytes(be[:])
}

// HashMeetsTarget reports whether hash, read as a little-endian number, is at most target.
func HashMeetsTarget(hash *[32]byte, target *big.Int) bool {
	return HashToBig(hash).Cmp(target) <= 0
}

// TargetBytes converts target to the 32-byte little-endian form that the nonce
// search compares hashes against without big-number arithmetic.
func TargetBytes(target *big.Int) [32]byte {
	var be, le [32]byte
	if target.Sign() <= 0 {
		return le
	}
	if target.Cmp(maxTarget) > 0 {
		target = maxTarget
	}
	target.FillBytes(be[:])
	for i := range be {
		le[31-i] = be[i]
	}
	return le
}

// CheckProofOfWork verifies that bits encode a valid target within powLimit and
// that hash meets it.
func CheckProofOfWork(hash *[32]byte, bits uint32, powLimit *big.Int) error {
	target, err := Target(bits, powLimit)
	if err != nil {
		return err
	}
	if !HashMeetsTarget(hash, target) {
		return ErrHashAboveTarget
	}
	return nil
}

// ErrHashAboveTarget is returned when a header hash does not meet its target.
var ErrHashAboveTarget = errors.New("hash is above the target")
