package mempool

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

func TestAcceptAndQuery(t *testing.T) {
	h := newHarness(t, Config{})
	var events []Event
	h.pool.Subscribe(func(e Event) {
		// Subscribers run without the pool locked and may call it.
		if !h.pool.Has(e.TxID) {
			t.Errorf("event for %s before it is in the pool", e.TxID)
		}
		events = append(events, e)
	})
	parent := h.spend([]chain.OutPoint{h.coin()}, 1000, 2)
	child := h.spend([]chain.OutPoint{out(parent, 0)}, 2000, 1)
	res := h.accept(parent)
	if res.TxID != parent.TxID() || res.Fee != 1000 || res.Size != parent.SerializeSize() {
		t.Fatalf("result %+v", res)
	}
	h.accept(child)

	e, ok := h.pool.Entry(child.TxID())
	if !ok {
		t.Fatal("child not found")
	}
	if e.AncestorCount != 2 || e.AncestorFees != 3000 || e.AncestorSize != int64(parent.SerializeSize()+child.SerializeSize()) {
		t.Fatalf("child ancestors %+v", e)
	}
	if len(e.Depends) != 1 || e.Depends[0] != parent.TxID() || e.Height != h.chain.Best().Height {
		t.Fatalf("child entry %+v", e)
	}
	pe, _ := h.pool.Entry(parent.TxID())
	if pe.DescendantCount != 2 || pe.DescendantFees != 3000 || len(pe.SpentBy) != 1 || pe.SpentBy[0] != child.TxID() {
		t.Fatalf("parent entry %+v", pe)
	}
	if ids := h.pool.TxIDs(); len(ids) != 2 || ids[0] != parent.TxID() || ids[1] != child.TxID() {
		t.Fatalf("txids %v", ids)
	}
	if got, ok := h.pool.Get(parent.TxID()); !ok || got != parent {
		t.Fatal("Get")
	}
	if by, ok := h.pool.HaveSpent(out(parent, 0)); !ok || by != child.TxID() {
		t.Fatal("HaveSpent")
	}
	if _, ok := h.pool.HaveSpent(out(parent, 1)); ok {
		t.Fatal("unspent output reported spent")
	}
	info := h.pool.Info()
	if info.Count != 2 || info.Bytes != int64(parent.SerializeSize()+child.SerializeSize()) || info.TotalFees != 3000 ||
		info.MinFeeRate != DefaultMinRelayFeeRate || info.Usage <= info.Bytes || info.MaxUsage != DefaultMaxUsage {
		t.Fatalf("info %+v", info)
	}
	if len(events) != 2 || events[0].Kind != TxAdded || events[0].TxID != parent.TxID() || events[1].TxID != child.TxID() {
		t.Fatalf("events %+v", events)
	}
	// The signatures are cached: the block carrying them connects without
	// verifying them again.
	if n := h.chain.SigCache().Len(); n < 2 {
		t.Fatalf("signature cache holds %d entries", n)
	}
}

func TestTestAcceptChangesOnlyTheSigCache(t *testing.T) {
	h := newHarness(t, Config{})
	tx := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	cached := h.chain.SigCache().Len()
	res, err := h.pool.TestAccept(tx, 0)
	if err != nil || res.Fee != 1000 {
		t.Fatalf("TestAccept: %+v, %v", res, err)
	}
	if h.pool.Has(tx.TxID()) {
		t.Fatal("TestAccept changed the pool")
	}
	// The verified signature is cached, so accepting the transaction after
	// testing it (as sendrawtransaction does) does not verify it again.
	if got := h.chain.SigCache().Len(); got != cached+1 {
		t.Fatalf("signature cache holds %d entries after TestAccept, want %d", got, cached+1)
	}
	missing := chain.OutPoint{TxID: chaintest.TxIDFromSeed(9)}
	h.values[missing] = coinValue
	orphan := h.spend([]chain.OutPoint{missing}, 1000, 1)
	if _, err := h.pool.TestAccept(orphan, 0); !IsMissingInputs(err) {
		t.Fatalf("TestAccept of an orphan: %v", err)
	}
	if h.pool.HaveOrphan(orphan.TxID()) {
		t.Fatal("TestAccept kept an orphan")
	}
}

// Every rejection with the reason Core gives, and whether a peer deserves a
// penalty for it.
func TestRejections(t *testing.T) {
	h := newHarness(t, Config{})
	tipHeight := h.chain.Best().Height
	subsidy := chain.RegtestParams.Subsidy(1)

	confirmed := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.mine(confirmed)
	inPool := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.accept(inPool)

	cases := []struct {
		name      string
		tx        func() *chain.Tx
		reason    string
		consensus bool
	}{
		{"coinbase", func() *chain.Tx {
			return chain.NewCoinbase(tipHeight+1, 0, nil, subsidy, h.g.PKH)
		}, ReasonCoinbase, true},
		{"no outputs", func() *chain.Tx {
			tx := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
			tx.Outputs = nil
			return tx
		}, "bad-txns-vout-empty", true},
		{"duplicate inputs", func() *chain.Tx {
			op := h.coin()
			return h.spend([]chain.OutPoint{op, op}, 1000, 1)
		}, "bad-txns-inputs-duplicate", true},
		{"high S", func() *chain.Tx {
			tx := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
			tx.Inputs[0].Witness[1] = chaintest.HighS(t, tx.Inputs[0].Witness[1])
			return tx
		}, chain.ErrHighS.Reason(), true},
		{"oversize", func() *chain.Tx {
			return h.spend([]chain.OutPoint{h.coin()}, 100_000, MaxStandardTxSize/28)
		}, ReasonTxSize, false},
		{"non-final", func() *chain.Tx {
			tx := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
			tx.LockTime = uint32(h.chain.Best().Height + 1)
			h.sign(tx)
			return tx
		}, ReasonNonFinal, false},
		{"missing inputs", func() *chain.Tx {
			op := chain.OutPoint{TxID: chaintest.TxIDFromSeed(1)}
			h.values[op] = coinValue
			return h.spend([]chain.OutPoint{op}, 1000, 1)
		}, chain.ErrMissingTxOut.Reason(), false},
		{"spent input", func() *chain.Tx {
			return h.spend([]chain.OutPoint{confirmed.Inputs[0].PrevOut}, 2000, 1)
		}, chain.ErrMissingTxOut.Reason(), false},
		{"immature coinbase", func() *chain.Tx {
			return h.spend([]chain.OutPoint{h.g.Coinbase(h.base[50].Hash())}, 1000, 1)
		}, chain.ErrImmatureSpend.Reason(), false},
		{"outputs above inputs", func() *chain.Tx {
			op := h.coin()
			tx := &chain.Tx{Version: 1, Inputs: []chain.TxIn{{PrevOut: op}}, Outputs: []chain.TxOut{{Value: coinValue + 1, PubKeyHash: h.g.PKH}}}
			h.sign(tx)
			return tx
		}, chain.ErrSpendTooHigh.Reason(), true},
		{"bad signature", func() *chain.Tx {
			tx := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
			tx.Outputs[0].Value--
			return tx
		}, chain.ErrBadSignature.Reason(), true},
		{"another owner's key", func() *chain.Tx {
			tx := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
			chain.SignInput(tx, chain.NewSigHasher(tx, []chain.TxOut{{Value: coinValue, PubKeyHash: h.g.PKH}}), 0, chaintest.OtherKey())
			return tx
		}, chain.ErrPubKeyHashMismatch.Reason(), true},
		{"no fee", func() *chain.Tx {
			return h.spend([]chain.OutPoint{h.coin()}, 0, 1)
		}, ReasonMinRelayFee, false},
		{"fee below one unit per byte", func() *chain.Tx {
			return h.spend([]chain.OutPoint{h.coin()}, 150, 1)
		}, ReasonMinRelayFee, false},
		{"already in mempool", func() *chain.Tx { return inPool }, ReasonAlreadyInMempool, false},
		{"same txid, other witness", func() *chain.Tx {
			twin := *inPool
			twin.Inputs = []chain.TxIn{{PrevOut: inPool.Inputs[0].PrevOut, Witness: [][]byte{inPool.Inputs[0].Witness[0], otherSig(t)}}}
			return &twin
		}, ReasonSameNonWitness, false},
		{"already in chain", func() *chain.Tx { return confirmed }, ReasonAlreadyInChain, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := *h
			h.t = t
			tx := tc.tx()
			re := h.rejected(tx, tc.reason)
			if got := senderAtFault(re); got != tc.consensus {
				t.Fatalf("the sender's fault = %v, want %v (%v)", got, tc.consensus, re)
			}
			if _, err := h.pool.TestAccept(tx, 0); err == nil || err.Error() != re.Error() {
				t.Fatalf("TestAccept says %v, Accept said %v", err, re)
			}
		})
	}
	// A rejection unwraps to the chain's rule.
	bad := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	bad.Outputs[0].Value--
	if _, err := h.pool.Accept(bad, "peer"); !errors.Is(err, chain.ErrBadSignature) {
		t.Fatalf("err = %v, want one wrapping ErrBadSignature", err)
	}
}

// otherSig is a well-formed signature over some other message.
func otherSig(t *testing.T) []byte {
	var msg [32]byte
	msg[0] = 7
	sig := ecdsa.Sign(chaintest.OtherKey(), msg[:])
	return sig.Serialize()
}

func TestChainLimits(t *testing.T) {
	h := newHarness(t, Config{})
	// A chain of 25 unconfirmed transactions is fine, a 26th is not.
	prev := h.coin()
	for i := range AncestorLimit {
		tx := h.spend([]chain.OutPoint{prev}, 1000, 1)
		h.accept(tx)
		prev = out(tx, 0)
		if i == AncestorLimit-1 {
			e, _ := h.pool.Entry(tx.TxID())
			if e.AncestorCount != AncestorLimit {
				t.Fatalf("ancestor count %d", e.AncestorCount)
			}
		}
	}
	re := h.rejected(h.spend([]chain.OutPoint{prev}, 1000, 1), ReasonTooLongChain)
	if !strings.Contains(re.Error(), "too many unconfirmed ancestors") {
		t.Fatalf("err = %v", re)
	}

	// A parent with 24 children has 25 descendants: one more child is too many.
	root := h.spend([]chain.OutPoint{h.coin()}, 5000, DescendantLimit+1)
	h.accept(root)
	for i := range DescendantLimit - 1 {
		h.accept(h.spend([]chain.OutPoint{out(root, i)}, 1000, 1))
	}
	re = h.rejected(h.spend([]chain.OutPoint{out(root, DescendantLimit-1)}, 1000, 1), ReasonTooLongChain)
	if !strings.Contains(re.Error(), "too many descendants for tx "+root.TxID().String()) {
		t.Fatalf("err = %v", re)
	}
}

func TestChainSizeLimits(t *testing.T) {
	h := newHarness(t, Config{})
	// bulky spends ins into a first output and n-1 outputs of one unit:
	// outputs are 28 bytes, so 2,100 make a 60 kB transaction.
	bulky := func(ins []chain.OutPoint, fee uint64, n int) *chain.Tx {
		tx := h.spend(ins, fee, n)
		for i := range tx.Outputs {
			tx.Outputs[i].Value = 1
		}
		var total uint64
		for _, op := range ins {
			total += h.value(op)
		}
		tx.Outputs[0].Value = total - fee - uint64(n-1)
		h.sign(tx)
		return tx
	}
	big := bulky([]chain.OutPoint{h.coin()}, 100_000, 2100)
	h.accept(big)
	re := h.rejected(bulky([]chain.OutPoint{out(big, 0)}, 100_000, 1500), ReasonTooLongChain)
	if !strings.Contains(re.Error(), "exceeds ancestor size limit") {
		t.Fatal(re)
	}

	parent := h.spend([]chain.OutPoint{h.coin()}, 1000, 2)
	h.accept(parent)
	h.accept(bulky([]chain.OutPoint{out(parent, 0)}, 100_000, 2100))
	re = h.rejected(bulky([]chain.OutPoint{out(parent, 1)}, 100_000, 1500), ReasonTooLongChain)
	if !strings.Contains(re.Error(), "exceeds descendant size limit for tx "+parent.TxID().String()) {
		t.Fatal(re)
	}
}

func TestRejectReplacementsPolicy(t *testing.T) {
	h := newHarness(t, Config{RejectReplacements: true})
	op := h.coin()
	first := h.spend([]chain.OutPoint{op}, 1000, 1)
	h.accept(first)
	h.rejected(h.spend([]chain.OutPoint{op}, 50_000, 1), ReasonMempoolConflict)
	h.requireIn(first)
}

func TestClose(t *testing.T) {
	h := newHarness(t, Config{})
	tx := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.accept(tx)
	h.pool.Close()
	if _, err := h.pool.Accept(h.spend([]chain.OutPoint{h.coin()}, 1000, 1), LocalPeer); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	h.mine(tx)
	if !h.pool.Has(tx.TxID()) {
		t.Fatal("a closed pool still follows the chain")
	}
	if _, err := New(Config{Chain: h.chain, MaxUsage: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("pool without a chain")
	}
}

// sendrawtransaction's and testmempoolaccept's maxfeerate: a fee rate above it
// is refused and nothing goes in, but only once every other check passed, so a transaction that
// fails one says so; at or below it the transaction goes in.
func TestAcceptLocalMaxFeeRate(t *testing.T) {
	h := newHarness(t, Config{})
	tx := h.spend([]chain.OutPoint{h.coin()}, 50_000, 1)
	limit := FeeRate(1000) // one base unit a byte: far below 50,000 for one transaction

	forged := *tx
	forged.Inputs = []chain.TxIn{{PrevOut: tx.Inputs[0].PrevOut, Witness: [][]byte{tx.Inputs[0].Witness[0], bytes.Repeat([]byte{1}, 70)}}}
	if _, err := h.pool.AcceptLocal(&forged, limit); !errors.Is(err, chain.ErrBadSignatureEncode) {
		t.Fatalf("AcceptLocal of a forged signature with a high fee: %v, want the signature failure", err)
	}

	var re *RejectError
	if _, err := h.pool.TestAccept(tx, limit); !errors.As(err, &re) || re.Reason != ReasonMaxFeeExceeded {
		t.Fatalf("TestAccept over the limit: %v", err)
	}
	_, err := h.pool.AcceptLocal(tx, limit)
	if !errors.As(err, &re) || re.Reason != ReasonMaxFeeExceeded {
		t.Fatalf("AcceptLocal over the limit: %v", err)
	}
	if h.pool.Has(tx.TxID()) || h.pool.Info().Count != 0 {
		t.Fatal("a refused fee rate changed the pool")
	}
	if res, err := h.pool.AcceptLocal(tx, FeeRate(50_000*1000)); err != nil || res.Fee != 50_000 {
		t.Fatalf("AcceptLocal under the limit: %+v, %v", res, err)
	}
	if !h.pool.Has(tx.TxID()) {
		t.Fatal("accepted transaction is not in the pool")
	}
}
