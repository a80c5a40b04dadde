package blockchain

import (
	"bytes"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// A record a batch writes twice ends as its last write says: set again, its
// last value; set and then deleted, gone. The marker is written with them.
func TestIndexBatchLastWriteWins(t *testing.T) {
	idb, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer idb.Close()
	var b IndexBatch
	b.Set([]byte("k1"), []byte("first"))
	b.Set([]byte("k1"), []byte("last"))
	b.Set([]byte("k2"), []byte("set"))
	b.Delete([]byte("k2"))
	if err := writeIndexBatch(idb, &b, []byte("marker"), []byte("m")); err != nil {
		t.Fatal(err)
	}
	err = idb.View(func(txn *badger.Txn) error {
		for k, want := range map[string][]byte{"k1": []byte("last"), "k2": nil, "marker": []byte("m")} {
			item, err := txn.Get([]byte(k))
			if want == nil {
				if !errors.Is(err, badger.ErrKeyNotFound) {
					t.Errorf("record %s: %v, want it deleted", k, err)
				}
				continue
			}
			if err != nil {
				return err
			}
			if v, err := item.ValueCopy(nil); err != nil || !bytes.Equal(v, want) {
				t.Errorf("record %s = %q (%v), want %q", k, v, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A batch's byte count is what Badger counts its writes at: every write,
// one set again and one deleted included, a tombstone its key.
func TestIndexBatchCountsItsBytes(t *testing.T) {
	var b IndexBatch
	b.Set([]byte("k1"), make([]byte, 100))
	b.Set([]byte("k1"), make([]byte, 30))
	b.Set([]byte("k2"), make([]byte, 5000))
	b.Delete([]byte("k2"))
	if want := (2 + 100 + 12) + (2 + 30 + 12) + (2 + 5000 + 12) + (2 + 12); b.bytes != want {
		t.Fatalf("batch counts %d bytes, want %d", b.bytes, want)
	}
}
