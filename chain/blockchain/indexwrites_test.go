package blockchain

import "testing"

// A record a connecting batch sets and then deletes (an output created and
// spent within the batch, for an index keeping such records) is neither
// written nor deleted; a record the index database may hold is deleted
// with a tombstone, and so is one set by a batch taking blocks back, which
// restores records the database held before.
func TestIndexBatchDropsRecordsSetAndDeleted(t *testing.T) {
	k, held := []byte("kfresh"), []byte("kheld")
	b := newIndexBatch(true)
	b.Set(k, []byte{1})
	b.Delete(k)
	b.Delete(held)
	if _, ok := b.writes[string(k)]; ok || len(b.writes) != 1 || !b.writes[string(held)].deleted {
		t.Fatalf("connecting batch writes %+v, want the held record's tombstone alone", b.writes)
	}
	b = newIndexBatch(false)
	b.Set(k, []byte{1})
	b.Delete(k)
	if w, ok := b.writes[string(k)]; !ok || !w.deleted {
		t.Fatalf("disconnecting batch writes %+v, want a tombstone", b.writes)
	}
}

// A batch's byte count is what its writes, as they end up, cost: a record
// set again counts its last value, one set and deleted while connecting
// nothing, a tombstone its key.
func TestIndexBatchCountsItsBytes(t *testing.T) {
	requireBytes := func(b *IndexBatch) {
		t.Helper()
		want := 0
		for _, w := range b.writes {
			want += writeBytes(w.key, w.value)
		}
		if b.bytes != want {
			t.Fatalf("batch counts %d bytes, its writes %d", b.bytes, want)
		}
	}
	for _, connecting := range []bool{true, false} {
		b := newIndexBatch(connecting)
		b.Set([]byte("k1"), make([]byte, 100))
		b.Set([]byte("k1"), make([]byte, 30))
		b.Set([]byte("k2"), make([]byte, 5000))
		requireBytes(b)
		b.Delete([]byte("k2"))
		b.Delete([]byte("k3"))
		requireBytes(b)
		b.Set([]byte("k3"), make([]byte, 7))
		requireBytes(b)
		if b.bytes == 0 {
			t.Fatal("a batch of writes counts no bytes")
		}
	}
}
