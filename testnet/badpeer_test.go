//go:build unix

package testnet

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/p2p"
)

// startAttacker runs an in-process Quarry peer, on its own chain, dialling
// target. Its own publishes skip its validators, so it can send what an honest
// node never would.
func startAttacker(t *testing.T, ctx context.Context, target *Node) *p2p.Node {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := chaintest.OpenChain(t, chain.RegtestParams)
	addr, err := target.Multiaddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := p2p.New(ctx, p2p.Config{Chain: c, Logger: quiet, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Connect: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// bannedBy waits until victim lists attacker as banned and returns the reason,
// calling offend every 200 ms meanwhile (gossip reaches a peer only once it
// has seen the peer's subscriptions).
func bannedBy(t *testing.T, ctx context.Context, victim *Node, attacker *p2p.Node, offend func(i int)) string {
	t.Helper()
	for i := 0; ctx.Err() == nil; i++ {
		offend(i)
		var bans []struct {
			Address string `json:"address"`
			Reason  string `json:"ban_reason"`
		}
		if err := victim.Call(ctx, "listbanned", nil, &bans); err != nil {
			t.Fatal(err)
		}
		for _, b := range bans {
			if b.Address == attacker.ID().String() {
				return b.Reason
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never banned the attacker", victim)
	return ""
}

// Peers publishing an invalid block and an invalid transaction are banned
// with the reason while the honest nodes keep mining and converging.
func TestE2EBadPeersBanned(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 3, Topology: Line})
	ctx := testCtx(t, 2*time.Minute)
	generate(t, ctx, tn.Node(0), 101)
	if _, err := tn.WaitForTip(ctx, 101); err != nil {
		t.Fatal(err)
	}
	victim := tn.Node(1)

	// A block with bad proof of work.
	blockAttacker := startAttacker(t, ctx, victim)
	g := chaintest.New(chain.RegtestParams)
	reason := bannedBy(t, ctx, victim, blockAttacker, func(i int) {
		b := g.NextBlock(chain.RegtestParams.GenesisHash)
		for b.Header.Nonce = uint32(i); chain.CheckProofOfWork(&b.Header, chain.RegtestParams) == nil; b.Header.Nonce++ {
		}
		blockAttacker.PublishBlock(b)
	})
	if !strings.Contains(reason, "block") {
		t.Errorf("block attacker banned for %q", reason)
	}

	// A transaction spending a real coinbase with another owner's key.
	txAttacker := startAttacker(t, ctx, victim)
	rawTx, _ := spendCoinbase(t, ctx, victim, 1, 1000)
	tx := mustDecodeTx(t, rawTx)
	thief := g.Key
	reason = bannedBy(t, ctx, victim, txAttacker, func(i int) {
		forged := *tx
		forged.LockTime = uint32(i) // a new message each time
		forged.Inputs = []chain.TxIn{{PrevOut: tx.Inputs[0].PrevOut}}
		chain.SignInput(&forged, chain.NewSigHasher(&forged, []chain.TxOut{{Value: chain.RegtestParams.Subsidy(1), PubKeyHash: chain.PubKeyHash(e2eKey.PubKey().SerializeCompressed())}}), 0, thief)
		txAttacker.PublishTx(&forged)
	})
	if !strings.Contains(reason, "transaction") {
		t.Errorf("transaction attacker banned for %q", reason)
	}

	// The honest nodes carry on.
	hashes := generate(t, ctx, tn.Node(0), 5)
	tip, err := tn.WaitForTip(ctx, 106)
	if err != nil {
		t.Fatal(err)
	}
	if tip != hashes[4] {
		t.Fatalf("nodes agree on %s, want %s", tip, hashes[4])
	}
}
