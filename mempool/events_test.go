package mempool

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// TestSubscribeCancel checks that a cancelled subscriber hears nothing more
// while the others keep hearing every change.
func TestSubscribeCancel(t *testing.T) {
	h := newHarness(t, Config{})
	var first, second []chain.Hash
	cancelFirst := h.pool.Subscribe(func(e Event) { first = append(first, e.TxID) })
	h.pool.Subscribe(func(e Event) { second = append(second, e.TxID) })

	a := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.accept(a)
	cancelFirst()
	cancelFirst() // a second cancel is harmless
	b := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.accept(b)

	if len(first) != 1 || first[0] != a.TxID() {
		t.Errorf("cancelled subscriber heard %v, want only %s", first, a.TxID())
	}
	if len(second) != 2 || second[1] != b.TxID() {
		t.Errorf("other subscriber heard %v, want %s and %s", second, a.TxID(), b.TxID())
	}
}
