package blockchain

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// metaReindex marks a reindex under way: reindexFull or reindexChainState.
// It is written before a reindex deletes anything and removed in the same
// transaction that records the reset chain state, so a reindex cut short by a
// crash is done again at the next start, whatever its command line says,
// rather than leaving a tip whose UTXO set is half deleted.
const metaReindex = "reindex"

const (
	reindexChainState byte = 1
	reindexFull       byte = 2
)

// testHookMidReindex, nil but in tests, is called once the chain state's
// records are deleted and before its markers are; an error stops the reindex
// there, as a crash would.
var testHookMidReindex func() error

// resumeReindex records the reindex cfg asks for, or turns on the one a
// crash interrupted: a full reindex wins over one of the chain state only.
func resumeReindex(db *badger.DB, cfg *Config) error {
	var pending []byte
	err := db.View(func(txn *badger.Txn) (err error) {
		pending, err = getValue(txn, key(prefixMeta, []byte(metaReindex)))
		return err
	})
	if err != nil {
		return fmt.Errorf("read reindex marker: %w", err)
	}
	interrupted := len(pending) == 1
	if interrupted && !cfg.Reindex && !cfg.ReindexChainState {
		cfg.Logger.Warn("resuming a reindex that was interrupted")
	}
	switch {
	case interrupted && pending[0] == reindexFull:
		cfg.Reindex = true
	case interrupted && pending[0] == reindexChainState:
		cfg.ReindexChainState = true
	case pending != nil:
		return fmt.Errorf("reindex marker %x is damaged; restart with --reindex", pending)
	}
	kind := reindexChainState
	switch {
	case cfg.Reindex:
		kind = reindexFull
	case !cfg.ReindexChainState:
		return nil
	}
	if err := db.Update(func(txn *badger.Txn) error {
		return txn.Set(key(prefixMeta, []byte(metaReindex)), []byte{kind})
	}); err != nil {
		return fmt.Errorf("record reindex: %w", err)
	}
	return nil
}

// rebuildBlockIndex replaces the header records with ones rebuilt from the
// stored blocks alone, each marked as having its body and nothing else, as
// Bitcoin Core's -reindex rebuilds its block index from the block files.
// Headers without a stored body, and blocks whose ancestry does not reach
// genesis through stored blocks, are dropped.
func rebuildBlockIndex(db *badger.DB, params *chain.Params) error {
	headers := make(map[chain.Hash]chain.Header)
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixBlock}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var h chain.Header
			err := it.Item().Value(func(raw []byte) error {
				if len(raw) < chain.HeaderSize {
					return fmt.Errorf("stored block %x is damaged", it.Item().Key()[1:])
				}
				var err error
				h, err = chain.DecodeHeader(raw[:chain.HeaderSize])
				return err
			})
			if err != nil {
				return err
			}
			headers[h.Hash()] = h
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reindex: read stored blocks: %w", err)
	}
	if err := deletePrefix(db, prefixHeader); err != nil {
		return fmt.Errorf("reindex: drop header records: %w", err)
	}
	children := make(map[chain.Hash][]chain.Hash)
	for hash, h := range headers {
		children[h.PrevBlock] = append(children[h.PrevBlock], hash)
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	genesis := params.GenesisBlock.Header
	queue := []*blockNode{newBlockNode(&genesis, nil)}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		n.status = statusHaveData
		if err := wb.Set(key(prefixHeader, n.hash[:]), encodeHeaderRecord(n)); err != nil {
			return err
		}
		for _, child := range children[n.hash] {
			h := headers[child]
			queue = append(queue, newBlockNode(&h, n))
		}
	}
	return wb.Flush()
}

// resetChainState keeps the stored blocks and header records and drops what is
// derived from them (UTXO set, main chain, tip, validation results), so that
// loading reconnects every stored block from genesis with every rule checked
// again. With undo it drops the undo data too, which is rebuilt only for the
// new main chain (Core's -reindex, which rebuilds the indexes too, the
// index database having been emptied); without, it keeps the undo data the
// indexes, kept, may need to leave a branch (Core's -reindex-chainstate).
func resetChainState(db *badger.DB, params *chain.Params, undo bool) error {
	prefixes := []byte{prefixUtxo, prefixHeight}
	if undo {
		prefixes = append(prefixes, prefixUndo)
	}
	for _, prefix := range prefixes {
		if err := deletePrefix(db, prefix); err != nil {
			return fmt.Errorf("reindex: drop %q records: %w", prefix, err)
		}
	}
	if testHookMidReindex != nil {
		if err := testHookMidReindex(); err != nil {
			return err
		}
	}
	err := db.Update(func(txn *badger.Txn) error {
		for _, meta := range []string{metaTip, metaUtxoBest, metaUtxoHeads} {
			if err := txn.Delete(key(prefixMeta, []byte(meta))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Header records keep only what is not derived: whether the body is stored.
	err = db.Update(func(txn *badger.Txn) error {
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
			raw[chain.HeaderSize+4] &= byte(statusHaveData)
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
	return db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(key(prefixMeta, []byte(metaReindex))); err != nil {
			return err
		}
		return writeGenesisState(txn, n)
	})
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
