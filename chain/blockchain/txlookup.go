package blockchain

import (
	"github.com/quarrychain/quarry/chain"

	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// locateTx reads a main-chain transaction's place from the transaction index.
func (c *Chain) locateTx(txid chain.Hash) (TxLocation, error) {
	var loc TxLocation
	err := c.db.View(func(txn *badger.Txn) error {
		raw, err := getValue(txn, key(prefixTx, txid[:]))
		if err != nil {
			return err
		}
		if len(raw) != chain.HashSize+4 {
			return fmt.Errorf("transaction %s: %w", txid, ErrNotFound)
		}
		copy(loc.Block[:], raw)
		loc.Index = int(binary.LittleEndian.Uint32(raw[chain.HashSize:]))
		return nil
	})
	return loc, err
}

// IsConfirmedTx reports whether txid is in a main-chain block with two key
// reads at most, where FindTx loads and decodes the whole block: a peer
// relaying a confirmed transaction again costs only this. The UTXO set
// answers first, as Core's txn-already-known check does, while the
// transaction's first output is unspent: that covers a transaction just
// confirmed, which the background transaction index may not have reached yet,
// and a node running without the index. The index answers for the rest.
func (c *Chain) IsConfirmedTx(txid chain.Hash) bool {
	if c.LookupUtxo(chain.OutPoint{TxID: txid, Index: 0}) != nil {
		return true
	}
	_, err := c.locateTx(txid)
	return err == nil
}
