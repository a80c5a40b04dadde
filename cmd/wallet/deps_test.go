package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoP2PDependencies keeps the wallet a JSON-RPC client: it talks to a node
// through rpc/rpcclient and must not link the node's P2P stack (libp2p and the
// QUIC and WebRTC transports under it), which an import of the RPC methods or
// of p2p would pull in, nor the node's database (Badger).
func TestNoP2PDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %q", deps)
	}
	for _, dep := range deps {
		for _, banned := range []string{"libp2p", "quic-go", "pion", "quarrychain/quarry/p2p", "quarrychain/quarry/rpc/methods", "dgraph-io/badger"} {
			if strings.Contains(dep, banned) {
				t.Errorf("the wallet depends on %s", dep)
			}
		}
	}
}
