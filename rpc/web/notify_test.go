package web

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

type notifyRun struct {
	argv []string
	err  error
}

func newTestNotifier(t *testing.T, command string, timeout time.Duration) (*BlockNotifier, chan notifyRun) {
	t.Helper()
	n, err := NewBlockNotifier(command, timeout, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	runs := make(chan notifyRun, 100)
	n.ran = func(argv []string, err error) { runs <- notifyRun{argv, err} }
	t.Cleanup(n.Close)
	return n, runs
}

// The command runs once per connected block with %s replaced by the hash,
// as separate arguments and never through a shell.
func TestBlockNotifyRunsCommand(t *testing.T) {
	if _, err := exec.LookPath("touch"); err != nil {
		t.Skip("no touch command")
	}
	dir := t.TempDir()
	n, runs := newTestNotifier(t, "touch "+filepath.Join(dir, "%s")+" "+filepath.Join(dir, "$(whoami)"), time.Minute)
	hashes := []chain.Hash{{1}, {2}, {3}}
	for _, h := range hashes {
		n.ChainEvent(blockchain.Event{Kind: blockchain.BlockConnected, Hash: h})
	}
	n.ChainEvent(blockchain.Event{Kind: blockchain.BlockDisconnected, Hash: chain.Hash{9}})
	for range hashes {
		if r := <-runs; r.err != nil {
			t.Fatalf("run %v: %v", r.argv, r.err)
		}
	}
	var want []string
	for _, h := range hashes {
		want = append(want, h.String())
	}
	want = append(want, "$(whoami)") // taken literally: no shell
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

// A command that hangs is killed at the timeout, and a flood of blocks
// neither blocks Notify nor runs more than the queue holds.
func TestBlockNotifyBounded(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep command")
	}
	n, runs := newTestNotifier(t, "sleep 30", 200*time.Millisecond)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 1000 {
			n.Notify(chain.Hash{byte(i), byte(i >> 8)})
		}
	})
	wg.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("1000 notifications took %v: Notify waited for the commands", d)
	}
	r := <-runs
	var exitErr *exec.ExitError
	if !errors.As(r.err, &exitErr) {
		t.Errorf("hung command ended with %v, want it killed", r.err)
	}
	if !strings.HasPrefix(r.argv[0], "sleep") {
		t.Errorf("ran %v", r.argv)
	}
}

// An empty or missing command is refused when the node starts.
func TestBlockNotifyBadCommand(t *testing.T) {
	for _, command := range []string{"  ", "no-such-command-quarry %s", filepath.Join(t.TempDir(), "missing") + " %s"} {
		if _, err := NewBlockNotifier(command, 0, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("command %q accepted", command)
		}
	}
}

// A command that writes without end costs the node the start of its output
// for the log, not memory for all of it.
func TestBlockNotifyOutputBounded(t *testing.T) {
	if _, err := exec.LookPath("head"); err != nil {
		t.Skip("no head command")
	}
	const written = 64 << 20
	n, runs := newTestNotifier(t, "head -c "+strconv.Itoa(written)+" /dev/zero", time.Minute)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n.Notify(chain.Hash{1})
	if r := <-runs; r.err != nil {
		t.Fatalf("run %v: %v", r.argv, r.err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > written/4 {
		t.Errorf("running a command that wrote %d MiB allocated %d MiB", written>>20, grew>>20)
	}
}
