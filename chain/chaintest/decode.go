package chaintest

import (
	"encoding/hex"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// DecodeHexTx decodes a transaction given as hex, as RPC returns them,
// failing tb if it does not decode.
func DecodeHexTx(tb testing.TB, s string) *chain.Tx {
	tb.Helper()
	raw, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	tx, err := chain.DecodeTx(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return tx
}
