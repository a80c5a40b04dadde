package mempool

import (
	"slices"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(slices.Clone(p[:i]), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// A family of four, where the last spends from two parents, arrives in every
// order; all of it ends up in the pool.
func TestOrphansResolveInAnyOrder(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.spend([]chain.OutPoint{h.coin()}, 1000, 2)
	b := h.spend([]chain.OutPoint{out(a, 0)}, 1000, 1)
	c := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	d := h.spend([]chain.OutPoint{out(b, 0), out(a, 1), out(c, 0)}, 1000, 1)
	family := []*chain.Tx{a, b, c, d}
	for _, perm := range permutations(len(family)) {
		h.newPool(Config{})
		resolved := 0
		for i, idx := range perm {
			tx := family[idx]
			res, err := h.pool.Accept(tx, PeerID("peer"+string(rune('a'+i))))
			if err != nil {
				t.Fatalf("order %v: %v", perm, err)
			}
			if len(res.RejectedOrphans) > 0 {
				t.Fatalf("order %v: rejected %+v", perm, res.RejectedOrphans)
			}
			resolved += len(res.Resolved)
			if res.Orphan {
				if !h.pool.HaveOrphan(tx.TxID()) || len(res.MissingParents) == 0 {
					t.Fatalf("order %v: orphan %+v not kept", perm, res)
				}
			} else {
				resolved++
			}
			h.check()
		}
		h.requireIn(family...)
		if resolved != len(family) {
			t.Fatalf("order %v: %d accepted", perm, resolved)
		}
		if info := h.pool.Info(); info.Orphans != 0 || info.OrphanBytes != 0 {
			t.Fatalf("order %v: orphans left %+v", perm, info)
		}
	}
}

func TestOrphanFromLocalIsRejected(t *testing.T) {
	h := newHarness(t, Config{})
	parent := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	child := h.spend([]chain.OutPoint{out(parent, 0)}, 1000, 1)
	re := h.rejected(child, chain.ErrMissingTxOut.Reason())
	if senderAtFault(re) || h.pool.HaveOrphan(child.TxID()) {
		t.Fatal("a local orphan was kept or counted as a consensus failure")
	}
}

// Spending an output a known parent does not have is no orphan.
func TestSpendOfNonexistentOutputIsNoOrphan(t *testing.T) {
	h := newHarness(t, Config{})
	parent := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.accept(parent)
	bad := chain.OutPoint{TxID: parent.TxID(), Index: 5}
	h.values[bad] = 1000
	tx := h.spend([]chain.OutPoint{bad}, 500, 1)
	res, err := h.pool.Accept(tx, "peer")
	if !IsMissingInputs(err) || res != nil || h.pool.HaveOrphan(tx.TxID()) {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestOrphanInvalidOnceResolved(t *testing.T) {
	h := newHarness(t, Config{})
	parent := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	child := h.spend([]chain.OutPoint{out(parent, 0)}, 1000, 1)
	child.Outputs[0].Value-- // breaks the signature
	if res, err := h.pool.Accept(child, "mallory"); err != nil || !res.Orphan {
		t.Fatalf("%+v, %v", res, err)
	}
	res := h.accept(parent)
	if len(res.RejectedOrphans) != 1 || res.RejectedOrphans[0].Peer != "mallory" || !senderAtFault(res.RejectedOrphans[0].Err) {
		t.Fatalf("rejected orphans %+v", res.RejectedOrphans)
	}
	h.requireOut(child)
}

func TestOrphanBounds(t *testing.T) {
	h := newHarness(t, Config{})
	// Every orphan has the same size, so which peer uses the most bytes
	// depends on the count, not on how long each DER signature came out.
	size := 0
	orphanTx := func(seed uint32) *chain.Tx {
		for index := uint32(0); ; index++ {
			op := chain.OutPoint{TxID: chaintest.TxIDFromSeed(seed), Index: index}
			h.values[op] = coinValue
			tx := h.spend([]chain.OutPoint{op}, 1000, 1)
			if size == 0 || tx.SerializeSize() == size {
				size = tx.SerializeSize()
				return tx
			}
		}
	}
	orphanTx(0)
	h.newPool(Config{MaxOrphans: 4, MaxOrphanBytesPerPeer: 2*size + size/2})
	var fromA, fromB []*chain.Tx
	for i := range 3 {
		tx := orphanTx(uint32(10 + i))
		fromA = append(fromA, tx)
		if _, err := h.pool.Accept(tx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	// a's third orphan pushed out its first: a may hold two.
	if h.pool.HaveOrphan(fromA[0].TxID()) || !h.pool.HaveOrphan(fromA[2].TxID()) {
		t.Fatal("per-peer bound not applied to the oldest")
	}
	for i := range 3 {
		tx := orphanTx(uint32(20 + i))
		fromB = append(fromB, tx)
		if _, err := h.pool.Accept(tx, "b"); err != nil {
			t.Fatal(err)
		}
	}
	if info := h.pool.Info(); info.Orphans != 4 || h.pool.HaveOrphan(fromB[0].TxID()) || !h.pool.HaveOrphan(fromB[2].TxID()) {
		t.Fatalf("%d orphans, bound 4", info.Orphans)
	}
	// Over the count bound, the peer holding the most loses its oldest.
	fromC := orphanTx(25)
	if _, err := h.pool.Accept(fromC, "c"); err != nil {
		t.Fatal(err)
	}
	if info := h.pool.Info(); info.Orphans != 4 || h.pool.HaveOrphan(fromA[1].TxID()) || !h.pool.HaveOrphan(fromC.TxID()) {
		t.Fatalf("count bound: %d orphans", info.Orphans)
	}
	if n := h.pool.ForgetPeer("b"); n != 2 {
		t.Fatalf("forgot %d of b's orphans", n)
	}
	if !h.pool.HaveOrphan(fromA[2].TxID()) || !h.pool.HaveOrphan(fromC.TxID()) {
		t.Fatal("other peers' orphans went with b's")
	}
	// Orphans expire after 20 minutes.
	h.clock.Advance(21 * time.Minute)
	if _, err := h.pool.Accept(orphanTx(30), "c"); err != nil {
		t.Fatal(err)
	}
	if info := h.pool.Info(); info.Orphans != 1 {
		t.Fatalf("%d orphans after expiry", info.Orphans)
	}
}

// An orphan's parent may be confirmed without ever passing through the pool.
func TestOrphanResolvedByBlock(t *testing.T) {
	h := newHarness(t, Config{})
	parent := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	child := h.spend([]chain.OutPoint{out(parent, 0)}, 1000, 1)
	if _, err := h.pool.Accept(child, "a"); err != nil {
		t.Fatal(err)
	}
	h.mine(parent)
	h.requireIn(child)
	h.check()
	// An orphan spending an output a block spends goes.
	unknown := chain.OutPoint{TxID: chaintest.TxIDFromSeed(3)}
	h.values[unknown] = coinValue
	coin := h.coin()
	doomed := h.spend([]chain.OutPoint{unknown, coin}, 1000, 1)
	if _, err := h.pool.Accept(doomed, "a"); err != nil {
		t.Fatal(err)
	}
	h.mine(child, h.spend([]chain.OutPoint{coin}, 1000, 1))
	h.requireOut(child)
	if h.pool.HaveOrphan(doomed.TxID()) {
		t.Fatal("orphan whose parent is double-spent stayed")
	}
}
