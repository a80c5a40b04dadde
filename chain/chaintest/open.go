package chaintest

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// OpenChain opens an empty chain of params in a directory of its own under
// t.TempDir(), logging nothing, and closes it when the test ends; a failure to
// close fails the test, since it may mean the store was left inconsistent.
func OpenChain(t testing.TB, params *chain.Params) *blockchain.Chain {
	t.Helper()
	c, err := blockchain.Open(blockchain.Config{Params: params, Dir: filepath.Join(t.TempDir(), "chain"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close chain: %v", err)
		}
	})
	return c
}
