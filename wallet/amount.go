package wallet

import (
	"errors"
	"fmt"
	"strings"

	"github.com/quarrychain/quarry/chain"
)

// ErrInvalidAmount is wrapped by every error about an amount the user gave:
// malformed, more than 8 decimals, negative, zero where a payment is meant, or
// above the money supply.
var ErrInvalidAmount = errors.New("invalid amount")

// amountDecimals is the number of decimal places of one base unit in QRY.
const amountDecimals = 8

// ParseAmount reads a decimal QRY amount such as "12.5" and returns it in base
// units. It parses the digits exactly, never through a float, so every amount
// the user can write means exactly the base units written, and it refuses
// anything finer than one base unit rather than round it.
func ParseAmount(s string) (uint64, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, fmt.Errorf("%w: empty", ErrInvalidAmount)
	}
	if text[0] == '-' {
		return 0, fmt.Errorf("%w %q: negative", ErrInvalidAmount, s)
	}
	whole, frac, hasPoint := strings.Cut(text, ".")
	if !isDigits(whole) || (hasPoint && !isDigits(frac)) {
		return 0, fmt.Errorf("%w %q: want digits with an optional decimal point, like 12.5", ErrInvalidAmount, s)
	}
	if len(frac) > amountDecimals {
		return 0, fmt.Errorf("%w %q: more than %d decimal places", ErrInvalidAmount, s, amountDecimals)
	}
	// Leading zeros carry no value; without them, more than 8 whole digits is
	// over 21,000,000 QRY and the check stops the multiplication overflowing.
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 8 {
		return 0, fmt.Errorf("%w %q: more than the %s QRY that can ever exist", ErrInvalidAmount, s, FormatAmount(chain.MaxMoney))
	}
	var units uint64
	for _, digits := range []string{whole, frac + strings.Repeat("0", amountDecimals-len(frac))} {
		for _, d := range digits {
			units = units*10 + uint64(d-'0')
		}
	}
	if units > chain.MaxMoney {
		return 0, fmt.Errorf("%w %q: more than the %s QRY that can ever exist", ErrInvalidAmount, s, FormatAmount(chain.MaxMoney))
	}
	return units, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount writes base units as QRY with all 8 decimals, as Bitcoin Core
// shows amounts, so columns line up and no precision is hidden.
func FormatAmount(units uint64) string {
	return fmt.Sprintf("%d.%08d", units/chain.Coin, units%chain.Coin)
}
