package wallet

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/quarrychain/quarry/chain"
)

// IncrementalRelayFeeRate is what a replacement's fee rate must add to the
// original's, in base units per byte: the node's incremental relay fee,
// Core's default of one unit per byte.
const IncrementalRelayFeeRate = 1

// ErrNotBumpable is wrapped by every reason a transaction cannot be bumped.
var ErrNotBumpable = errors.New("cannot bump the fee")

// BumpRequest is what BuildBump needs to replace one of the wallet's
// unconfirmed sends with a higher fee.
type BumpRequest struct {
	Original *chain.Tx
	// Spent are the outputs Original spends, in its input order: all must be
	// the wallet's.
	Spent []UTXO
	// Extra are the wallet's other outputs, added only if the original
	// inputs cannot pay the new fee, and only those confirmed and mature.
	Extra []UTXO
	// IsChange reports whether an output pays the wallet's change: it is
	// reduced (or dropped) to pay the fee; every other output is paid as
	// before.
	IsChange func(pkh [chain.PubKeyHashSize]byte) bool
	// FeeRate is the rate asked for, base units per byte; it is raised to the
	// original's plus IncrementalRelayFeeRate if lower.
	FeeRate uint64
	// Change receives the change when the original had none.
	Change           [chain.PubKeyHashSize]byte
	CoinbaseMaturity int32
	Keys             KeySource
}

// Bump is a replacement with the fees it pays.
type Bump struct {
	*Send
	OriginalFee     uint64
	OriginalFeeRate uint64 // rounded up
	FeeRate         uint64
}

// BuildBump builds and signs a replacement of req.Original as Core's
// bumpfee does: the same inputs, more only if needed; the same payments; the
// change reduced; a fee rate at least the original's plus the incremental
// relay fee, and a fee at least the original's plus the incremental relay fee
// on the replacement's size (BIP 125's rules 3 and 4).
func BuildBump(req *BumpRequest) (*Bump, error) {
	if len(req.Spent) != len(req.Original.Inputs) {
		return nil, fmt.Errorf("%w: it spends outputs that are not the wallet's", ErrNotBumpable)
	}
	var in uint64
	for i, u := range req.Spent {
		if u.OutPoint != req.Original.Inputs[i].PrevOut {
			return nil, fmt.Errorf("%w: the spent outputs given are not the transaction's", ErrNotBumpable)
		}
		in += u.Value
	}
	out, ok := req.Original.TotalOut()
	if !ok || out > in {
		return nil, fmt.Errorf("%w: its outputs pay more than its inputs", ErrNotBumpable)
	}
	oldFee := in - out
	size := uint64(req.Original.SerializeSize())
	oldRate := (oldFee + size - 1) / size
	b := &Bump{OriginalFee: oldFee, OriginalFeeRate: oldRate, FeeRate: max(req.FeeRate, oldRate+IncrementalRelayFeeRate)}

	var payments []Payment
	change := req.Change
	for _, o := range req.Original.Outputs {
		if req.IsChange(o.PubKeyHash) {
			change = o.PubKeyHash
			continue
		}
		payments = append(payments, Payment{To: o.PubKeyHash, Amount: o.Value})
	}
	if len(payments) == 0 {
		return nil, fmt.Errorf("%w: it pays only the wallet's change", ErrNotBumpable)
	}
	coins := make([]chain.OutPoint, len(req.Spent))
	for i, u := range req.Spent {
		coins[i] = u.OutPoint
	}
	// Only confirmed, mature outputs worth their input's fee may join: BIP
	// 125's rule 2, as Core's bumpfee keeps it, refuses a new unconfirmed
	// input (the original's own change would even spend the transaction it
	// replaces), and one the selection refuses would end the search for the
	// next.
	var extra []UTXO
	for _, u := range req.Extra {
		mature := !u.Coinbase || u.Confirmations >= int64(req.CoinbaseMaturity)
		if u.Confirmations > 0 && mature && u.Value > b.FeeRate*maxInputSize {
			extra = append(extra, u)
		}
	}
	slices.SortStableFunc(extra, func(a, b UTXO) int { return cmp.Compare(b.Value, a.Value) })
	utxos := append(slices.Clone(req.Spent), extra...)
	for added := 0; ; {
		s, err := BuildSend(&SendRequest{UTXOs: spendableAgain(utxos, len(req.Spent)), CoinbaseMaturity: req.CoinbaseMaturity,
			Payments: payments, Coins: coins, FeeRate: b.FeeRate, Change: change, Keys: req.Keys})
		switch {
		case errors.Is(err, ErrInsufficientFunds) && added < len(extra):
			coins = append(coins, extra[added].OutPoint)
			added++
			continue
		case err != nil:
			return nil, err
		case s.Fee < oldFee+IncrementalRelayFeeRate*uint64(s.Tx.SerializeSize()):
			// Dropping a change output can shrink the replacement so much
			// that its rate pays less than the absolute rule asks.
			b.FeeRate++
			continue
		}
		b.Send = s
		return b, nil
	}
}

// spendableAgain marks the original's inputs (the first n) confirmed for
// selection: BuildSend must spend them whatever the view says of them.
func spendableAgain(utxos []UTXO, n int) []UTXO {
	out := slices.Clone(utxos)
	for i := range out[:n] {
		out[i].Confirmations = max(out[i].Confirmations, 1)
		out[i].Coinbase = false // a coinbase the original spends is mature already
	}
	return out
}
