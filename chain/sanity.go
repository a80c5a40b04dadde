package chain

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/quarrychain/quarry/pow"
)

// Witness shapes.
const (
	// CompressedPubKeySize is the size of the key in a spending witness.
	CompressedPubKeySize = 33
	// MaxSignatureSize is the longest strict DER signature over secp256k1.
	MaxSignatureSize = 72
)

// CheckBlockSanity applies the rules a block must follow whatever chain it
// extends, cheapest first so that junk costs little: proof of work against its
// own bits, shape and size, every transaction's sanity, the merkle root, and
// unique txids. It returns the txids, in block order, so the caller hashes
// each transaction once: connecting the block needs them too.
//
// The transactions of a large block are checked and hashed on all cores;
// the error returned is the one a check in block order meets first.
func CheckBlockSanity(b *Block, params *Params) ([]Hash, error) {
	if err := CheckProofOfWork(&b.Header, params); err != nil {
		return nil, err
	}
	if len(b.Txs) == 0 {
		return nil, NewRuleError(ErrNoTransactions, "block has no transactions")
	}
	if size := b.SerializeSize(); size > MaxBlockSize {
		return nil, NewRuleError(ErrBlockTooBig, fmt.Sprintf("block of %d bytes is over the %d-byte limit", size, MaxBlockSize))
	}
	if !b.Txs[0].IsCoinbase() {
		return nil, NewRuleError(ErrFirstTxNotCoinbase, "first transaction is not a coinbase")
	}
	for i, tx := range b.Txs[1:] {
		if tx.IsCoinbase() {
			return nil, NewRuleError(ErrMultipleCoinbases, fmt.Sprintf("transaction %d is a second coinbase", i+1))
		}
	}
	txids := make([]Hash, len(b.Txs))
	leaves := make([]Hash, len(b.Txs))
	if err := checkTxsSanity(b.Txs, txids, leaves); err != nil {
		return nil, err
	}
	if root := MerkleRoot(leaves); root != b.Header.MerkleRoot {
		return nil, NewRuleError(ErrBadMerkleRoot, fmt.Sprintf("merkle root is %s, header says %s", root, b.Header.MerkleRoot))
	}
	seen := make(map[Hash]struct{}, len(b.Txs))
	for _, id := range txids {
		if _, dup := seen[id]; dup {
			return nil, NewRuleError(ErrDuplicateTx, fmt.Sprintf("transaction %s appears twice", id))
		}
		seen[id] = struct{}{}
	}
	return txids, nil
}

// parallelSanityTxs is the block size from which checkTxsSanity spreads the
// work over the cores: below it, starting goroutines costs more than it saves.
const parallelSanityTxs = 256

// checkTxsSanity checks every transaction's sanity and fills in its txid and
// witness hash, in chunks on all cores for a large block, and returns the
// failure of the first failing transaction in block order.
func checkTxsSanity(txs []*Tx, txids, leaves []Hash) error {
	check := func(from, to int) error {
		for i := from; i < to; i++ {
			if err := CheckTxSanity(txs[i]); err != nil {
				return fmt.Errorf("transaction %d: %w", i, err)
			}
			txids[i], leaves[i] = txs[i].TxID(), txs[i].WitnessHash()
		}
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), len(txs)/parallelSanityTxs)
	if workers < 2 {
		return check(0, len(txs))
	}
	// Chunks in block order: each worker stops at its chunk's first failure,
	// and the first chunk that failed holds the first failing transaction.
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = check(w*len(txs)/workers, (w+1)*len(txs)/workers) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// CheckProofOfWork checks that the header's bits are a valid target within the
// network's limit and that its hash meets that target.
func CheckProofOfWork(h *Header, params *Params) error {
	hash := h.Hash()
	err := pow.CheckProofOfWork((*[32]byte)(&hash), h.Bits, params.PowLimit)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pow.ErrHashAboveTarget):
		return NewRuleError(ErrHighHash, fmt.Sprintf("block hash %s is above the target of bits %#08x", hash, h.Bits))
	default:
		return NewRuleError(ErrBadBits, err.Error())
	}
}

// CheckTxSanity applies the rules a transaction must follow wherever it appears.
func CheckTxSanity(tx *Tx) error {
	if len(tx.Inputs) == 0 {
		return NewRuleError(ErrNoTxInputs, "transaction has no inputs")
	}
	if len(tx.Outputs) == 0 {
		return NewRuleError(ErrNoTxOutputs, "transaction has no outputs")
	}
	if size := tx.SerializeSize(); size > MaxTxSize {
		return NewRuleError(ErrTxTooBig, fmt.Sprintf("transaction of %d bytes is over the %d-byte limit", size, MaxTxSize))
	}
	var total uint64
	for i, out := range tx.Outputs {
		if out.Value > MaxMoney {
			return NewRuleError(ErrBadTxOutValue, fmt.Sprintf("output %d value %d is over the %d maximum", i, out.Value, uint64(MaxMoney)))
		}
		// Both terms are at most MaxMoney, so the sum cannot wrap before this check.
		total += out.Value
		if total > MaxMoney {
			return NewRuleError(ErrBadTxOutValue, fmt.Sprintf("outputs total %d, over the %d maximum", total, uint64(MaxMoney)))
		}
	}
	seen := make(map[OutPoint]struct{}, len(tx.Inputs))
	for _, in := range tx.Inputs {
		if _, dup := seen[in.PrevOut]; dup {
			return NewRuleError(ErrDuplicateTxInputs, fmt.Sprintf("outpoint %s is spent twice", in.PrevOut))
		}
		seen[in.PrevOut] = struct{}{}
	}
	if tx.IsCoinbase() {
		return checkCoinbaseWitness(tx.Inputs[0].Witness)
	}
	for i := range tx.Inputs {
		if tx.Inputs[i].PrevOut == NullOutPoint {
			return NewRuleError(ErrNullPrevOut, fmt.Sprintf("input %d spends the null outpoint", i))
		}
		if err := CheckSpendWitness(tx.Inputs[i].Witness); err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
	}
	return nil
}

func checkCoinbaseWitness(w [][]byte) error {
	if len(w) != 1 {
		return NewRuleError(ErrBadCoinbaseWitness, fmt.Sprintf("coinbase witness has %d items, want 1", len(w)))
	}
	if n := len(w[0]); n < MinCoinbaseDataLen || n > MaxCoinbaseDataLen {
		return NewRuleError(ErrBadCoinbaseDataLen, fmt.Sprintf("coinbase data is %d bytes, want %d to %d", n, MinCoinbaseDataLen, MaxCoinbaseDataLen))
	}
	return nil
}

// CheckSpendWitness checks the shape of a spending witness: a compressed public
// key and a strict DER signature with a low S, so that nobody but the signer can
// produce a second valid encoding of the same spend.
func CheckSpendWitness(w [][]byte) error {
	if len(w) != 2 {
		return NewRuleError(ErrBadWitness, fmt.Sprintf("witness has %d items, want a public key and a signature", len(w)))
	}
	pub, sig := w[0], w[1]
	if len(pub) != CompressedPubKeySize || (pub[0] != secp256k1.PubKeyFormatCompressedEven && pub[0] != secp256k1.PubKeyFormatCompressedOdd) {
		return NewRuleError(ErrBadPubKey, fmt.Sprintf("public key is not a %d-byte compressed key", CompressedPubKeySize))
	}
	if len(sig) > MaxSignatureSize {
		return NewRuleError(ErrBadSignatureEncode, fmt.Sprintf("signature of %d bytes is over %d", len(sig), MaxSignatureSize))
	}
	parsed, err := ecdsa.ParseDERSignature(sig)
	if err != nil {
		return NewRuleError(ErrBadSignatureEncode, fmt.Sprintf("signature: %v", err))
	}
	if s := parsed.S(); s.IsOverHalfOrder() {
		return NewRuleError(ErrHighS, "signature S is above half the group order")
	}
	return nil
}
