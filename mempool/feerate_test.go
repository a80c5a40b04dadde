package mempool

import (
	"math"
	"testing"
)

func TestFeeRate(t *testing.T) {
	r := FeeRatePerByte(1)
	if r != DefaultMinRelayFeeRate || r.String() != "1.000 units/B" {
		t.Fatalf("one unit per byte is %d (%s)", r, r)
	}
	cases := []struct {
		rate FeeRate
		size int64
		fee  uint64
	}{
		{1000, 181, 181},
		{1500, 181, 272}, // 271.5 rounds up
		{1, 181, 1},      // any rate but zero costs something
		{0, 181, 0},
		{1000, 0, 0},
		{math.MaxUint64, 1 << 40, math.MaxUint64},
	}
	for _, c := range cases {
		if got := c.rate.Fee(c.size); got != c.fee {
			t.Errorf("%d per kB for %d bytes: %d, want %d", c.rate, c.size, got, c.fee)
		}
	}
	if got := NewFeeRate(400, 181); got != 2209 {
		t.Errorf("400 for 181 bytes: %d per kB", got)
	}
	if NewFeeRate(1, 0) != 0 || NewFeeRate(math.MaxUint64, 1) != math.MaxUint64 || FeeRatePerByte(math.MaxUint64) != math.MaxUint64 {
		t.Error("edge rates")
	}
	if cmpRate(1, 3, 2, 6) != 0 || cmpRate(math.MaxUint64, 2, math.MaxUint64, 3) != 1 || cmpRate(1, 3, 1, 2) != -1 {
		t.Error("cmpRate")
	}
}
