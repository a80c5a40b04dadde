package wallet

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
)

// Errors of BuildSend besides ErrInvalidAmount. All are returned before
// anything is signed.
var (
	// ErrInsufficientFunds is matched by every *InsufficientFundsError.
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrInvalidFeeRate: a fee rate so high that the fee could exceed the
	// money supply.
	ErrInvalidFeeRate = errors.New("invalid fee rate")
	// ErrMissingKey: an output offered for spending pays to a key the
	// KeySource does not have.
	ErrMissingKey = errors.New("no key for output")
	// ErrTooManyInputs: the inputs needed make a transaction larger than a
	// block may hold.
	ErrTooManyInputs = errors.New("transaction too large")
	// ErrUnknownCoin: a coin chosen with SendRequest.Coins is not one of the
	// wallet's spendable outputs.
	ErrUnknownCoin = errors.New("coin not spendable")
)

// InsufficientFundsError says how much a send needed and how much could be
// spent. Need counts the fee of spending every spendable output.
type InsufficientFundsError struct {
	Need, Have uint64
	// Pending is what the wallet holds but cannot spend now: outputs with too
	// few confirmations, immature coinbases, outputs its own unconfirmed
	// transactions spend, and outputs worth less than the fee to spend them.
	Pending uint64
}

func (e *InsufficientFundsError) Error() string {
	var missing uint64
	if e.Need > e.Have {
		missing = e.Need - e.Have
	}
	msg := fmt.Sprintf("insufficient funds: need %s QRY, have %s QRY (missing %s QRY)",
		FormatAmount(e.Need), FormatAmount(e.Have), FormatAmount(missing))
	if e.Pending > 0 {
		msg += fmt.Sprintf("; %s QRY more cannot be spent now (unconfirmed, immature, spent by an unconfirmed send, or worth less than its fee)",
			FormatAmount(e.Pending))
	}
	return msg
}

// Is makes errors.Is(err, ErrInsufficientFunds) true.
func (e *InsufficientFundsError) Is(target error) bool { return target == ErrInsufficientFunds }

// UTXO is an unspent output of the wallet, as the caller learned it from a node.
type UTXO struct {
	OutPoint   chain.OutPoint
	Value      uint64
	PubKeyHash [chain.PubKeyHashSize]byte
	// Confirmations is how many blocks contain or follow the output's
	// transaction: 0 while it is unconfirmed.
	Confirmations int64
	// Coinbase is set for outputs of a coinbase transaction, which must mature.
	Coinbase bool
	// OwnChange is set for an unconfirmed output of the wallet's own send:
	// the only unconfirmed outputs BuildSend spends, and only when the
	// confirmed ones do not suffice (another's unconfirmed payment may never
	// confirm; the wallet's own can be bumped or rebroadcast).
	OwnChange bool
}

// KeySource finds the private key paying to a key hash. *Wallet is one.
type KeySource interface {
	PrivateKey(pkh [chain.PubKeyHashSize]byte) (*secp256k1.PrivateKey, bool)
}

// Payment is one output a send pays.
type Payment struct {
	To     [chain.PubKeyHashSize]byte
	Amount uint64 // base units
}

// SendRequest is everything BuildSend needs: no node is asked anything.
type SendRequest struct {
	// UTXOs are the wallet's unspent outputs.
	UTXOs []UTXO
	// Exclude holds outputs the wallet's own unconfirmed transactions spend,
	// which the node may still list as unspent.
	Exclude map[chain.OutPoint]bool
	// CoinbaseMaturity is the network's (chain.Params.CoinbaseMaturity).
	CoinbaseMaturity int32

	// Payments are the outputs to pay, in any order (the transaction's are
	// sorted).
	Payments []Payment
	// SubtractFee takes the fee from the payments, in equal shares (the
	// first pays what does not divide), as Core's subtractfeefromamount.
	SubtractFee bool
	// SpendAll spends every spendable output (or every one of Coins) to the
	// one payment, whose Amount is ignored: it receives all less the fee.
	SpendAll bool
	// Coins, when set, are the outputs to spend, all of them and no other
	// (coin control).
	Coins []chain.OutPoint

	FeeRate uint64 // base units per byte of the signed transaction
	// Change receives what is left over, unless that is dust.
	Change [chain.PubKeyHashSize]byte
	Keys   KeySource
	// Unsigned builds without signing (Keys may be nil): the fee counts
	// every signature at its longest, so it covers the rate once signed.
	Unsigned bool
}

// Send is a signed transaction ready to broadcast.
type Send struct {
	Tx *chain.Tx
	// Fee is the inputs' total less the outputs': at least FeeRate times the
	// signed size, plus any change too small to be worth an output.
	Fee uint64
	// Change is the value paid back to SendRequest.Change; ChangeIndex is its
	// output's index, or -1 when there is no change output.
	Change      uint64
	ChangeIndex int
	// Spent are the outputs spent, in the order of Tx's inputs.
	Spent []UTXO
	// Paid are the payments as made: with SubtractFee or SpendAll, less
	// their share of the fee.
	Paid []Payment
}

// Sizes of the parts of a transaction, in bytes, as chain encodes them.
const (
	txOverhead = 4 + 4 // version and lock time
	outputSize = 8 + chain.PubKeyHashSize
	// maxSigSize bounds a DER signature: 72 bytes with both integers at 33
	// bytes. A low-S signature is at most 71, but the bound only has to be
	// safe: the fee is recomputed from the real size after signing.
	maxSigSize = 72
	// maxInputSize is an outpoint, a witness count, and the witness: a
	// compressed key and a signature, each with its length byte.
	maxInputSize = chain.HashSize + 4 + 1 + 1 + 33 + 1 + maxSigSize
)

// longestSignature stands in for a witness while an unsigned transaction is
// sized or checked: a compressed key and the longest low-S DER signature
// (r of 33 bytes, s of 32).
func longestSignature() [][]byte {
	pub := append([]byte{2}, make([]byte, 32)...)
	pub[32] = 1
	sig := []byte{0x30, 0x45, 0x02, 0x21, 0x00}
	sig = append(sig, bytes.Repeat([]byte{0x80}, 32)...)
	sig = append(sig, 0x02, 0x20, 0x01)
	sig = append(sig, make([]byte, 31)...)
	return [][]byte{pub, sig}
}

// DustLimit is the smallest payment BuildSend makes, and the smallest change
// output at any fee rate:
// Bitcoin Core's dust threshold for a P2PKH output, the figure wallets
// commonly use. Below it (or below the cost of spending it, if higher) the
// change goes to the fee instead of making an output that costs more to spend
// than it holds.
const DustLimit = 546

// MaxFeeRate is the highest fee rate, base units per byte, the wallet pays on
// a figure its user did not give: Core's default maxfeerate, 0.10 QRY per
// 1,000 bytes. A node's estimate above it, or an unsigned file paying more,
// is refused rather than trusted: either would hand the coins to miners.
const MaxFeeRate = 10_000

// maxFeeRate keeps every fee computation below 2^64: no transaction is larger
// than chain.MaxTxSize, so no fee exceeds the money supply.
const maxFeeRate = chain.MaxMoney / chain.MaxTxSize

// maxBnBTries bounds the branch-and-bound search, which is exponential in the
// worst case; Bitcoin Core uses 100,000 too.
const maxBnBTries = 100_000

func txSize(inputs, outputs int) uint64 {
	return uint64(txOverhead + chain.CompactSizeLen(uint64(inputs)) + inputs*maxInputSize +
		chain.CompactSizeLen(uint64(outputs)) + outputs*outputSize)
}

// dustThreshold is the smallest change worth an output at rate.
func dustThreshold(rate uint64) uint64 {
	return max(DustLimit, rate*maxInputSize)
}

// BuildSend chooses outputs to spend, builds a transaction making
// req.Payments with any change to req.Change, and signs every input.
//
// Selection spends confirmed outputs, and the wallet's own unconfirmed change
// only when those do not suffice. It first looks for a set of outputs that
// pays amount and fee with no change, wasting at most what a change output
// would cost to create and later spend (a simplified form of Bitcoin Core's
// branch and bound); failing that it spends the largest outputs first and
// returns the rest as change. Inputs and outputs are sorted as BIP69 does, so
// their order reveals nothing of which output is the change.
func BuildSend(req *SendRequest) (*Send, error) {
	amount, err := checkRequest(req)
	if err != nil {
		return nil, err
	}
	// With the fee taken from the payments, the inputs need only cover them.
	selectRate := req.FeeRate
	if req.SubtractFee {
		selectRate = 0
	}
	var selected []UTXO
	var withChange bool
	switch {
	case req.Coins != nil:
		if selected, err = chosenCoins(req); err != nil {
			return nil, err
		}
		var have uint64
		for _, u := range selected {
			have += u.Value
		}
		if need := amount + selectRate*txSize(len(selected), len(req.Payments)); have < need {
			return nil, &InsufficientFundsError{Need: need, Have: have}
		}
		withChange = !req.SpendAll && changeLeft(selected, amount, selectRate, len(req.Payments))
	case req.SpendAll:
		selected, _, err = spendableUTXOs(req, true)
		if err != nil {
			return nil, err
		}
	default:
		var spendable []UTXO
		var pending uint64
		for _, ownChange := range []bool{false, true} {
			if spendable, pending, err = spendableUTXOs(req, ownChange); err != nil {
				return nil, err
			}
			if selected, withChange = selectCoins(spendable, amount, selectRate, len(req.Payments)); selected != nil {
				break
			}
		}
		if selected == nil {
			return nil, selectionError(spendable, pending, amount, selectRate, len(req.Payments))
		}
	}
	if len(selected) == 0 {
		return nil, &InsufficientFundsError{Need: req.FeeRate * txSize(1, 1)}
	}
	if req.SpendAll {
		var total uint64
		for _, u := range selected {
			total += u.Value
		}
		req = &SendRequest{Payments: []Payment{{To: req.Payments[0].To, Amount: total}}, SubtractFee: true,
			FeeRate: req.FeeRate, Change: req.Change, Keys: req.Keys, Unsigned: req.Unsigned}
	}
	keys := make([]*secp256k1.PrivateKey, len(selected))
	for i, u := range selected {
		if req.Unsigned {
			break
		}
		k, ok := req.Keys.PrivateKey(u.PubKeyHash)
		if !ok {
			return nil, fmt.Errorf("%w %s paying to key hash %x", ErrMissingKey, u.OutPoint, u.PubKeyHash)
		}
		keys[i] = k
	}
	return finish(req, selected, keys, withChange)
}

// checkRequest refuses what no selection can fix, and returns the payments'
// total.
func checkRequest(req *SendRequest) (uint64, error) {
	if len(req.Payments) == 0 {
		return 0, fmt.Errorf("%w: nothing to pay", ErrInvalidAmount)
	}
	if req.SpendAll && len(req.Payments) != 1 {
		return 0, fmt.Errorf("%w: spending everything pays one address, not %d", ErrInvalidAmount, len(req.Payments))
	}
	var amount uint64
	for _, p := range req.Payments {
		if req.SpendAll {
			break
		}
		if p.Amount < DustLimit {
			// Core's "Transaction amount too small": an output worth less
			// than spending it costs is one nobody can use.
			return 0, fmt.Errorf("%w: %s QRY is under the dust limit of %s QRY", ErrInvalidAmount, FormatAmount(p.Amount), FormatAmount(DustLimit))
		}
		if p.Amount > chain.MaxMoney || amount+p.Amount > chain.MaxMoney {
			return 0, fmt.Errorf("%w: %s QRY is more than can ever exist", ErrInvalidAmount, FormatAmount(amount+p.Amount))
		}
		amount += p.Amount
	}
	if req.Keys == nil && !req.Unsigned {
		return 0, errors.New("no KeySource to sign with")
	}
	if req.FeeRate > maxFeeRate {
		return 0, fmt.Errorf("%w: %d base units per byte is over the %d limit", ErrInvalidFeeRate, req.FeeRate, maxFeeRate)
	}
	return amount, nil
}

// selectionError explains why no selection paid amount.
func selectionError(spendable []UTXO, pending, amount, rate uint64, payments int) error {
	var have uint64
	for _, u := range spendable {
		have += u.Value
	}
	need := amount + rate*txSize(len(spendable), payments)
	if have >= need {
		// Only the transaction's size can stop a selection that the total
		// value allows.
		return fmt.Errorf("%w: paying %s QRY needs more inputs than fit in a block; consolidate small outputs first",
			ErrTooManyInputs, FormatAmount(amount))
	}
	return &InsufficientFundsError{Need: need, Have: have, Pending: pending}
}

// chosenCoins returns the outputs req.Coins names, each of which must be
// spendable.
func chosenCoins(req *SendRequest) ([]UTXO, error) {
	spendable, _, err := spendableUTXOs(req, true)
	if err != nil {
		return nil, err
	}
	byOutPoint := make(map[chain.OutPoint]UTXO, len(spendable))
	for _, u := range spendable {
		byOutPoint[u.OutPoint] = u
	}
	var chosen []UTXO
	seen := make(map[chain.OutPoint]bool)
	for _, op := range req.Coins {
		u, ok := byOutPoint[op]
		if !ok {
			return nil, fmt.Errorf("%w: %s is not an output the wallet can spend now (unknown, spent, unconfirmed and not its own change, immature, or worth less than its fee)", ErrUnknownCoin, op)
		}
		if !seen[op] {
			seen[op] = true
			chosen = append(chosen, u)
		}
	}
	return chosen, nil
}

// changeLeft reports whether spending utxos for amount leaves change worth an
// output.
func changeLeft(utxos []UTXO, amount, rate uint64, payments int) bool {
	var sum uint64
	for _, u := range utxos {
		sum += u.Value
	}
	fee := rate * txSize(len(utxos), payments+1)
	return sum >= amount+fee && sum-amount-fee >= dustThreshold(rate)
}

// spendableUTXOs filters the outputs BuildSend may spend, confirmed ones and
// with ownChange the wallet's own unconfirmed change too, and sorts them
// largest first. pending sums the wallet's outputs it may not spend now.
func spendableUTXOs(req *SendRequest, ownChange bool) (spendable []UTXO, pending uint64, err error) {
	seen := make(map[chain.OutPoint]bool, len(req.UTXOs))
	var total uint64
	for _, u := range req.UTXOs {
		if seen[u.OutPoint] {
			continue
		}
		seen[u.OutPoint] = true
		// Bounding the sum by the money supply keeps every later sum and
		// difference of values from overflowing.
		if u.Value > chain.MaxMoney || total+u.Value > chain.MaxMoney {
			return nil, 0, fmt.Errorf("outputs offered for spending add up to more than %s QRY", FormatAmount(chain.MaxMoney))
		}
		total += u.Value
		mature := !u.Coinbase || u.Confirmations >= int64(req.CoinbaseMaturity)
		confirmed := u.Confirmations > 0 || (ownChange && u.OwnChange)
		switch {
		case req.Exclude[u.OutPoint], !confirmed, !mature, u.Value <= req.FeeRate*maxInputSize:
			pending += u.Value
		default:
			spendable = append(spendable, u)
		}
	}
	slices.SortStableFunc(spendable, func(a, b UTXO) int { return cmp.Compare(b.Value, a.Value) })
	return spendable, pending, nil
}

// selectCoins returns the outputs to spend and whether the transaction has a
// change output, or nil if the outputs cannot pay amount and its fee.
func selectCoins(utxos []UTXO, amount, rate uint64, payments int) ([]UTXO, bool) {
	if sel := branchAndBound(utxos, amount, rate, payments); sel != nil {
		return sel, false
	}
	return largestFirst(utxos, amount, rate, payments)
}

// branchAndBound searches, largest outputs first, for a set whose value
// after the cost of its inputs pays amount and a changeless transaction's
// other bytes, with an excess (which becomes fee) below what a change output
// would cost to make and spend. Of the sets found within maxBnBTries it keeps
// the one wasting least.
func branchAndBound(utxos []UTXO, amount, rate uint64, payments int) []UTXO {
	if len(utxos) >= 0xfd {
		// The target below assumes one-byte input counts; so many outputs
		// go to largestFirst, which counts exactly.
		return nil
	}
	effective := make([]uint64, len(utxos))
	var remaining uint64
	for i, u := range utxos {
		effective[i] = u.Value - rate*maxInputSize // spendableUTXOs dropped those worth less
		remaining += effective[i]
	}
	target := amount + rate*txSize(0, payments)
	window := rate*outputSize + dustThreshold(rate)
	var (
		chosen    = make([]bool, len(utxos))
		best      []bool
		bestWaste uint64
		tries     int
		search    func(i int, sum, remaining uint64) bool
	)
	// search returns true to stop: an exact match or the try budget spent.
	search = func(i int, sum, remaining uint64) bool {
		tries++
		if sum > target+window {
			return tries >= maxBnBTries
		}
		if sum >= target {
			if waste := sum - target; best == nil || waste < bestWaste {
				best, bestWaste = slices.Clone(chosen), waste
			}
			return bestWaste == 0 || tries >= maxBnBTries
		}
		if i == len(utxos) || sum+remaining < target || tries >= maxBnBTries {
			return tries >= maxBnBTries
		}
		remaining -= effective[i]
		chosen[i] = true
		if search(i+1, sum+effective[i], remaining) {
			return true
		}
		chosen[i] = false
		return search(i+1, sum, remaining)
	}
	search(0, 0, remaining)
	if best == nil {
		return nil
	}
	var sel []UTXO
	for i, c := range best {
		if c {
			sel = append(sel, utxos[i])
		}
	}
	return sel
}

// largestFirst spends outputs from the largest down until they pay amount and
// fee, with change unless the change would be dust.
func largestFirst(utxos []UTXO, amount, rate uint64, payments int) ([]UTXO, bool) {
	var sum uint64
	for n := 1; n <= len(utxos); n++ {
		sum += utxos[n-1].Value
		if txSize(n, payments+1) > chain.MaxTxSize {
			return nil, false
		}
		if sum < amount+rate*txSize(n, payments) {
			continue
		}
		return utxos[:n], changeLeft(utxos[:n], amount, rate, payments)
	}
	return nil, false
}

// finish builds and signs the transaction, then settles the fee on the signed
// size: signatures vary in length, so the fee estimated with the longest ones
// is lowered to the exact amount once, and raised again should a re-signing
// come out longer, so that the fee always covers rate times the real size.
// With SubtractFee the payments give up the fee; without, the change does
// (or, with no change, the fee is whatever the payments leave).
func finish(req *SendRequest, spent []UTXO, keys []*secp256k1.PrivateKey, withChange bool) (*Send, error) {
	var total, amount uint64
	for _, u := range spent {
		total += u.Value
	}
	for _, p := range req.Payments {
		amount += p.Amount
	}
	order := make([]int, len(spent))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return compareOutPoints(spent[a].OutPoint, spent[b].OutPoint) })
	tx := &chain.Tx{Version: 1}
	sorted := make([]UTXO, len(spent))
	sortedKeys := make([]*secp256k1.PrivateKey, len(spent))
	spentOuts := make([]chain.TxOut, len(spent))
	for i, j := range order {
		sorted[i], sortedKeys[i] = spent[j], keys[j]
		spentOuts[i] = chain.TxOut{Value: spent[j].Value, PubKeyHash: spent[j].PubKeyHash}
		tx.Inputs = append(tx.Inputs, chain.TxIn{PrevOut: spent[j].OutPoint})
	}

	outputs := len(req.Payments)
	if withChange {
		outputs++
	}
	fee := req.FeeRate * txSize(len(spent), outputs)
	lowered := false
	for {
		var change, deduct uint64
		switch {
		case req.SubtractFee && withChange && total-amount >= dustThreshold(req.FeeRate):
			change, deduct = total-amount, fee
		case req.SubtractFee:
			withChange = false
			excess := total - amount
			deduct = fee - min(fee, excess)
			fee = excess + deduct
		case withChange:
			change = total - amount - fee
			if change < dustThreshold(req.FeeRate) {
				withChange, change = false, 0
				fee = total - amount
			}
		default:
			fee = total - amount
		}
		paid, err := deductFee(req.Payments, deduct)
		if err != nil {
			return nil, err
		}
		changeIndex := setOutputs(tx, paid, req.Change, change)
		if req.Unsigned {
			for i := range tx.Inputs {
				tx.Inputs[i].Witness = longestSignature()
			}
		} else {
			hasher := chain.NewSigHasher(tx, spentOuts)
			for i := range sorted {
				chain.SignInput(tx, hasher, i, sortedKeys[i])
			}
		}
		need := req.FeeRate * uint64(tx.SerializeSize())
		adjustable := withChange || req.SubtractFee
		if fee < need {
			if !adjustable {
				// Selection counted every input at the longest signature,
				// so this is a bug; refuse rather than underpay.
				return nil, fmt.Errorf("the inputs leave a fee of %d, under the %d the signed size needs", fee, need)
			}
			fee = need
			continue
		}
		if fee > need && adjustable && !lowered && (withChange || deduct > 0) {
			lowered = true
			fee = need
			continue
		}
		if req.Unsigned {
			for i := range tx.Inputs {
				tx.Inputs[i].Witness = nil
			}
		}
		return &Send{Tx: tx, Fee: fee, Change: change, ChangeIndex: changeIndex, Spent: sorted, Paid: paid}, nil
	}
}

// deductFee takes fee from the payments in equal shares, the first paying what
// does not divide, as Core does; a payment left at dust is refused.
func deductFee(payments []Payment, fee uint64) ([]Payment, error) {
	paid := slices.Clone(payments)
	if fee == 0 {
		return paid, nil
	}
	share := fee / uint64(len(paid))
	for i := range paid {
		take := share
		if i == 0 {
			take += fee % uint64(len(paid))
		}
		if paid[i].Amount < take+DustLimit {
			return nil, fmt.Errorf("%w: %s QRY cannot pay its %s QRY share of the fee and stay above the dust limit",
				ErrInvalidAmount, FormatAmount(paid[i].Amount), FormatAmount(take))
		}
		paid[i].Amount -= take
	}
	return paid, nil
}

// setOutputs sets tx's outputs, sorted as BIP69 does (by value, then key
// hash), and returns the change output's index or -1.
func setOutputs(tx *chain.Tx, payments []Payment, changeTo [chain.PubKeyHashSize]byte, change uint64) int {
	tx.Outputs = tx.Outputs[:0]
	for _, p := range payments {
		tx.Outputs = append(tx.Outputs, chain.TxOut{Value: p.Amount, PubKeyHash: p.To})
	}
	changeOut := chain.TxOut{Value: change, PubKeyHash: changeTo}
	if change > 0 {
		tx.Outputs = append(tx.Outputs, changeOut)
	}
	slices.SortStableFunc(tx.Outputs, compareOutputs)
	if change == 0 {
		return -1
	}
	// A payment equal to the change in value and key hash is
	// indistinguishable from it; either index is right.
	return slices.Index(tx.Outputs, changeOut)
}

func compareOutputs(a, b chain.TxOut) int {
	return cmp.Or(cmp.Compare(a.Value, b.Value), bytes.Compare(a.PubKeyHash[:], b.PubKeyHash[:]))
}

// compareOutPoints orders as BIP69: txid as shown (reversed bytes), then index.
func compareOutPoints(a, b chain.OutPoint) int {
	for i := chain.HashSize - 1; i >= 0; i-- {
		if c := cmp.Compare(a.TxID[i], b.TxID[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.Index, b.Index)
}
