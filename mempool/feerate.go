package mempool

import (
	"fmt"
	"math"
	"math/bits"
)

// FeeRate is a fee rate in base units per 1,000 bytes, as Bitcoin Core's
// CFeeRate counts satoshis per kvB: rates below one unit per byte stay
// expressible, and RPC shows it divided by 1e8 as QRY/kvB just as Core does.
type FeeRate uint64

// DefaultMinRelayFeeRate is one base unit per byte.
const DefaultMinRelayFeeRate FeeRate = 1000

// FeeRatePerByte converts a rate in base units per byte, the unit of the node's
// --min-relay-fee flag and the wallet's --fee-rate.
func FeeRatePerByte(units uint64) FeeRate {
	hi, lo := bits.Mul64(units, 1000)
	if hi != 0 {
		return math.MaxUint64
	}
	return FeeRate(lo)
}

// NewFeeRate is the rate of paying fee for size bytes, rounded down.
func NewFeeRate(fee uint64, size int64) FeeRate {
	if size <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(fee, 1000)
	if hi >= uint64(size) {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, uint64(size))
	return FeeRate(q)
}

// Fee is what size bytes pay at rate r, rounded up as Core's GetFee rounds, and
// at least one unit for a non-zero rate, so no rate but zero means free.
func (r FeeRate) Fee(size int64) uint64 {
	if size <= 0 || r == 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(r), uint64(size))
	lo, carry := bits.Add64(lo, 999, 0)
	hi += carry
	if hi >= 1000 {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, 1000)
	return max(q, 1)
}

// cmpRate compares fee1/size1 with fee2/size2 exactly (sizes are positive):
// -1, 0 or +1.
func cmpRate(fee1 uint64, size1 int64, fee2 uint64, size2 int64) int {
	h1, l1 := bits.Mul64(fee1, uint64(size2))
	h2, l2 := bits.Mul64(fee2, uint64(size1))
	switch {
	case h1 < h2 || (h1 == h2 && l1 < l2):
		return -1
	case h1 == h2 && l1 == l2:
		return 0
	}
	return 1
}

// String shows the rate in base units per byte.
func (r FeeRate) String() string { return fmt.Sprintf("%d.%03d units/B", r/1000, r%1000) }
