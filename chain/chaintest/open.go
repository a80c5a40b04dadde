package chaintest

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

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

// MustProcess hands blocks to c in order and fails the test at the first
// error.
func MustProcess(t testing.TB, c *blockchain.Chain, blocks ...*chain.Block) {
	t.Helper()
	for _, b := range blocks {
		if _, err := c.ProcessBlock(b); err != nil {
			height, _ := chain.CoinbaseHeight(b.Txs[0])
			t.Fatalf("block %s at height %d: %v", b.Hash(), height, err)
		}
	}
}

// WaitIndexes waits until every enabled index of c is at its tip (the same
// block, not only the same height, so that a reorganisation to a branch as
// long is waited for), failing the test after 20 s.
func WaitIndexes(t testing.TB, c *blockchain.Chain) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := true
		for _, st := range c.IndexStatuses() {
			done = done && st.BestHash == c.Best().Hash
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexes %+v did not reach the tip at %d", c.IndexStatuses(), c.Best().Height)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
