package methods

import (
	"slices"
	"testing"

	"github.com/quarrychain/quarry/rpc"

	"github.com/quarrychain/quarry/chain"
)

func TestMempoolFamily(t *testing.T) {
	f := newPoolFixture(t)
	a := f.spend(2, 1000)
	b := f.child(a, 1000)
	c := f.child(b, 1000)
	for _, tx := range []*chain.Tx{a, b, c} {
		f.send(t, tx)
	}
	ids := func(txs ...*chain.Tx) []chain.Hash {
		var out []chain.Hash
		for _, tx := range txs {
			out = append(out, tx.TxID())
		}
		slices.SortFunc(out, func(x, y chain.Hash) int { return slices.Compare(x[:], y[:]) })
		return out
	}
	for _, tt := range []struct {
		method string
		of     *chain.Tx
		want   []chain.Hash
	}{
		{"getmempoolancestors", c, ids(a, b)},
		{"getmempoolancestors", a, ids()},
		{"getmempooldescendants", a, ids(b, c)},
		{"getmempooldescendants", c, ids()},
	} {
		var got []chain.Hash
		f.call(t, tt.method, []any{tt.of.TxID()}, &got)
		slices.SortFunc(got, func(x, y chain.Hash) int { return slices.Compare(x[:], y[:]) })
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.method, tt.of.TxID(), got, tt.want)
		}
	}
	var verbose map[chain.Hash]struct {
		Depends []chain.Hash `json:"depends"`
	}
	f.call(t, "getmempooldescendants", []any{a.TxID(), true}, &verbose)
	if len(verbose) != 2 || !slices.Equal(verbose[c.TxID()].Depends, []chain.Hash{b.TxID()}) {
		t.Errorf("verbose descendants: %+v", verbose)
	}
	f.callErr(t, "getmempoolancestors", []any{chain.Hash{9}}, rpc.CodeInvalidAddressOrKey, "Transaction not in mempool")
}
