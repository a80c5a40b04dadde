package blockchain

import (
	"github.com/quarrychain/quarry/chain"

	"encoding/binary"

	"github.com/dgraph-io/badger/v4"
)

// txIndex maps each main-chain txid to its block and position (Core's
// -txindex).
type txIndex struct{}

func (txIndex) name() string { return TxIndexName }

func (txIndex) connectBlock(txn *badger.Txn, _ *chain.Block, txids []chain.Hash, hash chain.Hash, _ int32, _ []chain.UtxoEntry) error {
	for i := range txids {
		pos := binary.LittleEndian.AppendUint32(append(make([]byte, 0, chain.HashSize+4), hash[:]...), uint32(i))
		if err := txn.Set(key(prefixTx, txids[i][:]), pos); err != nil {
			return err
		}
	}
	return nil
}

func (txIndex) disconnectBlock(txn *badger.Txn, _ *chain.Block, txids []chain.Hash, _ chain.Hash, _ int32, _ []chain.UtxoEntry) error {
	for i := range txids {
		if err := txn.Delete(key(prefixTx, txids[i][:])); err != nil {
			return err
		}
	}
	return nil
}
