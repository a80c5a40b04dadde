package indexers

import (
	"bytes"
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// sampleHistory is a record paying two outputs and spending two outpoints.
var sampleHistory = addrHistory{
	txid:  chain.Hash{1, 2, 3},
	paid:  []paidOutput{{index: 0, value: 5_000_000_000}, {index: 300, value: 1}},
	spent: []chain.OutPoint{{TxID: chain.Hash{4}, Index: 70_000}, {TxID: chain.Hash{5}}},
}

// An address index record is read back from the index database: a damaged
// one must give an error, never a panic, and one that decodes encodes to the
// same bytes, so nothing is lost or changed by reading it.
func FuzzDecodeAddrHistory(f *testing.F) {
	f.Add(appendAddrHistory(nil, &sampleHistory))
	f.Add(appendAddrHistory(nil, &addrHistory{paid: []paidOutput{{value: 1}}}))
	f.Add(appendAddrHistory(nil, &addrHistory{spent: []chain.OutPoint{{Index: 1}}}))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h addrHistory
		err := decodeAddrHistory(b, &h)
		if err != nil {
			if !errors.Is(err, errAddrHistoryDamaged) {
				t.Fatalf("record %x: %v, not errAddrHistoryDamaged", b, err)
			}
			return
		}
		if got := appendAddrHistory(nil, &h); !bytes.Equal(got, b) {
			t.Fatalf("record %x re-encodes as %x", b, got)
		}
		if h.received() > chain.MaxMoney {
			t.Fatalf("record %x receives %d, over MaxMoney", b, h.received())
		}
	})
}

// Each kind of damage to a record is an error.
func TestDecodeAddrHistoryRejectsDamage(t *testing.T) {
	good := appendAddrHistory(nil, &sampleHistory)
	var h addrHistory
	if err := decodeAddrHistory(good, &h); err != nil || h.txid != sampleHistory.txid ||
		len(h.paid) != 2 || h.paid[1] != sampleHistory.paid[1] || len(h.spent) != 2 || h.spent[0] != sampleHistory.spent[0] {
		t.Fatalf("sample record decodes as %+v, %v", h, err)
	}
	onePaid := func(index uint32, value uint64) []byte {
		return appendAddrHistory(nil, &addrHistory{paid: []paidOutput{{index: index, value: value}}})
	}
	txid := make([]byte, chain.HashSize)
	for name, b := range map[string][]byte{
		"cut short":                   good[:len(good)-1],
		"txid cut short":              good[:chain.HashSize-1],
		"trailing byte":               append(bytes.Clone(good), 0),
		"neither pays nor spends":     append(bytes.Clone(txid), 0, 0),
		"value over MaxMoney":         onePaid(0, chain.MaxMoney+1),
		"index over 32 bits":          append(bytes.Clone(txid), 1, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 0),
		"output paid twice":           appendAddrHistory(nil, &addrHistory{paid: []paidOutput{{index: 1, value: 1}, {index: 1, value: 1}}}),
		"outputs out of order":        appendAddrHistory(nil, &addrHistory{paid: []paidOutput{{index: 2, value: 1}, {index: 1, value: 1}}}),
		"total over MaxMoney":         appendAddrHistory(nil, &addrHistory{paid: []paidOutput{{index: 1, value: chain.MaxMoney}, {index: 2, value: 1}}}),
		"count longer than the bytes": append(bytes.Clone(txid), 100, 0, 1),
		"count not shortest":          append(bytes.Clone(txid), 0x81, 0x00, 0, 1, 0),
		"varint overflows":            append(bytes.Clone(txid), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	} {
		if err := decodeAddrHistory(b, &h); !errors.Is(err, errAddrHistoryDamaged) {
			t.Errorf("%s: %x decodes (%v)", name, b, err)
		}
	}
}
