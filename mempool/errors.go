package mempool

import (
	"errors"
	"fmt"

	"github.com/quarrychain/quarry/chain"
)

// RPC error codes of rejections, Bitcoin Core's (src/rpc/protocol.h), so that
// sendrawtransaction can hand them on unchanged.
const (
	// CodeMissingInputs (RPC_VERIFY_ERROR) is what Core's sendrawtransaction
	// reports for a transaction whose inputs are missing or spent.
	CodeMissingInputs = -25
	// CodeRejected (RPC_VERIFY_REJECTED) is every other rule or policy failure.
	CodeRejected = -26
	// CodeAlreadyKnown (RPC_VERIFY_ALREADY_IN_CHAIN) is a transaction the node
	// already has, confirmed or in the mempool.
	CodeAlreadyKnown = -27
)

// Reject reasons, the strings Bitcoin Core puts in testmempoolaccept's
// reject-reason and at the head of sendrawtransaction's error message.
const (
	ReasonAlreadyInChain        = "txn-already-known"
	ReasonAlreadyInMempool      = "txn-already-in-mempool"
	ReasonSameNonWitness        = "txn-same-nonwitness-data-in-mempool"
	ReasonMissingInputs         = "bad-txns-inputs-missingorspent"
	ReasonCoinbase              = "coinbase"
	ReasonTxSize                = "tx-size"
	ReasonNonFinal              = "non-final"
	ReasonPrematureSpend        = "bad-txns-premature-spend-of-coinbase"
	ReasonInBelowOut            = "bad-txns-in-belowout"
	ReasonInputValuesOutOfRange = "bad-txns-inputvalues-outofrange"
	ReasonMinRelayFee           = "min relay fee not met"
	ReasonMempoolMinFee         = "mempool min fee not met"
	ReasonMempoolFull           = "mempool full"
	ReasonTooLongChain          = "too-long-mempool-chain"
	ReasonMempoolConflict       = "txn-mempool-conflict"
	ReasonMaxFeeExceeded        = "max-fee-exceeded"
	ReasonInsufficientFee       = "insufficient fee"
	ReasonTooManyReplacements   = "too many potential replacements"
	ReasonSpendsConflicting     = "bad-txns-spends-conflicting-tx"
	ReasonAddsUnconfirmed       = "replacement-adds-unconfirmed"
	// ReasonScriptFailed heads every signature failure, as Core's script
	// verification failures do.
	ReasonScriptFailed = "mandatory-script-verify-flag-failed"
)

// TestAcceptMissingInputs is the reject-reason testmempoolaccept shows for a
// ReasonMissingInputs rejection: Core reports missing inputs there under this
// shorter name.
const TestAcceptMissingInputs = "missing-inputs"

// RejectError says why the mempool refused a transaction: Code and Reason as
// Bitcoin Core reports them, and Err with the details. Err wraps a
// *chain.RuleError when a consensus rule failed.
type RejectError struct {
	Code   int
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
	return &RejectError{Code: CodeRejected, Reason: reason, Err: fmt.Errorf(format, args...)}
}

// IsConsensusFailure reports whether err shows that a transaction breaks a
// consensus rule, so the peer that relayed it misbehaved and may be penalised.
// Policy failures (fees, limits, conflicts) and failures that may pass later
// (missing or immature inputs, lock times) are not: an honest peer can send them.
func IsConsensusFailure(err error) bool {
	var re *chain.RuleError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Kind {
	case chain.ErrMissingTxOut, chain.ErrImmatureSpend, chain.ErrUnfinalizedTx:
		return false
	}
	return true
}

// IsMissingInputs reports whether err is a rejection for inputs that are
// neither in the chain's UTXO set nor created by a mempool transaction.
func IsMissingInputs(err error) bool {
	var re *RejectError
	return errors.As(err, &re) && re.Reason == ReasonMissingInputs
}

// ruleReject turns a chain rule failure into the rejection Core reports for the
// same rule.
func ruleReject(err error) *RejectError {
	var re *chain.RuleError
	if !errors.As(err, &re) {
		return &RejectError{Code: CodeRejected, Reason: "bad-txns", Err: err}
	}
	reason := ""
	switch re.Kind {
	case chain.ErrNoTxInputs:
		reason = "bad-txns-vin-empty"
	case chain.ErrNoTxOutputs:
		reason = "bad-txns-vout-empty"
	case chain.ErrTxTooBig:
		reason = "bad-txns-oversize"
	case chain.ErrBadTxOutValue:
		reason = "bad-txns-vout-toolarge"
	case chain.ErrDuplicateTxInputs:
		reason = "bad-txns-inputs-duplicate"
	case chain.ErrNullPrevOut:
		reason = "bad-txns-prevout-null"
	case chain.ErrBadCoinbaseDataLen, chain.ErrBadCoinbaseWitness:
		reason = "bad-cb-length"
	case chain.ErrMissingTxOut:
		return &RejectError{Code: CodeMissingInputs, Reason: ReasonMissingInputs, Err: err}
	case chain.ErrImmatureSpend:
		reason = ReasonPrematureSpend
	case chain.ErrSpendTooHigh:
		reason = ReasonInBelowOut
	case chain.ErrUnfinalizedTx:
		reason = ReasonNonFinal
	default:
		// Witness shape, keys and signatures: what Core's script checks catch.
		return &RejectError{Code: CodeRejected, Reason: ReasonScriptFailed + " (" + scriptFailure(re.Kind) + ")", Err: err}
	}
	return &RejectError{Code: CodeRejected, Reason: reason, Err: err}
}

func scriptFailure(kind chain.ErrorKind) string {
	switch kind {
	case chain.ErrBadSignature:
		return "signature does not verify"
	case chain.ErrPubKeyHashMismatch:
		return "public key does not match the spent output"
	case chain.ErrBadWitness:
		return "witness is not a public key and a signature"
	case chain.ErrBadPubKey:
		return "public key is not compressed"
	case chain.ErrBadSignatureEncode:
		return "non-canonical DER signature"
	case chain.ErrHighS:
		return "non-canonical signature: S value is unnecessarily high"
	}
	return string(kind)
}
