package web

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// templateFuncs format numbers, amounts and hashes the same way on every page.
var templateFuncs = template.FuncMap{
	"qry":      formatQRY,
	"bytes":    func(n any) string { return formatBytes(int(toInt64(n))) },
	"num":      func(n any) string { return formatInt(toInt64(n)) },
	"time":     func(t any) string { return formatTime(toInt64(t)) },
	"ago":      func(t any) string { return formatAgo(toInt64(t)) },
	"short":    shortHash,
	"hashrate": formatHashRate,
	"diff":     formatDifficulty,
	"feerate":  formatFeeRate,
	"tail":     tail,
}

// tail is the end of s, at most n characters, for long identifiers that
// differ at the end (peer ids).
func tail(n int, s string) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// formatQRY shows base units as QRY, with the fraction's trailing zeros cut.
func formatQRY(units uint64) string {
	whole, frac := units/chain.Coin, units%chain.Coin
	s := formatInt(int64(whole))
	if frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%08d", frac), "0")
	}
	return s + " QRY"
}

// toInt64 lets the templates format any of the integer types the node's
// structs use.
func toInt64(n any) int64 {
	switch v := n.(type) {
	case int:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case uint32:
		return int64(v)
	case uint64:
		return int64(v)
	}
	panic(fmt.Sprintf("web: %T is not an integer", n)) // a template bug, caught by the tests
}

func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func formatBytes(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1_000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	default:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	}
}

func formatTime(unix int64) string {
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04:05 UTC")
}

func formatAgo(unix int64) string {
	d := time.Since(time.Unix(unix, 0))
	switch {
	case d < 5*time.Second:
		// Block times may run up to two hours ahead of this clock.
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// shortHash keeps the start and end of a hash, for tables on narrow screens.
func shortHash(h chain.Hash) string {
	s := h.String()
	return s[:10] + "…" + s[len(s)-6:]
}

func formatHashRate(hps float64) string {
	units := []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"}
	i := 0
	for hps >= 1000 && i < len(units)-1 {
		hps /= 1000
		i++
	}
	return fmt.Sprintf("%.2f %s", hps, units[i])
}

func formatDifficulty(d float64) string { return strconv.FormatFloat(d, 'g', 6, 64) }

// formatFeeRate is a fee over a size, in base units per byte.
func formatFeeRate(fee uint64, size int) string {
	if size <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f u/B", float64(fee)/float64(size))
}
