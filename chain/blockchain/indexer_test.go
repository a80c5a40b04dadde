package blockchain_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// waitIndexes waits until every enabled index of c is at its tip.
func waitIndexes(t *testing.T, c *blockchain.Chain) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := true
		for _, st := range c.IndexStatuses() {
			done = done && st.BestHeight == c.Best().Height
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

// A node started without its indexes refuses the queries that need them;
// restarted with them, the indexes catch up from genesis; they follow a
// reorganisation, ending as they would on a chain that only saw the winner.
func TestIndexesFollowTheChain(t *testing.T) {
	dir := t.TempDir()
	open := func(off bool) *blockchain.Chain {
		c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, DisableTxIndex: off, DisableAddrIndex: off})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open(true)
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	fork := base[len(base)-1].Hash()
	cb := g.Coinbase(base[0].Hash())
	spendA := g.SpendAll(cb, 1000)
	a := []*chain.Block{g.NextBlock(fork, spendA)}
	a = append(a, g.Chain(a[0].Hash(), 2)...)
	mustProcess(t, c, a...)
	var ie *blockchain.IndexError
	if _, _, err := c.FindTx(spendA.TxID()); !errors.As(err, &ie) || !ie.Disabled || ie.Index != blockchain.TxIndexName || !errors.Is(err, blockchain.ErrNotFound) {
		t.Fatalf("FindTx with the index off: %v", err)
	}
	if _, err := c.AddressUtxos(g.PKH); !errors.As(err, &ie) || ie.Index != blockchain.AddrIndexName {
		t.Fatalf("AddressUtxos with the index off: %v", err)
	}
	if st := c.IndexStatuses(); len(st) != 0 {
		t.Fatalf("index statuses with the indexes off: %+v", st)
	}
	c.Close()

	c = open(false)
	defer c.Close()
	waitIndexes(t, c)
	if _, loc, err := c.FindTx(spendA.TxID()); err != nil || loc.Block != a[0].Hash() {
		t.Fatalf("FindTx after catching up: %+v %v", loc, err)
	}
	for _, st := range c.IndexStatuses() {
		if !st.Synced {
			t.Fatalf("index %+v at the tip is not synced", st)
		}
	}

	spendB := g.SpendAll(cb, 5000)
	b := []*chain.Block{g.NextBlock(fork, spendB)}
	b = append(b, g.Chain(b[0].Hash(), 3)...)
	mustProcess(t, c, b...)
	// Queries wait for a synced index to apply the last blocks.
	if _, loc, err := c.FindTx(spendB.TxID()); err != nil || loc.Block != b[0].Hash() {
		t.Fatalf("FindTx of the winner's spend: %+v %v", loc, err)
	}
	if _, _, err := c.FindTx(spendA.TxID()); !errors.Is(err, blockchain.ErrNotFound) {
		t.Fatalf("FindTx of the loser's spend: %v", err)
	}
	fresh := openChain(t, t.TempDir())
	mustProcess(t, fresh, append(slices.Clone(base), b...)...)
	for _, cc := range []*blockchain.Chain{c, fresh} {
		waitIndexes(t, cc)
	}
	gotUtxos, err := c.AddressUtxos(g.PKH)
	if err != nil {
		t.Fatal(err)
	}
	wantUtxos, _ := fresh.AddressUtxos(g.PKH)
	gotTxs, _ := c.AddressTxIDs(g.PKH)
	wantTxs, _ := fresh.AddressTxIDs(g.PKH)
	if !slices.Equal(gotUtxos, wantUtxos) || !slices.Equal(gotTxs, wantTxs) || len(wantTxs) == 0 {
		t.Fatalf("address index after the reorganisation: %d utxos, %d txs; want %d, %d", len(gotUtxos), len(gotTxs), len(wantUtxos), len(wantTxs))
	}
}
