package blockchain

import (
	"github.com/quarrychain/quarry/chain"

	"encoding/binary"

	"github.com/dgraph-io/badger/v4"
)

// addrIndex keeps, per public key hash, its unspent outputs and the
// transactions that paid to or spent from it, as bitcore's address index.
type addrIndex struct{}

func (addrIndex) name() string { return AddrIndexName }

func addrUtxoValue(value uint64, height int32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint64(make([]byte, 0, 12), value), uint32(height))
}

// connectBlock goes in block order, so an output created and spent within the
// block is added by its creator and dropped by its spender.
func (addrIndex) connectBlock(txn *badger.Txn, b *chain.Block, txids []chain.Hash, _ chain.Hash, height int32, spent []chain.UtxoEntry) error {
	h := be32(uint32(height))
	pos := 0
	for i, tx := range b.Txs {
		if i > 0 {
			for _, in := range tx.Inputs {
				prev := &spent[pos]
				pos++
				if err := txn.Delete(key(prefixAddrUtxo, prev.PubKeyHash[:], outpointBytes(in.PrevOut))); err != nil {
					return err
				}
				if err := txn.Set(key(prefixAddrTx, prev.PubKeyHash[:], h, txids[i][:]), nil); err != nil {
					return err
				}
			}
		}
		for idx := range tx.Outputs {
			out := &tx.Outputs[idx]
			op := outpointBytes(chain.OutPoint{TxID: txids[i], Index: uint32(idx)})
			if err := txn.Set(key(prefixAddrUtxo, out.PubKeyHash[:], op), addrUtxoValue(out.Value, height)); err != nil {
				return err
			}
			if err := txn.Set(key(prefixAddrTx, out.PubKeyHash[:], h, txids[i][:]), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// disconnectBlock goes last transaction first, so an output created and spent
// within the block is restored by its spender's undo and then dropped by its
// creator's.
func (addrIndex) disconnectBlock(txn *badger.Txn, b *chain.Block, txids []chain.Hash, _ chain.Hash, height int32, spent []chain.UtxoEntry) error {
	h := be32(uint32(height))
	pos := len(spent)
	for i := len(b.Txs) - 1; i >= 0; i-- {
		tx := b.Txs[i]
		for idx := range tx.Outputs {
			pkh := tx.Outputs[idx].PubKeyHash[:]
			op := outpointBytes(chain.OutPoint{TxID: txids[i], Index: uint32(idx)})
			for _, k := range [][]byte{key(prefixAddrUtxo, pkh, op), key(prefixAddrTx, pkh, h, txids[i][:])} {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		if i == 0 {
			break
		}
		pos -= len(tx.Inputs)
		for j, in := range tx.Inputs {
			prev := &spent[pos+j]
			if err := txn.Set(key(prefixAddrUtxo, prev.PubKeyHash[:], outpointBytes(in.PrevOut)), addrUtxoValue(prev.Value, prev.Height)); err != nil {
				return err
			}
			if err := txn.Delete(key(prefixAddrTx, prev.PubKeyHash[:], h, txids[i][:])); err != nil {
				return err
			}
		}
	}
	return nil
}
