package blockchain

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// A flush writes its entries in transactions of flushBatchEntries: stopped
// half way, the disk holds the first half of the entries with the marker of
// a flush under way, and the block the state belongs to has not moved; a
// whole flush moves it together with the last entries.
func TestFlushWritesBatches(t *testing.T) {
	defer func(n int) { flushBatchEntries = n }(flushBatchEntries)
	flushBatchEntries = 7
	db, err := openBadger(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const entries = 100
	fill := func(u *utxoCache, seed uint64) {
		u.mu.Lock()
		defer u.mu.Unlock()
		for n := range uint64(entries) {
			var op chain.OutPoint
			binary.LittleEndian.PutUint64(op.TxID[:], n*0x9e3779b97f4a7c15)
			binary.LittleEndian.PutUint64(op.TxID[8:], seed)
			u.add(op, chain.UtxoEntry{Value: n + 1}, false)
		}
	}
	// What the disk holds: UTXO records, and the two markers.
	disk := func() (utxos int, best, heads []byte) {
		err := db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixUtxo}})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				utxos++
			}
			var err error
			if best, err = getValue(txn, key(prefixMeta, []byte(metaUtxoBest))); err != nil {
				return err
			}
			heads, err = getValue(txn, key(prefixMeta, []byte(metaUtxoHeads)))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return utxos, best, heads
	}

	u := newUtxoCache(db, 1<<30)
	fill(u, 1)
	u.best[0] = 1
	if err := u.flushSync(); err != nil {
		t.Fatal(err)
	}
	if n, best, heads := disk(); n != entries || chain.Hash(best) != u.best || heads != nil {
		t.Fatalf("after a flush: %d entries, best %x, heads %x; want %d, %x, none", n, best, heads, entries, u.best)
	}

	stop := errors.New("killed")
	var atStop int
	testHookMidFlush = func() error {
		n, best, heads := disk()
		atStop = n
		if chain.Hash(best) != u.best || len(heads) != 2*chain.HashSize {
			t.Errorf("half way: best %x, heads %x; want the old best and a flush under way", best, heads)
		}
		return stop
	}
	defer func() { testHookMidFlush = nil }()
	u2 := newUtxoCache(db, 1<<30)
	u2.best, u2.diskBest = u.best, u.best
	fill(u2, 2)
	u2.best[0] = 2
	if err := u2.flushSync(); !errors.Is(err, stop) {
		t.Fatalf("flush: %v, want it stopped", err)
	}
	if atStop != entries+entries/2 {
		t.Fatalf("half way through a flush of %d entries, %d new on disk; want %d", entries, atStop-entries, entries/2)
	}
}
