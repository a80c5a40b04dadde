package methods

import (
	"testing"

	"github.com/quarrychain/quarry/rpc"
)

func TestGetAddressMempool(t *testing.T) {
	f := newPoolFixture(t)
	addr := f.chain.Params().EncodeAddress(f.gen.PKH)

	var empty []AddressMempoolEntry
	f.call(t, "getaddressmempool", []any{map[string]any{"addresses": []string{addr}}}, &empty)
	if len(empty) != 0 {
		t.Fatalf("empty pool: %+v", empty)
	}

	parent := f.spend(2, 1000) // spends a coinbase paying to addr, pays addr
	child := f.child(parent, 1000)
	f.send(t, parent)
	f.send(t, child)
	var got []AddressMempoolEntry
	f.call(t, "getaddressmempool", []any{map[string]any{"addresses": []string{addr}}}, &got)
	coinbase := f.gen.Coinbase(f.main[2].Hash())
	value := parent.Outputs[0].Value
	want := map[string]int64{
		parent.TxID().String() + " spend": -int64(value + 1000),
		parent.TxID().String() + " pay":   int64(value),
		child.TxID().String() + " spend":  -int64(value),
		child.TxID().String() + " pay":    int64(value - 1000),
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for _, e := range got {
		kind := " pay"
		if e.PrevTxID != nil {
			kind = " spend"
			if e.TxID == parent.TxID() && (*e.PrevTxID != coinbase.TxID || *e.PrevOut != coinbase.Index) {
				t.Errorf("parent spends %s:%d", e.PrevTxID, *e.PrevOut)
			}
		}
		if w, ok := want[e.TxID.String()+kind]; !ok || w != e.Satoshis || e.Address != addr || e.Timestamp == 0 {
			t.Errorf("entry %+v, want %d", e, w)
		}
	}

	// An address nothing in the pool touches, and a bad one.
	var none []AddressMempoolEntry
	f.call(t, "getaddressmempool", []any{f.chain.Params().EncodeAddress([20]byte{7})}, &none)
	if len(none) != 0 {
		t.Errorf("unrelated address: %+v", none)
	}
	f.callErr(t, "getaddressmempool", []any{"nonsense"}, rpc.CodeInvalidAddressOrKey, "Invalid address")
}
