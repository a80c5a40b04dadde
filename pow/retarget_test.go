package pow

import (
	"math/big"
	"testing"
)

// Bitcoin Core's pow_tests vectors (mainnet: two weeks, pow limit 0x1d00ffff), plus
// Quarry's own networks' shapes.
func TestNextBits(t *testing.T) {
	mainLimit := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 224), big.NewInt(1))
	easyLimit, _, _ := CompactToBig(0x1e03ffff)
	const twoWeeks = 14 * 24 * 60 * 60
	cases := []struct {
		name              string
		first, last       int64
		oldBits, wantBits uint32
		timespan          int64
		limit             *big.Int
	}{
		{"core get_next_work", 1261130161, 1262152739, 0x1d00ffff, 0x1d00d86a, twoWeeks, mainLimit},
		{"core pow limit", 1231006505, 1233061996, 0x1d00ffff, 0x1d00ffff, twoWeeks, mainLimit},
		{"core lower limit actual", 1279008237, 1279297671, 0x1c05a3f4, 0x1c0168fd, twoWeeks, mainLimit},
		{"core upper limit actual", 1263163443, 1269211443, 0x1c387f6f, 0x1d00e1fd, twoWeeks, mainLimit},
		{"testnet on time", 1000, 1300, 0x1d00ffff, 0x1d00ffff, 300, easyLimit},
		{"testnet twice as fast", 1000, 1150, 0x1d00ffff, 0x1c7fff80, 300, easyLimit},
		{"testnet clamp fast", 1000, 1001, 0x1d00ffff, 0x1c3fffc0, 300, easyLimit},
		{"testnet clamp slow", 1000, 100000, 0x1c00ffff, 0x1c03fffc, 300, easyLimit},
		{"testnet capped at limit", 1000, 100000, 0x1e03ffff, 0x1e03ffff, 300, easyLimit},
		{"time going backwards clamps", 1000, 900, 0x1d00ffff, 0x1c3fffc0, 300, easyLimit},
	}
	for _, c := range cases {
		got := NextBits(c.oldBits, c.first, c.last, c.timespan, c.limit)
		if got != c.wantBits {
			t.Errorf("%s: NextBits = %#08x, want %#08x", c.name, got, c.wantBits)
		}
	}
}
