package chain

import (
	"errors"
	"testing"
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
		var re *RuleError
		switch {
		case c.kind == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.kind != "" && (!errors.As(err, &re) || re.Kind != c.kind):
			t.Errorf("%s: %v, want %s", c.name, err, c.kind)
		case c.kind != "" && re.Kind.Reason() != c.reason:
			t.Errorf("%s: reason %q, want Core's %q", c.name, re.Kind.Reason(), c.reason)
		}
	}
}
