package fees

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The history reaches the disk while the estimator runs, with no clean
// stop, and nothing more is written once stop returns.
func TestSaveEveryWritesWithoutStop(t *testing.T) {
	e := New()
	simulate(e, 40)
	path := filepath.Join(t.TempDir(), "fee_estimates.dat")
	stop := e.SaveEvery(path, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer stop()

	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no fee estimates file 10 s after starting periodic saves")
		}
		time.Sleep(5 * time.Millisecond)
	}
	loaded := New()
	if err := loaded.Load(path); err != nil {
		t.Fatalf("periodically saved file does not load: %v", err)
	}
	if !bytes.Equal(loaded.Encode(), e.Encode()) {
		t.Error("periodically saved history differs from the running one")
	}

	stop()
	stop() // a second stop is harmless
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("file written again after stop: %v", err)
	}
}
