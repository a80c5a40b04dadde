package chain

import (
	"bytes"
	"fmt"
)

// Block is a header and its transactions, the coinbase first.
type Block struct {
	Header Header
	Txs    []*Tx
}

// Hash is the block hash.
func (b *Block) Hash() Hash { return b.Header.Hash() }

// Encode returns the consensus encoding of the block.
func (b *Block) Encode() []byte {
	dst := make([]byte, 0, b.SerializeSize())
	h := b.Header.Encode()
	dst = append(dst, h[:]...)
	dst = AppendCompactSize(dst, uint64(len(b.Txs)))
	for _, tx := range b.Txs {
		dst = tx.AppendEncoding(dst, true)
	}
	return dst
}

// SerializeSize is the length of Encode's result.
func (b *Block) SerializeSize() int {
	n := HeaderSize + CompactSizeLen(uint64(len(b.Txs)))
	for _, tx := range b.Txs {
		n += tx.SerializeSize()
	}
	return n
}

// DecodeBlock reads exactly one encoded block.
func DecodeBlock(b []byte) (*Block, error) {
	if len(b) > MaxBlockSize {
		return nil, NewRuleError(ErrTooLarge, fmt.Sprintf("block of %d bytes is over the %d-byte limit", len(b), MaxBlockSize))
	}
	r := reader{buf: bytes.Clone(b)}
	blk := &Block{Header: r.header()}
	if n := r.count("transaction count", minTxSize); n > 0 {
		blk.Txs = make([]*Tx, n)
		for i := range blk.Txs {
			if blk.Txs[i] = r.tx(); r.err != nil {
				break
			}
		}
	}
	if err := r.finish("block"); err != nil {
		return nil, err
	}
	return blk, nil
}

// TxIDs returns the txid of every transaction, in block order.
func (b *Block) TxIDs() []Hash {
	ids := make([]Hash, len(b.Txs))
	for i, tx := range b.Txs {
		ids[i] = tx.TxID()
	}
	return ids
}

// WitnessHashes returns the whole-transaction hash of every transaction, the
// leaves of the merkle tree.
func (b *Block) WitnessHashes() []Hash {
	hashes := make([]Hash, len(b.Txs))
	for i, tx := range b.Txs {
		hashes[i] = tx.WitnessHash()
	}
	return hashes
}
