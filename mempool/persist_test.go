package mempool

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// restart closes the pool and the chain and opens both again from disk.
func (h *harness) restart() {
	h.t.Helper()
	h.pool.Close()
	h.pool = nil
	if err := h.chain.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.openChain()
	h.newPool(Config{})
}

func TestSaveAndLoadAcrossRestart(t *testing.T) {
	h := newHarness(t, Config{})
	parent := h.spend([]chain.OutPoint{h.coin()}, 1000, 2)
	child := h.spend([]chain.OutPoint{out(parent, 0)}, 3000, 1)
	grandchild := h.spend([]chain.OutPoint{out(child, 0)}, 3000, 1)
	single := h.spend([]chain.OutPoint{h.coin()}, 2000, 1)
	h.accept(single)
	h.clock.Advance(time.Hour)
	for _, tx := range []*chain.Tx{parent, child, grandchild} {
		h.accept(tx)
	}
	before := h.pool.Entries()
	path := filepath.Join(t.TempDir(), "mempool.dat")
	if err := h.pool.Save(path); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(path + ".tmp*"); len(matches) != 0 {
		t.Fatalf("temporary files left: %v", matches)
	}

	h.restart()
	st, err := h.pool.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if st != (LoadStats{Read: 4, Accepted: 4}) {
		t.Fatalf("stats %+v", st)
	}
	h.check()
	after := h.pool.Entries()
	if len(after) != len(before) {
		t.Fatalf("%d entries after load, %d before", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.TxID != b.TxID || a.Fee != b.Fee || a.AncestorCount != b.AncestorCount || a.DescendantCount != b.DescendantCount ||
			a.Time.Unix() != b.Time.Unix() {
			t.Fatalf("entry %d: before %+v, after %+v", i, b, a)
		}
	}

	// A transaction confirmed meanwhile fails; the others load.
	h.mine(single)
	h.newPool(Config{})
	if st, err := h.pool.Load(path); err != nil || st != (LoadStats{Read: 4, Accepted: 3, Failed: 1}) {
		t.Fatalf("stats %+v, %v", st, err)
	}
	// Entries older than the expiry stay out.
	h.clock.Advance(14*24*time.Hour - 30*time.Minute)
	h.newPool(Config{})
	if st, err := h.pool.Load(path); err != nil || st != (LoadStats{Read: 4, Accepted: 3, Expired: 1}) {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

func TestLoadDamagedOrMissingFile(t *testing.T) {
	h := newHarness(t, Config{})
	tx := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.accept(tx)
	dir := t.TempDir()
	path := filepath.Join(dir, "mempool.dat")
	if err := h.pool.Save(path); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kept := h.spend([]chain.OutPoint{h.coin()}, 1000, 1)
	h.newPool(Config{})
	h.accept(kept)
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := h.pool.Load(path); !errors.Is(err, ErrDamagedFile) {
			t.Fatalf("byte %d flipped: err = %v", i, err)
		}
	}
	if err := os.WriteFile(path, good[:len(good)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Load(path); !errors.Is(err, ErrDamagedFile) {
		t.Fatalf("truncated: err = %v", err)
	}
	if _, err := h.pool.Load(filepath.Join(dir, "none.dat")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
	if h.pool.Has(tx.TxID()) || !h.pool.Has(kept.TxID()) || h.pool.Info().Count != 1 {
		t.Fatal("a failed load changed the pool")
	}
}

// FuzzDecodeFile feeds the decoder file bodies: the input with its checksum
// appended, since mutations would practically never produce a matching
// checksum and the parser behind it would go untested, and the input as it is.
func FuzzDecodeFile(f *testing.F) {
	empty := encodeFile(nil)
	f.Add(empty[:len(empty)-sha256.Size])
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		file := append(bytes.Clone(body), sum[:]...)
		for _, data := range [][]byte{file, body} {
			entries, err := decodeFile(data)
			if err != nil {
				if !errors.Is(err, ErrDamagedFile) {
					t.Fatalf("error %v does not wrap ErrDamagedFile", err)
				}
				continue
			}
			// A file's contents have one encoding.
			if again := encodeFile(entries); !bytes.Equal(again, data) {
				t.Fatalf("re-encoding differs")
			}
		}
	})
}
