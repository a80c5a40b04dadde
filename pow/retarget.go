package pow

import "math/big"

// MaxRetargetFactor bounds how far one retarget can move the target in either
// direction, as in Bitcoin.
const MaxRetargetFactor = 4

// NextBits computes the bits of the block that opens a new difficulty window:
// Bitcoin's rule, new target = old target × actual / expected timespan, with the
// actual timespan clamped to [expected/4, expected×4] and the result capped at
// powLimit. firstTime and lastTime are the timestamps at the two ends of the window;
// which blocks those are (Quarry measures the full interval, fixing Bitcoin's
// off-by-one) is the caller's choice.
func NextBits(oldBits uint32, firstTime, lastTime, expectedTimespan int64, powLimit *big.Int) uint32 {
	actual := lastTime - firstTime
	actual = max(actual, expectedTimespan/MaxRetargetFactor)
	actual = min(actual, expectedTimespan*MaxRetargetFactor)

	oldTarget, _, _ := CompactToBig(oldBits)
	next := new(big.Int).Mul(oldTarget, big.NewInt(actual))
	next.Quo(next, big.NewInt(expectedTimespan))
	if next.Cmp(powLimit) > 0 {
		next.Set(powLimit)
	}
	return BigToCompact(next)
}
