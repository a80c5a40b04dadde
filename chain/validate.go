package chain

import (
	"fmt"
	"time"

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

// ParentContext is what the header rules need of the block a header builds
// on; the chain state derives it from its index of headers.
type ParentContext struct {
	Height int32
	Time   uint32
	// MedianTimePast is the median time of the parent and up to ten of its
	// ancestors.
	MedianTimePast int64
	// NextBits is the difficulty the retarget rule sets for the parent's
	// children.
	NextBits uint32
}

// CheckHeaderContext applies the rules a header must follow given its
// parent: the difficulty the retarget rule sets, a time after the median of
// the last eleven blocks and not more than two hours ahead of now, and the
// time-warp guard at a retarget height.
func CheckHeaderContext(h *Header, parent ParentContext, now time.Time, params *Params) error {
	if h.Bits != parent.NextBits {
		return NewRuleError(ErrBadDifficulty, fmt.Sprintf("bits %#08x, want %#08x", h.Bits, parent.NextBits))
	}
	if int64(h.Time) <= parent.MedianTimePast {
		return NewRuleError(ErrTimeTooOld, fmt.Sprintf("time %d is not after the median time past %d", h.Time, parent.MedianTimePast))
	}
	if limit := now.Unix() + MaxFutureBlockTime; int64(h.Time) > limit {
		return NewRuleError(ErrTimeTooNew, fmt.Sprintf("time %d is more than two hours ahead of the clock (%d)", h.Time, now.Unix()))
	}
	if params.IsRetargetHeight(parent.Height+1) && int64(h.Time) < int64(parent.Time)-MaxTimeWarp {
		return NewRuleError(ErrTimeWarp, fmt.Sprintf("time %d opens a difficulty window more than two hours before its parent's %d", h.Time, parent.Time))
	}
	return nil
}

// CheckBlockContext applies to a block that passed CheckBlockSanity the rules
// that need its height and its parent's median time past but not the UTXO
// set: the coinbase commits to the height in its data and lock time, and
// every transaction is final.
func CheckBlockContext(b *Block, height int32, mtp int64) error {
	got, err := CoinbaseHeight(b.Txs[0])
	if err != nil {
		return err
	}
	if got != height {
		return NewRuleError(ErrBadCoinbaseHeight, fmt.Sprintf("coinbase says height %d, block is at %d", got, height))
	}
	if lt, want := b.Txs[0].LockTime, CoinbaseLockTime(height); lt != want {
		return NewRuleError(ErrBadCoinbaseLockTime, fmt.Sprintf("coinbase lock time %d, want %d", lt, want))
	}
	for _, tx := range b.Txs {
		if !IsFinalTx(tx, height, mtp) {
			return NewRuleError(ErrUnfinalizedTx, fmt.Sprintf("transaction %s is locked until %d", tx.TxID(), tx.LockTime))
		}
	}
	return nil
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
