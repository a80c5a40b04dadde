package chain

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Amounts.
const (
	// Coin is the number of base units in one QRY.
	Coin = 100_000_000
	// MaxMoney is the most base units that can ever exist, and the bound on every
	// output and every sum of outputs.
	MaxMoney = 21_000_000 * Coin
)

// PubKeyHashSize is the length of RIPEMD-160(SHA-256(compressed key)).
const PubKeyHashSize = 20

// OutPoint names one output of an earlier transaction.
type OutPoint struct {
	TxID  Hash
	Index uint32
}

// NullOutPoint is what a coinbase input spends.
var NullOutPoint = OutPoint{Index: math.MaxUint32}

// String is txid:index, as Bitcoin prints outpoints.
func (o OutPoint) String() string { return fmt.Sprintf("%s:%d", o.TxID, o.Index) }

// TxIn spends an output. Witness holds the unlocking data: for a spend, the
// compressed public key and the signature; for a coinbase, one item of coinbase data.
type TxIn struct {
	PrevOut OutPoint
	Witness [][]byte
}

// TxOut pays Value base units to the owner of the key whose hash is PubKeyHash.
type TxOut struct {
	Value      uint64
	PubKeyHash [PubKeyHashSize]byte
}

// Tx is a transaction.
type Tx struct {
	Version  uint32
	Inputs   []TxIn
	Outputs  []TxOut
	LockTime uint32
}

// IsCoinbase reports whether tx has the coinbase shape: one input spending the
// null outpoint.
func (tx *Tx) IsCoinbase() bool {
	return len(tx.Inputs) == 1 && tx.Inputs[0].PrevOut == NullOutPoint
}

// AppendEncoding appends the consensus encoding of tx, with or without witnesses.
func (tx *Tx) AppendEncoding(dst []byte, withWitness bool) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, tx.Version)
	dst = AppendCompactSize(dst, uint64(len(tx.Inputs)))
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		dst = append(dst, in.PrevOut.TxID[:]...)
		dst = binary.LittleEndian.AppendUint32(dst, in.PrevOut.Index)
		if withWitness {
			dst = AppendCompactSize(dst, uint64(len(in.Witness)))
			for _, item := range in.Witness {
				dst = AppendCompactSize(dst, uint64(len(item)))
				dst = append(dst, item...)
			}
		}
	}
	dst = AppendCompactSize(dst, uint64(len(tx.Outputs)))
	for i := range tx.Outputs {
		dst = binary.LittleEndian.AppendUint64(dst, tx.Outputs[i].Value)
		dst = append(dst, tx.Outputs[i].PubKeyHash[:]...)
	}
	return binary.LittleEndian.AppendUint32(dst, tx.LockTime)
}

// Encode returns the whole encoding of tx, witnesses included.
func (tx *Tx) Encode() []byte { return tx.AppendEncoding(make([]byte, 0, tx.SerializeSize()), true) }

// SerializeSize is the length of Encode's result.
func (tx *Tx) SerializeSize() int {
	n := 4 + CompactSizeLen(uint64(len(tx.Inputs))) + CompactSizeLen(uint64(len(tx.Outputs))) + 4
	for i := range tx.Inputs {
		n += HashSize + 4 + CompactSizeLen(uint64(len(tx.Inputs[i].Witness)))
		for _, item := range tx.Inputs[i].Witness {
			n += CompactSizeLen(uint64(len(item))) + len(item)
		}
	}
	return n + len(tx.Outputs)*minTxOutSize
}

// TxID is SHA-256d of the transaction without witnesses: it names the transaction
// in outpoints and indexes, and no re-encoding of a signature can change it.
func (tx *Tx) TxID() Hash { return hashEncoding(tx, false) }

// WitnessHash is SHA-256d of the whole transaction; the merkle root commits to it.
func (tx *Tx) WitnessHash() Hash { return hashEncoding(tx, true) }

func hashEncoding(tx *Tx, withWitness bool) Hash {
	var stack [512]byte
	return DoubleSHA256(tx.AppendEncoding(stack[:0], withWitness))
}

// DecodeTx reads exactly one encoded transaction.
func DecodeTx(b []byte) (*Tx, error) {
	if len(b) > MaxTxSize {
		return nil, NewRuleError(ErrTooLarge, fmt.Sprintf("transaction of %d bytes is over the %d-byte limit", len(b), MaxTxSize))
	}
	// Witness items alias one private copy, so the caller may reuse b.
	r := reader{buf: bytes.Clone(b)}
	tx := r.tx()
	if err := r.finish("transaction"); err != nil {
		return nil, err
	}
	return tx, nil
}

func (r *reader) tx() *Tx {
	tx := &Tx{Version: r.uint32("tx version")}
	if n := r.count("input count", minTxInSize); n > 0 {
		tx.Inputs = make([]TxIn, n)
		for i := range tx.Inputs {
			in := &tx.Inputs[i]
			in.PrevOut.TxID = r.hash("outpoint txid")
			in.PrevOut.Index = r.uint32("outpoint index")
			if items := r.count("witness item count", 1); items > 0 {
				in.Witness = make([][]byte, items)
				for j := range in.Witness {
					size := r.count("witness item size", 1)
					in.Witness[j] = r.next(size, "witness item")
				}
			}
		}
	}
	if n := r.count("output count", minTxOutSize); n > 0 {
		tx.Outputs = make([]TxOut, n)
		for i := range tx.Outputs {
			tx.Outputs[i].Value = r.uint64("output value")
			copy(tx.Outputs[i].PubKeyHash[:], r.next(PubKeyHashSize, "output key hash"))
		}
	}
	tx.LockTime = r.uint32("lock time")
	if r.err != nil {
		return nil
	}
	return tx
}

// TotalOut sums the outputs, reporting false if the sum overflows.
func (tx *Tx) TotalOut() (uint64, bool) {
	var total uint64
	for i := range tx.Outputs {
		next := total + tx.Outputs[i].Value
		if next < total {
			return 0, false
		}
		total = next
	}
	return total, true
}
