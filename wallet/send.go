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
}

// KeySource finds the private key paying to a key hash. *Wallet is one.
type KeySource interface {
	PrivateKey(pkh [chain.PubKeyHashSize]byte) (*secp256k1.PrivateKey, bool)
}

// SendRequest is everything BuildSend needs: no node is asked anything.
type SendRequest struct {
	// UTXOs are the wallet's unspent outputs.
	UTXOs []UTXO
	// Exclude holds outputs the wallet's own unconfirmed transactions spend,
	// which the node may still list as unspent.
	Exclude map[chain.OutPoint]bool
	// MinConfirmations is the fewest confirmations an output needs to be
	// spent; 0 allows unconfirmed outputs.
	MinConfirmations int64
	// CoinbaseMaturity is the network's (chain.Params.CoinbaseMaturity).
	CoinbaseMaturity int32

	To      [chain.PubKeyHashSize]byte
	Amount  uint64 // base units
	FeeRate uint64 // base units per byte of the signed transaction
	// Change receives what is left over, unless that is dust.
	Change [chain.PubKeyHashSize]byte
	Keys   KeySource
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

// DustLimit is the smallest change output BuildSend makes, at any fee rate:
// Bitcoin Core's dust threshold for a P2PKH output, the figure wallets
// commonly use. Below it (or below the cost of spending it, if higher) the
// change goes to the fee instead of making an output that costs more to spend
// than it holds.
const DustLimit = 546

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

// BuildSend chooses outputs to spend, builds a transaction paying
// req.Amount to req.To with any change to req.Change, and signs every input.
//
// Selection first looks for a set of outputs that pays amount and fee with
// no change, wasting at most what a change output would cost to create and
// later spend (a simplified form of Bitcoin Core's branch and bound); failing
// that it spends the largest outputs first and returns the rest as change.
// Inputs and outputs are sorted as BIP69 does, so their order reveals nothing
// of which output is the change.
func BuildSend(req *SendRequest) (*Send, error) {
	if req.Amount == 0 {
		return nil, fmt.Errorf("%w: the amount must be more than zero", ErrInvalidAmount)
	}
	if req.Amount > chain.MaxMoney {
		return nil, fmt.Errorf("%w: %s QRY is more than can ever exist", ErrInvalidAmount, FormatAmount(req.Amount))
	}
	if req.Keys == nil {
		return nil, errors.New("no KeySource to sign with")
	}
	if req.FeeRate > maxFeeRate {
		return nil, fmt.Errorf("%w: %d base units per byte is over the %d limit", ErrInvalidFeeRate, req.FeeRate, maxFeeRate)
	}
	spendable, pending, err := spendableUTXOs(req)
	if err != nil {
		return nil, err
	}
	selected, withChange := selectCoins(spendable, req.Amount, req.FeeRate)
	if selected == nil {
		var have uint64
		for _, u := range spendable {
			have += u.Value
		}
		need := req.Amount + req.FeeRate*txSize(len(spendable), 1)
		if have >= need {
			// Only the transaction's size can stop a selection that the
			// total value allows.
			return nil, fmt.Errorf("%w: paying %s QRY needs more inputs than fit in a block; consolidate small outputs first",
				ErrTooManyInputs, FormatAmount(req.Amount))
		}
		return nil, &InsufficientFundsError{Need: need, Have: have, Pending: pending}
	}
	keys := make([]*secp256k1.PrivateKey, len(selected))
	for i, u := range selected {
		k, ok := req.Keys.PrivateKey(u.PubKeyHash)
		if !ok {
			return nil, fmt.Errorf("%w %s paying to key hash %x", ErrMissingKey, u.OutPoint, u.PubKeyHash)
		}
		keys[i] = k
	}
	return finish(req, selected, keys, withChange)
}

// spendableUTXOs filters the outputs BuildSend may spend and sorts them
// largest first. pending sums the wallet's outputs it may not spend now.
func spendableUTXOs(req *SendRequest) (spendable []UTXO, pending uint64, err error) {
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
		switch {
		case req.Exclude[u.OutPoint], u.Confirmations < req.MinConfirmations, !mature,
			u.Value <= req.FeeRate*maxInputSize:
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
func selectCoins(utxos []UTXO, amount, rate uint64) ([]UTXO, bool) {
	if sel := branchAndBound(utxos, amount, rate); sel != nil {
		return sel, false
	}
	return largestFirst(utxos, amount, rate)
}

// branchAndBound searches, largest outputs first, for a set whose value
// after the cost of its inputs pays amount and a changeless transaction's
// other bytes, with an excess (which becomes fee) below what a change output
// would cost to make and spend. Of the sets found within maxBnBTries it keeps
// the one wasting least.
func branchAndBound(utxos []UTXO, amount, rate uint64) []UTXO {
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
	target := amount + rate*txSize(0, 1)
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
func largestFirst(utxos []UTXO, amount, rate uint64) ([]UTXO, bool) {
	var sum uint64
	for n := 1; n <= len(utxos); n++ {
		sum += utxos[n-1].Value
		if txSize(n, 2) > chain.MaxTxSize {
			return nil, false
		}
		if sum < amount+rate*txSize(n, 1) {
			continue
		}
		feeWithChange := rate * txSize(n, 2)
		withChange := sum >= amount+feeWithChange && sum-amount-feeWithChange >= dustThreshold(rate)
		return utxos[:n], withChange
	}
	return nil, false
}

// finish builds and signs the transaction, then settles the fee on the signed
// size: signatures vary in length, so the fee estimated with the longest ones
// is lowered to the exact amount once, and raised again should a re-signing
// come out longer, so that the fee always covers rate times the real size.
func finish(req *SendRequest, spent []UTXO, keys []*secp256k1.PrivateKey, withChange bool) (*Send, error) {
	var total uint64
	for _, u := range spent {
		total += u.Value
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

	outputs := 1
	if withChange {
		outputs = 2
	}
	fee := req.FeeRate * txSize(len(spent), outputs)
	lowered := false
	for {
		change := uint64(0)
		if withChange {
			change = total - req.Amount - fee
			if change < dustThreshold(req.FeeRate) {
				withChange, change = false, 0
			}
		}
		if !withChange {
			fee = total - req.Amount
		}
		changeIndex := setOutputs(tx, req, change)
		hasher := chain.NewSigHasher(tx, spentOuts)
		for i := range sorted {
			chain.SignInput(tx, hasher, i, sortedKeys[i])
		}
		need := req.FeeRate * uint64(tx.SerializeSize())
		if fee < need {
			if !withChange {
				// Selection counted every input at the longest signature,
				// so this is a bug; refuse rather than underpay.
				return nil, fmt.Errorf("the inputs leave a fee of %d, under the %d the signed size needs", fee, need)
			}
			fee = need
			continue
		}
		if fee > need && withChange && !lowered {
			lowered = true
			fee = need
			continue
		}
		return &Send{Tx: tx, Fee: fee, Change: change, ChangeIndex: changeIndex, Spent: sorted}, nil
	}
}

// setOutputs sets tx's outputs, sorted as BIP69 does (by value, then key
// hash), and returns the change output's index or -1.
func setOutputs(tx *chain.Tx, req *SendRequest, change uint64) int {
	tx.Outputs = append(tx.Outputs[:0], chain.TxOut{Value: req.Amount, PubKeyHash: req.To})
	if change == 0 {
		return -1
	}
	changeOut := chain.TxOut{Value: change, PubKeyHash: req.Change}
	if compareOutputs(changeOut, tx.Outputs[0]) < 0 {
		tx.Outputs = append([]chain.TxOut{changeOut}, tx.Outputs[0])
		return 0
	}
	tx.Outputs = append(tx.Outputs, changeOut)
	return 1
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
