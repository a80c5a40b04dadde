package wallet

import (
	"errors"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string // substring; "" for success
	}{
		{"12.5", 1_250_000_000, ""},
		{"12.50000000", 1_250_000_000, ""},
		{"0.00000001", 1, ""},
		{"1", chain.Coin, ""},
		{"0", 0, ""},
		{"007.1", 710_000_000, ""},
		{" 3.25\n", 325_000_000, ""},
		{"21000000", chain.MaxMoney, ""},
		{"20999999.99999999", chain.MaxMoney - 1, ""},
		{"0.1", 10_000_000, ""}, // exactly, where float64 is not
		{"0000000000000000000001", chain.Coin, ""},

		{"1.123456789", 0, "more than 8 decimal places"},
		{"0.000000001", 0, "more than 8 decimal places"},
		{"-1", 0, "negative"},
		{"-0.5", 0, "negative"},
		{"", 0, "empty"},
		{"   ", 0, "empty"},
		{"21000000.00000001", 0, "more than the 21000000.00000000 QRY"},
		{"99999999999999999999", 0, "more than the"},
		{"1.", 0, "want digits"},
		{".5", 0, "want digits"},
		{"+1", 0, "want digits"},
		{"1e3", 0, "want digits"},
		{"1,5", 0, "want digits"},
		{"1.2.3", 0, "want digits"},
		{"0x10", 0, "want digits"},
		{"١", 0, "want digits"}, // an Arabic-Indic digit
		{"NaN", 0, "want digits"},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseAmount(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalidAmount) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseAmount(%q) = %d, %v; want an ErrInvalidAmount containing %q", tt.in, got, err, tt.wantErr)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0.00000000"},
		{1, "0.00000001"},
		{1_250_000_000, "12.50000000"},
		{chain.Coin, "1.00000000"},
		{chain.MaxMoney, "21000000.00000000"},
		{1_250_010_000, "12.50010000"},
	}
	for _, tt := range tests {
		if got := FormatAmount(tt.in); got != tt.want {
			t.Errorf("FormatAmount(%d) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseAmount(tt.want)
		if err != nil || back != tt.in {
			t.Errorf("ParseAmount(FormatAmount(%d)) = %d, %v", tt.in, back, err)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.5", "0.00000001", "21000000", "-1", "1.123456789", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		units, err := ParseAmount(s)
		if err != nil {
			return
		}
		if units > chain.MaxMoney {
			t.Fatalf("ParseAmount(%q) = %d, over the money supply", s, units)
		}
		if back, err := ParseAmount(FormatAmount(units)); err != nil || back != units {
			t.Fatalf("round trip of %q: %d -> %q -> %d, %v", s, units, FormatAmount(units), back, err)
		}
	})
}
