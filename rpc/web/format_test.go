package web

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{formatQRY(0), "0 QRY"},
		{formatQRY(50 * chain.Coin), "50 QRY"},
		{formatQRY(1_234_567 * chain.Coin / 100), "12,345.67 QRY"},
		{formatQRY(1), "0.00000001 QRY"},
		{formatInt(-1234567), "-1,234,567"},
		{formatInt(999), "999"},
		{formatBytes(999), "999 B"},
		{formatBytes(1500), "1.5 kB"},
		{formatBytes(2_500_000), "2.50 MB"},
		{formatHashRate(1_500_000), "1.50 MH/s"},
		{formatFeeRate(1000, 250), "4.0 u/B"},
		{formatFeeRate(1, 0), "–"},
		{tail(4, "12D3KooWabcd"), "…abcd"},
		{tail(20, "short"), "short"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
