//go:build unix

package testnet

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// TestRealNodeLifecycle drives one real regtest node through the harness:
// start, clean restart, kill -9 and start again on the same directory and
// port. It needs no P2P, so it runs before the node's network is wired.
func TestRealNodeLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the node")
	}
	if _, err := exec.LookPath("go"); err != nil && os.Getenv(NodeBinEnv) == "" {
		t.Skip("go is not on PATH and $" + NodeBinEnv + " is not set")
	}
	params, err := chain.ParamsByName("regtest")
	if err != nil {
		t.Fatal(err)
	}
	genesis := params.GenesisHash.String()
	tn := New(t, Options{})
	n := tn.Node(0)
	ctx := testCtx(t, 2*time.Minute)
	check := func(when string) {
		t.Helper()
		tip, err := tn.WaitForTip(ctx, 0)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if tip != genesis {
			t.Errorf("%s: tip %s, want the regtest genesis %s", when, tip, genesis)
		}
	}
	check("after start")
	addr := n.RPCAddr()
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	check("after restart")
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	check("after kill -9 and start")
	if n.RPCAddr() != addr {
		t.Errorf("RPC moved from %s to %s", addr, n.RPCAddr())
	}
	pid := n.PID()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if processAlive(pid) {
		t.Errorf("node %d still runs after Stop", pid)
	}
}
