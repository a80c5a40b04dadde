package chain

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrorKind identifies one consensus rule or decoding failure. It is an error
// itself so that errors.Is(err, ErrBadMerkleRoot) works on any wrapped *RuleError.
type ErrorKind string

func (k ErrorKind) Error() string { return string(k) }

// Decoding failures.
const (
	ErrShortRead         = ErrorKind("ErrShortRead")
	ErrTrailingBytes     = ErrorKind("ErrTrailingBytes")
	ErrNonCanonicalCount = ErrorKind("ErrNonCanonicalCount")
	ErrCountTooLarge     = ErrorKind("ErrCountTooLarge")
	ErrTooLarge          = ErrorKind("ErrTooLarge")
)

// Context-free block rules.
const (
	ErrNoTransactions     = ErrorKind("ErrNoTransactions")
	ErrBlockTooBig        = ErrorKind("ErrBlockTooBig")
	ErrFirstTxNotCoinbase = ErrorKind("ErrFirstTxNotCoinbase")
	ErrMultipleCoinbases  = ErrorKind("ErrMultipleCoinbases")
	ErrBadMerkleRoot      = ErrorKind("ErrBadMerkleRoot")
	ErrDuplicateTx        = ErrorKind("ErrDuplicateTx")
	ErrBadBits            = ErrorKind("ErrBadBits")
	ErrHighHash           = ErrorKind("ErrHighHash")
)

// Context-free transaction rules.
const (
	ErrNoTxInputs         = ErrorKind("ErrNoTxInputs")
	ErrNoTxOutputs        = ErrorKind("ErrNoTxOutputs")
	ErrTxTooBig           = ErrorKind("ErrTxTooBig")
	ErrBadTxOutValue      = ErrorKind("ErrBadTxOutValue")
	ErrDuplicateTxInputs  = ErrorKind("ErrDuplicateTxInputs")
	ErrBadCoinbaseDataLen = ErrorKind("ErrBadCoinbaseDataLen")
	ErrNullPrevOut        = ErrorKind("ErrNullPrevOut")
	ErrBadWitness         = ErrorKind("ErrBadWitness")
	ErrBadPubKey          = ErrorKind("ErrBadPubKey")
	ErrBadSignatureEncode = ErrorKind("ErrBadSignatureEncoding")
	ErrHighS              = ErrorKind("ErrHighS")
	ErrBadCoinbaseWitness = ErrorKind("ErrBadCoinbaseWitness")
)

// Contextual rules, applied against the chain a block extends.
const (
	ErrBadDifficulty       = ErrorKind("ErrBadDifficulty")
	ErrTimeTooOld          = ErrorKind("ErrTimeTooOld")
	ErrTimeTooNew          = ErrorKind("ErrTimeTooNew")
	ErrTimeWarp            = ErrorKind("ErrTimeWarp")
	ErrBadCoinbaseHeight   = ErrorKind("ErrBadCoinbaseHeight")
	ErrBadCoinbaseLockTime = ErrorKind("ErrBadCoinbaseLockTime")
	ErrUnfinalizedTx       = ErrorKind("ErrUnfinalizedTx")
	ErrMissingTxOut        = ErrorKind("ErrMissingTxOut")
	ErrImmatureSpend       = ErrorKind("ErrImmatureSpend")
	ErrSpendTooHigh        = ErrorKind("ErrSpendTooHigh")
	ErrInputValuesTooHigh  = ErrorKind("ErrInputValuesTooHigh")
	ErrBadFees             = ErrorKind("ErrBadFees")
	ErrBadCoinbaseValue    = ErrorKind("ErrBadCoinbaseValue")
	ErrBadSignature        = ErrorKind("ErrBadSignature")
	ErrPubKeyHashMismatch  = ErrorKind("ErrPubKeyHashMismatch")
	ErrInvalidAncestor     = ErrorKind("ErrInvalidAncestor")
	ErrKnownInvalid        = ErrorKind("ErrKnownInvalid")
	ErrDuplicateBlock      = ErrorKind("ErrDuplicateBlock")
	ErrBadPrevBlock        = ErrorKind("ErrBadPrevBlock")
)

// Fault says whose doing a rule failure is, which decides what a node does
// to the peer that sent the failing block, header or transaction.
type Fault uint8

const (
	// FaultSender: the data breaks the rule whatever the time and whoever
	// checks it. An honest peer validates before relaying, so the sender is
	// to blame and may be penalised.
	FaultSender Fault = iota + 1
	// FaultTime: the data may pass later: it is dated ahead of the
	// receiver's clock, or spends outputs the receiver has not seen or that
	// are not mature or final yet, which the sender's chain may already
	// have. Not the sender's fault.
	FaultTime
	// FaultPolicy: nothing is wrong with the data; the receiver refuses it
	// for its own reasons (it has it already). Not the sender's fault.
	FaultPolicy
)

func (f Fault) String() string {
	switch f {
	case FaultSender:
		return "sender"
	case FaultTime:
		return "time"
	case FaultPolicy:
		return "policy"
	}
	return fmt.Sprintf("Fault(%d)", uint8(f))
}

// Rule is what the node tells about a failure of one kind.
type Rule struct {
	// Reason is Bitcoin Core's reject reason for the same failure: what
	// submitblock answers (BIP22) and testmempoolaccept and
	// sendrawtransaction report, so that software written against Core
	// understands it.
	Reason string
	// Fault is whose doing the failure is for a loose transaction or a
	// header; InBlock is the same for a whole block, which differs where a
	// block fixes what a loose transaction waits for: its parent fixes the
	// outputs it may spend, its height and time the maturity and lock times
	// it is checked against, so no later moment makes it valid.
	Fault, InBlock Fault
}

// DecodingFailed is the reason of every decoding failure. RPC callers never
// see it as a reject reason: bytes that do not decode are a deserialisation
// error there, before any rule.
const DecodingFailed = "decode-failed"

// scriptFailed heads Core's reason for every failure its script
// interpreter catches, followed by the script error in parentheses.
const scriptFailed = "mandatory-script-verify-flag-failed"

// rules is the one table of rule failures: every ErrorKind has its row here
// (TestEveryKindHasARule walks the declarations above), and every user reads
// it: the mempool's and the RPC's reject reasons, and p2p's and the node's
// decision to penalise a peer.
var rules = map[ErrorKind]Rule{
	// Decoding: Core refuses to decode before it checks any rule and names
	// no reason; this one is Quarry's (DecodingFailed).
	ErrShortRead:         {DecodingFailed, FaultSender, FaultSender},
	ErrTrailingBytes:     {DecodingFailed, FaultSender, FaultSender},
	ErrNonCanonicalCount: {DecodingFailed, FaultSender, FaultSender},
	ErrCountTooLarge:     {DecodingFailed, FaultSender, FaultSender},
	ErrTooLarge:          {DecodingFailed, FaultSender, FaultSender},

	ErrNoTransactions:     {"bad-blk-length", FaultSender, FaultSender},
	ErrBlockTooBig:        {"bad-blk-length", FaultSender, FaultSender},
	ErrFirstTxNotCoinbase: {"bad-cb-missing", FaultSender, FaultSender},
	ErrMultipleCoinbases:  {"bad-cb-multiple", FaultSender, FaultSender},
	ErrBadMerkleRoot:      {"bad-txnmrklroot", FaultSender, FaultSender},
	ErrDuplicateTx:        {"bad-txns-duplicate", FaultSender, FaultSender},
	ErrBadBits:            {"high-hash", FaultSender, FaultSender}, // Core's proof-of-work check fails alike for bad bits
	ErrHighHash:           {"high-hash", FaultSender, FaultSender},

	ErrNoTxInputs:         {"bad-txns-vin-empty", FaultSender, FaultSender},
	ErrNoTxOutputs:        {"bad-txns-vout-empty", FaultSender, FaultSender},
	ErrTxTooBig:           {"bad-txns-oversize", FaultSender, FaultSender},
	ErrBadTxOutValue:      {"bad-txns-vout-toolarge", FaultSender, FaultSender},
	ErrDuplicateTxInputs:  {"bad-txns-inputs-duplicate", FaultSender, FaultSender},
	ErrBadCoinbaseDataLen: {"bad-cb-length", FaultSender, FaultSender},
	ErrNullPrevOut:        {"bad-txns-prevout-null", FaultSender, FaultSender},
	ErrBadWitness:         {scriptFailed + " (Witness program hash mismatch)", FaultSender, FaultSender},
	ErrBadPubKey:          {scriptFailed + " (Using non-compressed keys in segwit)", FaultSender, FaultSender},
	ErrBadSignatureEncode: {scriptFailed + " (Non-canonical DER signature)", FaultSender, FaultSender},
	ErrHighS:              {scriptFailed + " (Non-canonical signature: S value is unnecessarily high)", FaultSender, FaultSender},
	// Core's rule for the coinbase witness's shape (one item, the witness
	// nonce) is this one.
	ErrBadCoinbaseWitness: {"bad-witness-nonce-size", FaultSender, FaultSender},

	ErrBadDifficulty:       {"bad-diffbits", FaultSender, FaultSender},
	ErrTimeTooOld:          {"time-too-old", FaultSender, FaultSender},
	ErrTimeTooNew:          {"time-too-new", FaultTime, FaultTime},
	ErrTimeWarp:            {"time-timewarp-attack", FaultSender, FaultSender},
	ErrBadCoinbaseHeight:   {"bad-cb-height", FaultSender, FaultSender},
	ErrBadCoinbaseLockTime: {"bad-cb-locktime", FaultSender, FaultSender},
	ErrUnfinalizedTx:       {"bad-txns-nonfinal", FaultTime, FaultSender},
	ErrMissingTxOut:        {"bad-txns-inputs-missingorspent", FaultTime, FaultSender},
	ErrImmatureSpend:       {"bad-txns-premature-spend-of-coinbase", FaultTime, FaultSender},
	ErrSpendTooHigh:        {"bad-txns-in-belowout", FaultSender, FaultSender},
	ErrInputValuesTooHigh:  {"bad-txns-inputvalues-outofrange", FaultSender, FaultSender},
	ErrBadFees:             {"bad-txns-accumulated-fee-outofrange", FaultSender, FaultSender},
	ErrBadCoinbaseValue:    {"bad-cb-amount", FaultSender, FaultSender},
	ErrBadSignature:        {scriptFailed + " (Script evaluated without error but finished with a false/empty top stack element)", FaultSender, FaultSender},
	ErrPubKeyHashMismatch:  {scriptFailed + " (Script failed an OP_EQUALVERIFY operation)", FaultSender, FaultSender},
	ErrInvalidAncestor:     {"bad-prevblk", FaultSender, FaultSender},
	ErrKnownInvalid:        {"duplicate-invalid", FaultSender, FaultSender},
	ErrDuplicateBlock:      {"duplicate", FaultPolicy, FaultPolicy},
	// Only headers are refused for an unknown parent (a block waits as an
	// orphan), and a peer's headers answer our locator, so they must connect.
	ErrBadPrevBlock: {"prev-blk-not-found", FaultSender, FaultSender},
}

// Rule returns the kind's row of the rule table. A kind without one (a bug
// the table's test catches) reads as its own name, the sender's fault.
func (k ErrorKind) Rule() Rule {
	if r, ok := rules[k]; ok {
		return r
	}
	return Rule{Reason: string(k), Fault: FaultSender, InBlock: FaultSender}
}

// Kinds returns every kind of the rule table, sorted, for documentation and
// for tests that walk them all.
func Kinds() []ErrorKind {
	return slices.Sorted(maps.Keys(rules))
}

// Reason is Core's reject reason for the kind, Rule().Reason.
func (k ErrorKind) Reason() string { return k.Rule().Reason }

// TxFault returns whose doing err is for a loose transaction or a header, and
// false when err is no rule failure (a closed database, say), which is nobody's
// fault to penalise.
func TxFault(err error) (Fault, bool) {
	r, ok := brokenRule(err)
	return r.Fault, ok
}

// BlockFault is TxFault for a whole block.
func BlockFault(err error) (Fault, bool) {
	r, ok := brokenRule(err)
	return r.InBlock, ok
}

// brokenRule returns the row of the rule err broke, if it is a rule failure.
func brokenRule(err error) (Rule, bool) {
	var re *RuleError
	if !errors.As(err, &re) {
		return Rule{}, false
	}
	return re.Kind.Rule(), true
}

// RuleError is a failure of one rule: Kind says which, Description says how.
type RuleError struct {
	Kind        ErrorKind
	Description string
}

func (e *RuleError) Error() string { return e.Description }

// Unwrap lets errors.Is match the Kind.
func (e *RuleError) Unwrap() error { return e.Kind }

// NewRuleError returns the failure of the rule kind, desc saying what broke
// it; package blockchain reports the rules only the chain state can check
// (a known-invalid ancestor, the coinbase's claim on the block's fees) with it.
func NewRuleError(kind ErrorKind, desc string) *RuleError {
	return &RuleError{Kind: kind, Description: desc}
}
