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
