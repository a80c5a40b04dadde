package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// TestSyncLateJoiner starts a node from nothing next to two peers 1,000
// blocks ahead: it fetches headers from one and bodies from both.
func TestSyncLateJoiner(t *testing.T) {
	t.Parallel()
	blocks := mainBlocks(1000)
	a := newTestNode(t, nil)
	b := newTestNode(t, nil)
	a.process(blocks...)
	b.process(blocks...)
	b.keep(a)

	start := time.Now()
	c := newTestNode(t, nil)
	c.keep(a)
	c.keep(b)
	waitTip(t, 40*time.Second, blocks[len(blocks)-1], c)
	t.Logf("synced %d blocks in %v", len(blocks), time.Since(start))
	// Bodies came from both peers: each sent a good share of the ~250 kB
	// (the meters are updated every second).
	waitFor(t, 5*time.Second, "both peers to have served blocks", func() bool {
		return a.node.bw.GetBandwidthForPeer(c.node.ID()).TotalOut > 30_000 &&
			b.node.bw.GetBandwidthForPeer(c.node.ID()).TotalOut > 30_000
	})
	if sp := c.node.SyncProgress(); sp.InitialBlockDownload || sp.Progress != 1 || sp.Height != 1000 {
		t.Errorf("progress after sync: %+v", sp)
	}
}

// TestSyncAfterOffline stops a node while its peer gains 200 blocks; on
// restart it catches up, keeping its identity.
func TestSyncAfterOffline(t *testing.T) {
	t.Parallel()
	blocks := mainBlocks(210)
	a := newTestNode(t, nil)
	b := newTestNode(t, nil)
	a.process(blocks[:10]...)
	b.keep(a)
	waitTip(t, 10*time.Second, blocks[9], a, b)

	id := b.node.ID()
	b.stop()
	a.process(blocks[10:]...)
	b.start()
	if b.node.ID() != id {
		t.Errorf("peer id changed across restart: %s, was %s", b.node.ID(), id)
	}
	b.keep(a)
	waitTip(t, 20*time.Second, blocks[209], b)
}

// TestSyncMissedGossip gives a node a block nobody gossips: its peer learns
// of it from the periodic status exchange.
func TestSyncMissedGossip(t *testing.T) {
	t.Parallel()
	blocks := mainBlocks(3)
	a := newTestNode(t, nil)
	b := newTestNode(t, nil)
	b.keep(a)
	waitFor(t, 10*time.Second, "handshake", func() bool { return a.ready(b) && b.ready(a) })
	a.process(blocks...)
	waitTip(t, 10*time.Second, blocks[2], b)
}

// TestSyncStalledPeer syncs from an honest peer and one that answers status
// and headers but never sends a block: the staller is dropped, not banned,
// and its share of the blocks comes from the honest peer.
func TestSyncStalledPeer(t *testing.T) {
	t.Parallel()
	blocks := mainBlocks(300)
	a := newTestNode(t, nil)
	a.process(blocks...)
	staller := newAttacker(t, a.chain)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	answerSyncWithBlocks(staller, func(network.Stream, []chain.Hash) {
		// Hold the stream open, sending nothing.
		<-release
	})

	c := newTestNode(t, func(cfg *Config) { cfg.StallTimeout = time.Second })
	for _, p := range []*Node{staller, a.node} {
		if err := c.node.host.Connect(context.Background(), peer.AddrInfo{ID: p.ID(), Addrs: p.host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	waitTip(t, 20*time.Second, blocks[len(blocks)-1], c)
	waitFor(t, 10*time.Second, "staller dropped", func() bool {
		return c.node.host.Network().Connectedness(staller.ID()) != network.Connected
	})
	if c.node.IsBanned(staller.ID()) {
		t.Error("a stalled peer was banned")
	}
}
