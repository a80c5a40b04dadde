package wallet

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDatabaseDependency keeps the wallet, and package chain whose types
// and formats it uses, free of the node's database: the consensus types and
// rules live in chain, the Badger-backed chain state in chain/blockchain.
func TestNoDatabaseDependency(t *testing.T) {
	for _, pkg := range []string{".", "../chain"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed only %q", pkg, deps)
		}
		for _, dep := range deps {
			for _, banned := range []string{"dgraph-io/badger", "quarrychain/quarry/chain/blockchain", "quarrychain/quarry/chain/indexers"} {
				if strings.Contains(dep, banned) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
