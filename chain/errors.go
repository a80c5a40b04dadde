package chain

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
	ErrBadFees             = ErrorKind("ErrBadFees")
	ErrBadCoinbaseValue    = ErrorKind("ErrBadCoinbaseValue")
	ErrBadSignature        = ErrorKind("ErrBadSignature")
	ErrPubKeyHashMismatch  = ErrorKind("ErrPubKeyHashMismatch")
	ErrInvalidAncestor     = ErrorKind("ErrInvalidAncestor")
	ErrKnownInvalid        = ErrorKind("ErrKnownInvalid")
	ErrDuplicateBlock      = ErrorKind("ErrDuplicateBlock")
	ErrBadPrevBlock        = ErrorKind("ErrBadPrevBlock")
)

// RuleError is a failure of one rule: Kind says which, Description says how.
type RuleError struct {
	Kind        ErrorKind
	Description string
}

func (e *RuleError) Error() string { return e.Description }

// Unwrap lets errors.Is match the Kind.
func (e *RuleError) Unwrap() error { return e.Kind }

func ruleError(kind ErrorKind, desc string) *RuleError {
	return &RuleError{Kind: kind, Description: desc}
}
