package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/quarrychain/quarry/wallet"
)

// qry is an amount as --json shows it: a JSON number of QRY with all 8
// decimals, as Core shows amounts. It is written from the base units exactly,
// never through a float.
func qry(units uint64) json.Number { return json.Number(wallet.FormatAmount(units)) }

// signedQRY is a net amount, negative when the wallet lost money. JSON has no
// plus sign; the human output adds one.
func signedQRY(units int64) json.Number {
	if units < 0 {
		return json.Number("-" + wallet.FormatAmount(uint64(-units)))
	}
	return qry(uint64(units))
}

// printJSON writes v indented, for --json.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func formatTime(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04:05Z")
}

// printf writes human output. Write errors are not checked: on a closed
// standard output Go ends the program with SIGPIPE, as other tools end.
func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format, args...)
}
