package chain

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// resetChainState keeps the stored blocks and headers and drops everything
// derived from them (UTXO set, undo data, indexes, tip, validation results), so
// that loading reconnects every stored block from genesis with every rule
// checked again: the repair for a damaged chain state, as Bitcoin Core's -reindex.
func resetChainState(db *badger.DB, params *Params) error {
	for _, prefix := range []byte{prefixUtxo, prefixUndo, prefixTx, prefixAddrUtxo, prefixAddrTx, prefixHeight, prefixMeta} {
		if err := deletePrefix(db, prefix); err != nil {
			return fmt.Errorf("reindex: drop %q records: %w", prefix, err)
		}
	}
	// Header records keep only what is not derived: whether the body is stored.
	err := db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixHeader}, PrefetchValues: true})
		defer it.Close()
		var updates [][2][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(raw) != headerRecordLen {
				return fmt.Errorf("reindex: header record %x is damaged", it.Item().Key()[1:])
			}
			raw[HeaderSize+4] &= byte(statusHaveData)
			updates = append(updates, [2][]byte{it.Item().KeyCopy(nil), raw})
		}
		for _, u := range updates {
			if err := txn.Set(u[0], u[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	g := params.GenesisBlock
	n := newBlockNode(&g.Header, nil)
	n.status = statusHaveData | statusValid
	return db.Update(func(txn *badger.Txn) error { return writeGenesisState(txn, n) })
}

// deletePrefix deletes every record of one kind. Badger's DropPrefix would do it
// too, but it stops the world to flush and compact, which costs seconds even on
// a small store.
func deletePrefix(db *badger.DB, prefix byte) error {
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return wb.Flush()
}
