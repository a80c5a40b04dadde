package indexers

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// Address index records.
const (
	prefixAddrUtxo = 'a' // key hash, outpoint (txid, big-endian index) -> value, height
	prefixAddrTx   = 'x' // key hash, height (big-endian), txid -> value received (u64)
)

// AddrIndex keeps, per public key hash, its unspent outputs and the
// transactions that paid to or spent from it, as bitcore's address index. A
// nil *AddrIndex, or one not given to blockchain.Open, is the index turned
// off: its queries fail with a disabled *blockchain.IndexError.
type AddrIndex struct {
	r *blockchain.IndexReader
}

// NewAddrIndex returns the address index, for blockchain.Config.Indexers.
func NewAddrIndex() *AddrIndex { return &AddrIndex{} }

// Name implements blockchain.Indexer.
func (*AddrIndex) Name() string { return AddrIndexName }

var _ blockchain.Indexer = (*AddrIndex)(nil)

// KeyPrefixes implements blockchain.Indexer.
func (*AddrIndex) KeyPrefixes() []byte { return []byte{prefixAddrUtxo, prefixAddrTx} }

// Version implements blockchain.Indexer. Version 1 records with each
// transaction of a key hash what the transaction paid to it, so an
// address's total received is a sum over its history, needing neither the
// transactions nor the transaction index.
func (*AddrIndex) Version() uint32 { return 1 }

// Init implements blockchain.Indexer.
func (x *AddrIndex) Init(r *blockchain.IndexReader) { x.r = r }

func addrUtxoKey(pkh *[chain.PubKeyHashSize]byte, op chain.OutPoint) []byte {
	k := make([]byte, 0, 1+chain.PubKeyHashSize+chain.HashSize+4)
	k = append(append(append(k, prefixAddrUtxo), pkh[:]...), op.TxID[:]...)
	return binary.BigEndian.AppendUint32(k, op.Index)
}

func addrTxKey(pkh *[chain.PubKeyHashSize]byte, height int32, txid *chain.Hash) []byte {
	k := make([]byte, 0, 1+chain.PubKeyHashSize+4+chain.HashSize)
	k = binary.BigEndian.AppendUint32(append(append(k, prefixAddrTx), pkh[:]...), uint32(height))
	return append(k, txid[:]...)
}

func addrUtxoValue(value uint64, height int32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint64(make([]byte, 0, 12), value), uint32(height))
}

// ConnectBlock implements blockchain.Indexer. It goes in block order, so an
// output created and spent within the block is added by its creator and
// dropped by its spender.
func (*AddrIndex) ConnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	pos := 0
	for i, tx := range u.Block.Txs {
		txid := &u.TxIDs[i]
		// received is what tx paid each key hash it touches, spenders
		// included (with 0 unless also paid), written once per key hash.
		received := make(map[[chain.PubKeyHashSize]byte]uint64)
		if i > 0 {
			for _, in := range tx.Inputs {
				prev := &u.Spent[pos]
				pos++
				b.Delete(addrUtxoKey(&prev.PubKeyHash, in.PrevOut))
				if _, ok := received[prev.PubKeyHash]; !ok {
					received[prev.PubKeyHash] = 0
				}
			}
		}
		for idx := range tx.Outputs {
			out := &tx.Outputs[idx]
			op := chain.OutPoint{TxID: *txid, Index: uint32(idx)}
			b.Set(addrUtxoKey(&out.PubKeyHash, op), addrUtxoValue(out.Value, u.Height))
			received[out.PubKeyHash] += out.Value
		}
		for pkh, value := range received {
			b.Set(addrTxKey(&pkh, u.Height, txid), binary.LittleEndian.AppendUint64(nil, value))
		}
	}
	return nil
}

// DisconnectBlock implements blockchain.Indexer. It goes last transaction
// first, so an output created and spent within the block is restored by its
// spender's undo and then dropped by its creator's.
func (*AddrIndex) DisconnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	pos := len(u.Spent)
	for i := len(u.Block.Txs) - 1; i >= 0; i-- {
		tx, txid := u.Block.Txs[i], &u.TxIDs[i]
		for idx := range tx.Outputs {
			pkh := &tx.Outputs[idx].PubKeyHash
			op := chain.OutPoint{TxID: *txid, Index: uint32(idx)}
			b.Delete(addrUtxoKey(pkh, op))
			b.Delete(addrTxKey(pkh, u.Height, txid))
		}
		if i == 0 {
			break
		}
		pos -= len(tx.Inputs)
		for j, in := range tx.Inputs {
			prev := &u.Spent[pos+j]
			b.Set(addrUtxoKey(&prev.PubKeyHash, in.PrevOut), addrUtxoValue(prev.Value, prev.Height))
			b.Delete(addrTxKey(&prev.PubKeyHash, u.Height, txid))
		}
	}
	return nil
}

// AddressUtxo is an unspent output paying to a key hash.
type AddressUtxo struct {
	OutPoint chain.OutPoint
	Value    uint64
	Height   int32
}

// Utxos lists the unspent outputs paying to pkh; a *blockchain.IndexError
// if the index is off or still catching up.
func (x *AddrIndex) Utxos(pkh [chain.PubKeyHashSize]byte) ([]AddressUtxo, error) {
	if err := x.ready(); err != nil {
		return nil, err
	}
	var out []AddressUtxo
	prefix := append([]byte{prefixAddrUtxo}, pkh[:]...)
	err := x.r.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()[len(prefix):]
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(k) != chain.HashSize+4 || len(v) != 12 {
				return fmt.Errorf("address index entry is damaged")
			}
			var u AddressUtxo
			copy(u.OutPoint.TxID[:], k)
			u.OutPoint.Index = binary.BigEndian.Uint32(k[chain.HashSize:])
			u.Value = binary.LittleEndian.Uint64(v)
			u.Height = int32(binary.LittleEndian.Uint32(v[8:]))
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// AddressTx is a main-chain transaction that paid to or spent from a key hash.
type AddressTx struct {
	TxID   chain.Hash
	Height int32
	// Received is what the transaction paid to the key hash.
	Received uint64
}

// TxIDs lists the transactions touching pkh, oldest first; a
// *blockchain.IndexError if the index is off or still catching up.
func (x *AddrIndex) TxIDs(pkh [chain.PubKeyHashSize]byte) ([]AddressTx, error) {
	if err := x.ready(); err != nil {
		return nil, err
	}
	var out []AddressTx
	prefix := append([]byte{prefixAddrTx}, pkh[:]...)
	err := x.r.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()[len(prefix):]
			var t AddressTx
			err := it.Item().Value(func(v []byte) error {
				if len(k) != 4+chain.HashSize || len(v) != 8 {
					return fmt.Errorf("address index entry is damaged")
				}
				t.Received = binary.LittleEndian.Uint64(v)
				return nil
			})
			if err != nil {
				return err
			}
			t.Height = int32(binary.BigEndian.Uint32(k))
			copy(t.TxID[:], k[4:])
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

func (x *AddrIndex) ready() error {
	if x == nil || x.r == nil {
		return &blockchain.IndexError{Index: AddrIndexName, Disabled: true}
	}
	return x.r.Ready()
}
