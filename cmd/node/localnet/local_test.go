//go:build unix

package localnet

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/testnet"
	"github.com/quarrychain/quarry/testnet/fakenode"
	"github.com/quarrychain/quarry/wallet"
)

func TestLayoutKeepsPortsAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	lay, err := loadLayout(dir, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	if notes, err := lay.ensureNodes(dir, Testnet, 3); err != nil || len(notes) != 0 {
		t.Fatalf("first run: notes %v, err %v", notes, err)
	}
	seen := map[int]bool{}
	for i, n := range lay.Nodes {
		if n.Dir != "node"+strconv.Itoa(i) || n.RPCPort == 0 || n.P2PPort == 0 || seen[n.RPCPort] || seen[n.P2PPort] {
			t.Fatalf("bad layout %+v", lay.Nodes)
		}
		seen[n.RPCPort], seen[n.P2PPort] = true, true
	}
	lay.MineAddress = "tqry1example"
	if err := lay.save(dir); err != nil {
		t.Fatal(err)
	}
	again, err := loadLayout(dir, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	if notes, err := again.ensureNodes(dir, Testnet, 3); err != nil || len(notes) != 0 {
		t.Fatalf("second run: notes %v, err %v", notes, err)
	}
	if !reflect.DeepEqual(again, lay) {
		t.Errorf("second run changed the layout:\n%+v\n%+v", again, lay)
	}

	// A port another program took moves; a bigger testnet keeps the others.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(lay.Nodes[1].RPCPort))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	notes, err := again.ensureNodes(dir, Testnet, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "node1") {
		t.Errorf("notes %v, want one about node1", notes)
	}
	if again.Nodes[0] != lay.Nodes[0] || again.Nodes[2] != lay.Nodes[2] || again.Nodes[1] == lay.Nodes[1] || len(again.Nodes) != 4 {
		t.Errorf("layout after node1's port was taken: %+v", again.Nodes)
	}

	// A taken port with a cookie beside it is a testnet still running.
	cookie := filepath.Join(dir, "node0", "testnet", ".cookie")
	os.MkdirAll(filepath.Dir(cookie), 0o700)
	os.WriteFile(cookie, []byte("x"), 0o600)
	l0, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(lay.Nodes[0].RPCPort))
	if err != nil {
		t.Fatal(err)
	}
	defer l0.Close()
	if _, err := again.ensureNodes(dir, Testnet, 4); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("got %v, want a testnet already running", err)
	}
}

func TestLoadLayoutRejectsOtherNetwork(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, layoutFile), []byte(`{"network":"main"}`), 0o600)
	if _, err := loadLayout(dir, Testnet); err == nil {
		t.Error("loaded a layout of the main network")
	}
}

func TestFindAddress(t *testing.T) {
	params, _ := chain.ParamsByName("testnet")
	addr := params.EncodeAddress([chain.PubKeyHashSize]byte{1, 2, 3})
	if got := findAddress("New address: "+addr+".\n", Testnet); got != addr {
		t.Errorf("findAddress = %q, want %q", got, addr)
	}
	regtest, _ := chain.ParamsByName("regtest")
	if got := findAddress("rqry: "+regtest.EncodeAddress([chain.PubKeyHashSize]byte{1}), Testnet); got != "" {
		t.Errorf("took %q, which is no testnet address", got)
	}
}

// syncBuffer is Run's stdout in tests: written by Run, read by the
// test while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeBinDir holds the test binary under the names node and wallet, as an
// install of both would.
func fakeBinDir(t *testing.T, withWallet bool) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	names := []string{"node"}
	if withWallet {
		names = append(names, "wallet")
	}
	for _, name := range names {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runLocal runs Run until it has drawn the table frames times, and
// checks that no node outlives it.
func runLocal(t *testing.T, o Options, frames int) string {
	t.Helper()
	out, log := &syncBuffer{}, &syncBuffer{}
	o.Stdout, o.Refresh = out, 50*time.Millisecond
	o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), log), nil))
	defer assertNoNodeLeft(t, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	deadline := time.After(60 * time.Second)
	for strings.Count(out.String(), "NODE   HEIGHT") < frames {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v\n%s", err, out)
		case <-deadline:
			cancel()
			t.Fatalf("no %d frames within a minute:\n%s", frames, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return after cancel:\n%s", out)
	}
	return out.String()
}

func TestRunWithWalletCLI(t *testing.T) {
	t.Setenv(fakenode.Env, "1")
	t.Setenv("GORACE", "atexit_sleep_ms=0") // see testnet's fakeOptions
	t.Setenv(testnet.WalletBinEnv, "")
	bins := fakeBinDir(t, true)
	dir := t.TempDir()
	o := Options{Nodes: 2, Miners: 1, Dir: dir, NodeBin: filepath.Join(bins, "node")}
	out := runLocal(t, o, 3)

	lay, err := loadLayout(dir, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	if len(lay.Nodes) != 2 || !strings.HasPrefix(lay.MineAddress, "tqry1") {
		t.Fatalf("layout %+v", lay)
	}
	for _, want := range []string{
		"Quarry local testnet in " + dir + " (nodes: 2, mining: 1)",
		"http://127.0.0.1:" + strconv.Itoa(lay.Nodes[0].RPCPort),
		filepath.Join(dir, "node1", "testnet", ".cookie"),
		"/ip4/127.0.0.1/tcp/" + strconv.Itoa(lay.Nodes[1].P2PPort) + "/p2p/",
		"The miners pay to " + lay.MineAddress,
		"qwallet() { " + filepath.Join(bins, "wallet") + " --network testnet --wallet " + filepath.Join(dir, "wallet.json"),
		"1.50 kH/s",
		"Stopped.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("ANSI codes written to a non-terminal")
	}
	if strings.Contains(out, "wallet package") {
		t.Errorf("fell back although the CLI works:\n%s", out)
	}
	logs := map[int]string{}
	for i := range 2 {
		data, _ := os.ReadFile(filepath.Join(dir, "node"+strconv.Itoa(i), "stderr.log"))
		logs[i] = string(data)
	}
	// Every node knows the payout address (the miner key needs it); only
	// node0 mines from the start.
	mines := regexp.MustCompile(`(?m) --mine$`)
	for i, log := range logs {
		if !strings.Contains(log, "--mine-address "+lay.MineAddress) || mines.MatchString(log) != (i == 0) {
			t.Errorf("node%d's flags: want --mine-address %s, and --mine only on node0:\n%s", i, lay.MineAddress, log)
		}
	}
	// Height and the interval of the fake's 7-second blocks show up.
	if !regexp.MustCompile(`node0\s+[1-9][0-9]*\s+\S+\s+1\s+on\s+1\.50 kH/s\s+1\s+0\s+7s`).MatchString(out) {
		t.Errorf("no row of a mining node0 with one peer:\n%s", out)
	}

	// A second run resumes: same layout, same payout address.
	runLocal(t, o, 1)
	again, err := loadLayout(dir, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, lay) {
		t.Errorf("the second run changed the layout:\n%+v\n%+v", again, lay)
	}
}

// assertNoNodeLeft checks that every node the harness log says started is gone.
func assertNoNodeLeft(t *testing.T, log *syncBuffer) {
	t.Helper()
	started := regexp.MustCompile(`msg=started node=node\d+ pid=(\d+)`).FindAllStringSubmatch(log.String(), -1)
	if len(started) == 0 {
		t.Error("the harness log names no started node")
	}
	for _, m := range started {
		// Signal 0 checks that the process exists without signalling it.
		if pid, _ := strconv.Atoi(m[1]); syscall.Kill(pid, 0) == nil {
			t.Errorf("node process %d outlived Run", pid)
		}
	}
}

func TestRunFallsBackToWalletPackage(t *testing.T) {
	t.Setenv(fakenode.Env, "1")
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	bins := fakeBinDir(t, false)
	dir := t.TempDir()
	out := runLocal(t, Options{Nodes: 1, Miners: 1, Dir: dir, NodeBin: filepath.Join(bins, "node"),
		WalletBin: filepath.Join(bins, "no-such-wallet")}, 1)
	if !strings.Contains(out, "made with the wallet package") {
		t.Errorf("the fallback is not announced:\n%s", out)
	}
	lay, err := loadLayout(dir, Testnet)
	if err != nil {
		t.Fatal(err)
	}
	pass, err := os.ReadFile(filepath.Join(dir, passphraseFile))
	if err != nil {
		t.Fatal(err)
	}
	params, _ := chain.ParamsByName("testnet")
	w, err := wallet.Open(filepath.Join(dir, walletFile), params, bytes.TrimSpace(pass))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	key, err := w.Key(wallet.Receive, 0)
	if err != nil {
		t.Fatal(err)
	}
	if key.Address != lay.MineAddress {
		t.Errorf("the miners pay to %s, not to the wallet's first address %s", lay.MineAddress, key.Address)
	}
}

func TestMain(m *testing.M) {
	runOnTTYIfRequested()
	fakenode.RunIfRequested()
	os.Exit(m.Run())
}

func TestKeepBinary(t *testing.T) {
	src := filepath.Join(t.TempDir(), "wallet")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho kept\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	got, err := keepBinary(src, filepath.Join(dir, keptWallet))
	if err != nil {
		t.Fatal(err)
	}
	// The copy outlives the original, as a build directory goes at exit.
	os.Remove(src)
	if got != filepath.Join(dir, "bin", "wallet") {
		t.Errorf("kept as %s", got)
	}
	// Its content and mode are checked rather than running it: a file just
	// written can be "text file busy" while another fork holds it.
	data, err := os.ReadFile(got)
	fi, statErr := os.Stat(got)
	if err != nil || statErr != nil || string(data) != "#!/bin/sh\necho kept\n" || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("the copy: %q, %v, %v", data, err, statErr)
	}
	if _, err := os.Stat(got + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary file is left: %v", err)
	}
}
