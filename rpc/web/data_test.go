package web

import (
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
)

// The mempool's fee-rate order holds for fees whose product with a size
// overflows 64 bits: 2^50 units (about 11 million QRY, within the money
// supply) times 2^14 bytes is 2^64.
func TestByFeeRateDesc(t *testing.T) {
	entries := []mempool.Entry{
		{TxID: chain.Hash{1}, Fee: 1000, Size: 1 << 14},
		{TxID: chain.Hash{2}, Fee: 1 << 50, Size: 1000},
		{TxID: chain.Hash{3}, Fee: 500, Size: 250},
	}
	slices.SortFunc(entries, byFeeRateDesc)
	var got []byte
	for _, e := range entries {
		got = append(got, e.TxID[0])
	}
	if want := []byte{2, 3, 1}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
