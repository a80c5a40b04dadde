package chain

import (
	"errors"
	"testing"
	"time"
)

// mapView is a UTXO set in a map.
type mapView map[OutPoint]*UtxoEntry

func (v mapView) LookupUtxo(op OutPoint) *UtxoEntry { return v[op] }

// TestCheckTxInputsRules breaks each rule CheckTxInputs applies, one case
// each, and checks its own kind and Core's reason for it: inputs that add up
// past the money supply are Core's bad-txns-inputvalues-outofrange, not the
// outputs' rule.
func TestCheckTxInputsRules(t *testing.T) {
	a, b := OutPoint{TxID: Hash{1}}, OutPoint{TxID: Hash{2}}
	spend := func(out uint64, ops ...OutPoint) *Tx {
		tx := &Tx{Version: 1, Outputs: []TxOut{{Value: out}}}
		for _, op := range ops {
			tx.Inputs = append(tx.Inputs, TxIn{PrevOut: op})
		}
		return tx
	}
	params := RegtestParams
	for _, c := range []struct {
		name   string
		view   mapView
		tx     *Tx
		kind   ErrorKind
		reason string
	}{
		{"valid", mapView{a: {Value: 10}}, spend(9, a), "", ""},
		{"missing input", mapView{}, spend(1, a), ErrMissingTxOut, "bad-txns-inputs-missingorspent"},
		{"immature coinbase", mapView{a: {Value: 10, Coinbase: true, Height: 1}}, spend(1, a), ErrImmatureSpend, "bad-txns-premature-spend-of-coinbase"},
		{"inputs past the money supply", mapView{a: {Value: MaxMoney}, b: {Value: 1}}, spend(1, a, b), ErrInputValuesTooHigh, "bad-txns-inputvalues-outofrange"},
		{"outputs past the money supply", mapView{a: {Value: 10}}, spend(MaxMoney+1, a), ErrBadTxOutValue, "bad-txns-vout-toolarge"},
		{"outputs over inputs", mapView{a: {Value: 10}}, spend(11, a), ErrSpendTooHigh, "bad-txns-in-belowout"},
	} {
		_, _, err := CheckTxInputs(c.tx, c.view, 2, params)
		if checkRule(t, c.name, err, c.kind) && c.kind != "" && c.kind.Reason() != c.reason {
			t.Errorf("%s: reason %q, want Core's %q", c.name, c.kind.Reason(), c.reason)
		}
	}
}

// TestCheckHeaderContextRules breaks each rule a header follows given its
// parent, one case each, and checks its own kind.
func TestCheckHeaderContextRules(t *testing.T) {
	params := TestnetParams
	now := time.Unix(1_800_000_000, 0)
	parent := ParentContext{Height: 10, Time: uint32(now.Unix()) - 600, MedianTimePast: now.Unix() - 3600, NextBits: 0x1d00ffff}
	atRetarget := parent
	atRetarget.Height = params.RetargetInterval - 1
	header := func(time uint32, bits uint32) *Header { return &Header{Version: 1, Time: time, Bits: bits} }
	for _, c := range []struct {
		name   string
		h      *Header
		parent ParentContext
		kind   ErrorKind
	}{
		{"valid", header(parent.Time+1, parent.NextBits), parent, ""},
		{"bits other than the retarget rule's", header(parent.Time+1, 0x1c00ffff), parent, ErrBadDifficulty},
		{"time at the median time past", header(uint32(parent.MedianTimePast), parent.NextBits), parent, ErrTimeTooOld},
		{"time over two hours ahead", header(uint32(now.Unix())+MaxFutureBlockTime+1, parent.NextBits), parent, ErrTimeTooNew},
		{"time warp at a retarget", header(atRetarget.Time-MaxTimeWarp-1, parent.NextBits), ParentContext{
			Height: atRetarget.Height, Time: atRetarget.Time, MedianTimePast: int64(atRetarget.Time) - MaxTimeWarp - 100, NextBits: parent.NextBits}, ErrTimeWarp},
	} {
		checkRule(t, c.name, CheckHeaderContext(c.h, c.parent, now, params), c.kind)
	}
}

// TestCheckBlockContextRules breaks each rule a block follows given its
// height, one case each, and checks its own kind.
func TestCheckBlockContextRules(t *testing.T) {
	const height, mtp = 5, 1_800_000_000
	block := func(cb *Tx, txs ...*Tx) *Block { return &Block{Txs: append([]*Tx{cb}, txs...)} }
	good := NewCoinbase(height, 0, nil, 1, [PubKeyHashSize]byte{})
	lateLock := *good
	lateLock.LockTime++
	locked := &Tx{Version: 1, LockTime: mtp + 1}
	for _, c := range []struct {
		name string
		b    *Block
		kind ErrorKind
	}{
		{"valid", block(good, &Tx{Version: 1, LockTime: height - 1}), ""},
		{"coinbase of another height", block(NewCoinbase(height+1, 0, nil, 1, [PubKeyHashSize]byte{})), ErrBadCoinbaseHeight},
		{"coinbase lock time not the height's", block(&lateLock), ErrBadCoinbaseLockTime},
		{"transaction not final", block(good, locked), ErrUnfinalizedTx},
	} {
		checkRule(t, c.name, CheckBlockContext(c.b, height, mtp), c.kind)
	}
}

// checkRule reports whether err is the failure of rule kind, or nil for no
// kind, and fails the case named name if not.
func checkRule(t *testing.T, name string, err error, kind ErrorKind) bool {
	t.Helper()
	var re *RuleError
	switch {
	case kind == "" && err != nil:
		t.Errorf("%s: %v", name, err)
	case kind != "" && (!errors.As(err, &re) || re.Kind != kind):
		t.Errorf("%s: %v, want %s", name, err, kind)
	default:
		return true
	}
	return false
}
