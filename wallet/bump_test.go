package wallet

import (
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestBuildBump(t *testing.T) {
	f := newSendFixture()
	const coin = chain.Coin
	isChange := func(pkh [chain.PubKeyHashSize]byte) bool { return pkh == f.change }
	orig, err := BuildSend(f.request(coin, 1, f.utxo(1, 3*coin)))
	if err != nil {
		t.Fatal(err)
	}
	bump, err := BuildBump(&BumpRequest{Original: orig.Tx, Spent: orig.Spent, IsChange: isChange, FeeRate: 0,
		Change: f.change, CoinbaseMaturity: 100, Keys: f.keys})
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(bump.Tx.SerializeSize())
	if bump.FeeRate != bump.OriginalFeeRate+IncrementalRelayFeeRate || bump.Fee < bump.FeeRate*size ||
		bump.Fee < orig.Fee+size || bump.OriginalFee != orig.Fee {
		t.Errorf("bump fee %d at %d/byte over %d at %d/byte", bump.Fee, bump.FeeRate, bump.OriginalFee, bump.OriginalFeeRate)
	}
	if len(bump.Tx.Inputs) != 1 || bump.Tx.Inputs[0].PrevOut != orig.Tx.Inputs[0].PrevOut {
		t.Errorf("bump spends %v, the original %v", bump.Tx.Inputs, orig.Tx.Inputs)
	}
	if bump.Change != orig.Change-(bump.Fee-orig.Fee) || bump.Paid[0] != (Payment{f.to, coin}) {
		t.Errorf("change %d (was %d), paid %v", bump.Change, orig.Change, bump.Paid)
	}

	// An original with no change, bumped far: another input is added and
	// the change comes back to the wallet.
	exact, err := BuildSend(f.request(coin, 1, f.utxo(2, coin+200)))
	if err != nil || exact.ChangeIndex >= 0 {
		t.Fatalf("changeless original: %v %+v", err, exact)
	}
	bump, err = BuildBump(&BumpRequest{Original: exact.Tx, Spent: exact.Spent, Extra: []UTXO{f.utxo(3, 2*coin)}, IsChange: isChange,
		FeeRate: 20, Change: f.change, CoinbaseMaturity: 100, Keys: f.keys})
	if err != nil {
		t.Fatal(err)
	}
	if len(bump.Tx.Inputs) != 2 || bump.ChangeIndex < 0 || bump.FeeRate != 20 || bump.Fee < 20*uint64(bump.Tx.SerializeSize()) {
		t.Errorf("bump of a changeless send: %d inputs, change index %d, fee %d", len(bump.Tx.Inputs), bump.ChangeIndex, bump.Fee)
	}
	if _, err := BuildBump(&BumpRequest{Original: exact.Tx, Spent: exact.Spent, IsChange: isChange, FeeRate: 20,
		Change: f.change, CoinbaseMaturity: 100, Keys: f.keys}); !errors.Is(err, ErrInsufficientFunds) {
		t.Errorf("bump with nothing more to spend: %v", err)
	}
	if _, err := BuildBump(&BumpRequest{Original: exact.Tx, IsChange: isChange, Keys: f.keys}); !errors.Is(err, ErrNotBumpable) {
		t.Errorf("bump of a transaction spending others' outputs: %v", err)
	}
}

// A replacement may add only confirmed, mature inputs: BIP 125's rule 2
// (Core's bumpfee) refuses new unconfirmed ones, and an unspendable output
// offered first must not stop the bump when a good one follows.
func TestBuildBumpAddsOnlyConfirmedInputs(t *testing.T) {
	f := newSendFixture()
	const coin = chain.Coin
	isChange := func(pkh [chain.PubKeyHashSize]byte) bool { return pkh == f.change }
	exact, err := BuildSend(f.request(coin, 1, f.utxo(2, coin+200)))
	if err != nil || exact.ChangeIndex >= 0 {
		t.Fatalf("changeless original: %v %+v", err, exact)
	}
	unconfirmed := f.utxo(4, 50*coin)
	unconfirmed.Confirmations, unconfirmed.OwnChange = 0, true
	immature := f.utxo(5, 40*coin)
	immature.Coinbase, immature.Confirmations = true, 3
	confirmed := f.utxo(6, 2*coin)
	bump, err := BuildBump(&BumpRequest{Original: exact.Tx, Spent: exact.Spent, Extra: []UTXO{unconfirmed, immature, confirmed},
		IsChange: isChange, FeeRate: 20, Change: f.change, CoinbaseMaturity: 100, Keys: f.keys})
	if err != nil {
		t.Fatal(err)
	}
	if len(bump.Tx.Inputs) != 2 || bump.Spent[0].OutPoint != confirmed.OutPoint && bump.Spent[1].OutPoint != confirmed.OutPoint {
		t.Errorf("bump spends %+v, want the original's input and the confirmed output only", bump.Spent)
	}
	if _, err := BuildBump(&BumpRequest{Original: exact.Tx, Spent: exact.Spent, Extra: []UTXO{unconfirmed, immature},
		IsChange: isChange, FeeRate: 20, Change: f.change, CoinbaseMaturity: 100, Keys: f.keys}); !errors.Is(err, ErrInsufficientFunds) {
		t.Errorf("bump with only unconfirmed or immature outputs to add: %v", err)
	}
}
