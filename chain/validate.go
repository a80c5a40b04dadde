package chain

import (
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// UtxoEntry is an unspent output and what the rules need to know of it.
type UtxoEntry struct {
	Value      uint64
	PubKeyHash [PubKeyHashSize]byte
	// Height is the height of the block that created the output.
	Height   int32
	Coinbase bool
}

// UtxoView finds unspent outputs; nil means the output does not exist or is spent.
type UtxoView interface {
	LookupUtxo(op OutPoint) *UtxoEntry
}

// lockTimeThreshold separates lock times read as heights from unix times, as in Bitcoin.
const lockTimeThreshold = 500_000_000

// IsFinalTx reports whether tx may be included in a block at height whose median
// time past is mtp: a lock time of zero always is, otherwise it must be below the
// height or the time it names.
func IsFinalTx(tx *Tx, height int32, mtp int64) bool {
	switch {
	case tx.LockTime == 0:
		return true
	case tx.LockTime < lockTimeThreshold:
		return int64(tx.LockTime) < int64(height)
	default:
		return int64(tx.LockTime) < mtp
	}
}

// CheckTxInputs checks a non-coinbase transaction against the outputs it spends
// for a block at spendHeight: every input exists and is unspent, coinbase outputs
// have matured, the input sum neither overflows nor falls short of the outputs.
// It returns the fee and the spent outputs in input order.
func CheckTxInputs(tx *Tx, view UtxoView, spendHeight int32, params *Params) (uint64, []UtxoEntry, error) {
	prev := make([]UtxoEntry, len(tx.Inputs))
	var in uint64
	for i := range tx.Inputs {
		op := tx.Inputs[i].PrevOut
		entry := view.LookupUtxo(op)
		if entry == nil {
			return 0, nil, NewRuleError(ErrMissingTxOut, fmt.Sprintf("input %d spends %s, which is missing or spent", i, op))
		}
		if entry.Coinbase && spendHeight-entry.Height < params.CoinbaseMaturity {
			return 0, nil, NewRuleError(ErrImmatureSpend, fmt.Sprintf(
				"input %d spends coinbase output %s of height %d at height %d; coinbase outputs mature after %d blocks",
				i, op, entry.Height, spendHeight, params.CoinbaseMaturity))
		}
		if entry.Value > MaxMoney || in+entry.Value > MaxMoney {
			return 0, nil, NewRuleError(ErrInputValuesTooHigh, fmt.Sprintf("input values exceed %d", uint64(MaxMoney)))
		}
		in += entry.Value
		prev[i] = *entry
	}
	out, ok := tx.TotalOut()
	if !ok || out > MaxMoney {
		return 0, nil, NewRuleError(ErrBadTxOutValue, "output values exceed the money supply")
	}
	if in < out {
		return 0, nil, NewRuleError(ErrSpendTooHigh, fmt.Sprintf("inputs total %d, less than the %d the outputs pay", in, out))
	}
	return in - out, prev, nil
}

// VerifyTxSignatures checks that every input's key hashes to the key hash of the
// output it spends (prev[i] for input i) and that its signature over the input's
// sighash, which commits to every output in prev, verifies.
// Signatures found in cache are not verified again; verified ones are added.
func VerifyTxSignatures(tx *Tx, prev []UtxoEntry, cache *SigCache) error {
	if len(prev) != len(tx.Inputs) {
		return fmt.Errorf("%d spent outputs given for %d inputs", len(prev), len(tx.Inputs))
	}
	hasher := newSigHasher(tx, func(i int) (uint64, *[PubKeyHashSize]byte) {
		return prev[i].Value, &prev[i].PubKeyHash
	})
	for i := range tx.Inputs {
		w := tx.Inputs[i].Witness
		if len(w) != 2 {
			return NewRuleError(ErrBadWitness, fmt.Sprintf("input %d witness has %d items", i, len(w)))
		}
		pub, sig := w[0], w[1]
		if PubKeyHash(pub) != prev[i].PubKeyHash {
			return NewRuleError(ErrPubKeyHashMismatch, fmt.Sprintf("input %d key does not hash to the spent output's key hash", i))
		}
		msg := hasher.SigHash(i)
		key := sigCacheKey(&msg, pub, sig)
		if cache.contains(key) {
			continue
		}
		if err := verifySignature(&msg, pub, sig); err != nil {
			return NewRuleError(ErrBadSignature, fmt.Sprintf("input %d: %v", i, err))
		}
		cache.add(key)
	}
	return nil
}

func verifySignature(msg *Hash, pub, sig []byte) error {
	key, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	parsed, err := ecdsa.ParseDERSignature(sig)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if !parsed.Verify(msg[:], key) {
		return fmt.Errorf("signature does not verify")
	}
	return nil
}
