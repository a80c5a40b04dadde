//go:build unix

package testnet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quarrychain/quarry/testnet/fakenode"
)

// pidsOf records the nodes' process ids, to check after Close that none is left.
func pidsOf(tn *Network) []int {
	var pids []int
	for _, n := range tn.Nodes() {
		if pid := n.PID(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("process %d still runs", pid)
		}
	}
}

func closeNetwork(t *testing.T, tn *Network) {
	t.Helper()
	pids := pidsOf(tn)
	if err := tn.Close(testCtx(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	assertGone(t, pids)
}

func TestNetworkLinksAndAgrees(t *testing.T) {
	tn := New(t, fakeOptions(t, Options{Nodes: 3, Topology: Line}))
	ctx := testCtx(t, 30*time.Second)
	if got := tn.Links(); !slices.Equal(got, []Edge{{0, 1}, {1, 2}}) {
		t.Errorf("links %v, want a line", got)
	}
	if err := tn.WaitForPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := tn.WaitForPeers(ctx, 2, tn.Node(1)); err != nil {
		t.Fatal(err)
	}
	for _, n := range tn.Nodes() {
		if err := n.Call(ctx, "generatetoaddress", []any{3, "x"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	tip, err := tn.WaitForTip(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if tip != fakenode.BlockHash(3) {
		t.Errorf("tip %s, want %s", tip, fakenode.BlockHash(3))
	}
	n := tn.Node(0)
	addr, err := n.Multiaddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/", n.P2PPort()); !strings.HasPrefix(addr, want) {
		t.Errorf("multiaddr %s, want the TCP one, %s...", addr, want)
	}
	for _, path := range []string{n.StderrFile(), n.LogFile(), n.CookieFile()} {
		if _, err := os.Stat(path); err != nil {
			t.Error(err)
		}
	}
	data, _ := os.ReadFile(n.StderrFile())
	if !strings.Contains(string(data), "=== testnet: node0 start 1") || !strings.Contains(string(data), "fake node up") {
		t.Errorf("stderr.log lacks the start line or the node's output:\n%s", data)
	}
	closeNetwork(t, tn)
}

func TestNetworkDisconnectReconnect(t *testing.T) {
	tn := New(t, fakeOptions(t, Options{Nodes: 3}))
	ctx := testCtx(t, 30*time.Second)
	if err := tn.Disconnect(ctx, 2, 0); err != nil {
		t.Fatal(err)
	}
	if got := tn.Links(); !slices.Equal(got, []Edge{{0, 1}, {1, 2}}) {
		t.Errorf("links %v after cutting 0-2", got)
	}
	var count int
	if err := tn.Node(0).Call(ctx, "getconnectioncount", nil, &count); err != nil || count != 1 {
		t.Errorf("node0 has %d peers (%v), want 1", count, err)
	}
	if err := tn.Reconnect(ctx, 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := tn.WaitForPeers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := tn.Disconnect(ctx, 1, 1); err == nil {
		t.Error("a node was disconnected from itself")
	}
	closeNetwork(t, tn)
}

func TestNodeKillStartRestart(t *testing.T) {
	tn := New(t, fakeOptions(t, Options{Nodes: 2}))
	ctx := testCtx(t, 60*time.Second)
	n := tn.Node(1)
	pid, rpcAddr, addr := n.PID(), n.RPCAddr(), mustMultiaddr(t, n)
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if n.Running() || processAlive(pid) {
		t.Fatal("node still runs after Kill")
	}
	if err := n.Kill(); err != nil {
		t.Errorf("killing a killed node: %v", err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n.PID() == pid || n.RPCAddr() != rpcAddr || mustMultiaddr(t, n) != addr {
		t.Errorf("after Start: pid %d (was %d), rpc %s (was %s), multiaddr %s (was %s)",
			n.PID(), pid, n.RPCAddr(), rpcAddr, mustMultiaddr(t, n), addr)
	}
	if err := tn.WaitForPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := tn.Node(0).Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tn.WaitForPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Errorf("stopping a stopped node: %v", err)
	}
	// The wait helpers skip stopped nodes.
	if _, err := tn.WaitForTip(ctx, 0); err != nil {
		t.Fatal(err)
	}
	closeNetwork(t, tn)
}

func mustMultiaddr(t *testing.T, n *Node) string {
	t.Helper()
	addr, err := n.Multiaddr(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestNodeStopRPCAndWait(t *testing.T) {
	tn := New(t, fakeOptions(t, Options{}))
	n := tn.Node(0)
	ctx := testCtx(t, 30*time.Second)
	if err := n.Call(ctx, "stop", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := n.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Running() {
		t.Error("running after the stop RPC")
	}
	if _, err := os.Stat(n.CookieFile()); !os.IsNotExist(err) {
		t.Errorf("cookie left after a clean stop: %v", err)
	}
}

func TestNodeExitUnaskedIsReported(t *testing.T) {
	tn := New(t, fakeOptions(t, Options{}))
	n := tn.Node(0)
	if err := syscall.Kill(n.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for n.Running() {
		time.Sleep(10 * time.Millisecond)
	}
	err := n.Stop(testCtx(t, 30*time.Second))
	if err == nil || !strings.Contains(err.Error(), "exited on its own") {
		t.Errorf("Stop of a crashed node: %v, want it reported", err)
	}
}

func TestStartRetriesTakenPort(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, fakenode.FailPortFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tn := New(t, fakeOptions(t, Options{Spec: func(int) NodeSpec { return NodeSpec{Dir: dir} }}))
	data, _ := os.ReadFile(tn.Node(0).StderrFile())
	if !strings.Contains(string(data), "node0 start 2") {
		t.Errorf("no second start in the log:\n%s", data)
	}
	if _, err := tn.WaitForTip(testCtx(t, 10*time.Second), 0); err != nil {
		t.Fatal(err)
	}
}

func TestFixedPortTakenFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	opts := fakeOptions(t, Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(tbWriter{t}, nil)),
		Spec: func(int) NodeSpec { return NodeSpec{RPCPort: port} }})
	tn, err := Launch(testCtx(t, 30*time.Second), opts)
	if err == nil {
		tn.Close(context.Background())
		t.Fatal("started on a taken port")
	}
	if !strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "start 2") {
		t.Errorf("got %v, want one start failing on the taken port", err)
	}
}

func TestConnectFlags(t *testing.T) {
	tn := New(t, fakeOptions(t, Options{Nodes: 3, Topology: Ring, ConnectFlags: true}))
	ctx := testCtx(t, 30*time.Second)
	if err := tn.WaitForPeers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(tn.Node(2).StderrFile())
	if strings.Count(string(data), "--connect") != 2 {
		t.Errorf("node2 did not start with two --connect flags:\n%s", data)
	}
	// A restart passes the flags again, with the current links only.
	if err := tn.Disconnect(ctx, 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := tn.Node(2).Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tn.WaitForPeers(ctx, 1, tn.Node(2)); err != nil {
		t.Fatal(err)
	}
	var peers int
	if err := tn.Node(2).Call(ctx, "getconnectioncount", nil, &peers); err != nil || peers != 1 {
		t.Errorf("node2 has %d peers (%v) after restarting without its link to node0", peers, err)
	}
	closeNetwork(t, tn)
}

// recordingTB lets New's cleanups run against a test that failed, without
// failing the real one.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	logs     []string
	cleanups []func()
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Failed() bool     { return r.failed }
func (r *recordingTB) Log(args ...any)  { r.Logf("%s", fmt.Sprint(args...)) }
func (r *recordingTB) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Errorf(format string, args ...any) { r.failed = true; r.Logf(format, args...) }

func TestFailedTestPrintsLogs(t *testing.T) {
	rec := &recordingTB{TB: t}
	tn := New(rec, fakeOptions(t, Options{Nodes: 2}))
	pids := pidsOf(tn)
	rec.failed = true
	for i := len(rec.cleanups) - 1; i >= 0; i-- {
		rec.cleanups[i]()
	}
	assertGone(t, pids)
	all := strings.Join(rec.logs, "\n")
	for _, want := range []string{"node0: last 200 lines of", "node1: last 200 lines of", "fake node up", "msg=stopped"} {
		if !strings.Contains(all, want) {
			t.Errorf("the failed test's log lacks %q:\n%s", want, all)
		}
	}
}
