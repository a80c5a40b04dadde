package mempool

import (
	"errors"
	"fmt"

	"github.com/quarrychain/quarry/chain"
)

// Reject reasons of the mempool's own checks, the strings Bitcoin Core puts in
// testmempoolaccept's reject-reason and at the head of sendrawtransaction's
// error message. A transaction that breaks a consensus rule is rejected with
// the rule's reason from chain's table (chain.ErrorKind.Reason).
const (
	ReasonAlreadyInChain   = "txn-already-known"
	ReasonAlreadyInMempool = "txn-already-in-mempool"
	ReasonSameNonWitness   = "txn-same-nonwitness-data-in-mempool"
	ReasonCoinbase         = "coinbase"
	ReasonTxSize           = "tx-size"
	// ReasonNonFinal is Core's mempool reason for a lock time not yet
	// reached; in a block the same failure is chain.ErrUnfinalizedTx's.
	ReasonNonFinal            = "non-final"
	ReasonMinRelayFee         = "min relay fee not met"
	ReasonMempoolMinFee       = "mempool min fee not met"
	ReasonMempoolFull         = "mempool full"
	ReasonTooLongChain        = "too-long-mempool-chain"
	ReasonMempoolConflict     = "txn-mempool-conflict"
	ReasonMaxFeeExceeded      = "max-fee-exceeded"
	ReasonInsufficientFee     = "insufficient fee"
	ReasonTooManyReplacements = "too many potential replacements"
	ReasonSpendsConflicting   = "bad-txns-spends-conflicting-tx"
	ReasonAddsUnconfirmed     = "replacement-adds-unconfirmed"
)

// RejectError says why the mempool refused a transaction: Reason as Bitcoin
// Core reports it, and Err with the details. Err wraps a *chain.RuleError when
// a consensus rule failed, so chain.TxFault tells whether the peer that sent
// the transaction is to blame. The RPC layer chooses the error code.
type RejectError struct {
	Reason string
	Err    error
}

// Error is the reason followed by the details, as Core's sendrawtransaction
// message reads ("min relay fee not met, 100 < 141").
func (e *RejectError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ", " + e.Err.Error()
}

// Unwrap gives the details, so errors.Is(err, chain.ErrBadSignature) works.
func (e *RejectError) Unwrap() error { return e.Err }

func reject(reason string, format string, args ...any) *RejectError {
	return &RejectError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// IsMissingInputs reports whether err is a rejection for inputs that are
// neither in the chain's UTXO set nor created by a mempool transaction.
func IsMissingInputs(err error) bool {
	var re *RejectError
	return errors.As(err, &re) && errors.Is(re.Err, chain.ErrMissingTxOut)
}

// ruleReject turns a chain rule failure into the rejection Core reports for the
// same rule, with the reason of the rule's row in chain's table.
func ruleReject(err error) *RejectError {
	var re *chain.RuleError
	if !errors.As(err, &re) {
		return &RejectError{Reason: "bad-txns", Err: err}
	}
	return &RejectError{Reason: re.Kind.Reason(), Err: err}
}
