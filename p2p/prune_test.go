package p2p

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// getBlocksFrom asks p for blocks over n's sync protocol and returns how
// many came as blocks.
func getBlocksFrom(n *Node, p peer.ID, hashes []chain.Hash) (int, error) {
	got := 0
	req := encodeGetBlocks(hashes)
	err := n.request(p, msgGetBlocks, func(syncVersion) []byte { return req }, 5*time.Second, func(_ network.Stream, r *bufio.Reader, _ syncVersion) error {
		for range hashes {
			t, _, err := readFrame(r, msgBlock, msgNotFound)
			if err != nil {
				return err
			}
			if t == msgBlock {
				got++
			}
		}
		return nil
	})
	return got, err
}

// A node in prune mode advertises NETWORK_LIMITED alone (a full node both,
// as Core's, and serves any block), serves the blocks of its last 288 (and
// Core's two more for races), and drops a peer asking for one deeper,
// stored or not, as Core does.
func TestPrunedNodeServesOnlyItsLastBlocks(t *testing.T) {
	blocks := mainBlocks(300)
	pruned := newPrunedTestNode(t, nil)
	full := newTestNode(t, nil)
	pruned.process(blocks...)
	full.process(blocks...)
	if got, want := pruned.node.LocalServices(), NodeNetworkLimited; got != want {
		t.Fatalf("pruned node advertises %v, want %v", got.Names(), want.Names())
	}
	if got, want := full.node.LocalServices(), NodeNetwork|NodeNetworkLimited; got != want {
		t.Fatalf("full node advertises %v, want %v", got.Names(), want.Names())
	}
	// Dialled once, not kept: a kept peer would be dialled again at once.
	if err := full.node.DialOnce(pruned.addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "status exchange", func() bool { return full.ready(pruned) && pruned.ready(full) })
	seen := map[string]PeerInfo{}
	for _, p := range full.node.Peers() {
		seen[p.ID] = p
	}
	// The services come with version 2 of the sync protocol, which both speak.
	if got := seen[pruned.node.ID().String()]; got.Services != NodeNetworkLimited || got.SyncVersion != SyncProtocolVersion {
		t.Fatalf("the full node sees the pruned node's services as %v, on sync version %d", got.Services.Names(), got.SyncVersion)
	}
	if n, err := getBlocksFrom(pruned.node, full.node.ID(), []chain.Hash{blocks[0].Hash()}); err != nil || n != 1 {
		t.Fatalf("block at height 1 from the full node: %d served, %v", n, err)
	}

	// Height 10 is 290 below the tip, the deepest served; 9 is one deeper.
	if n, err := getBlocksFrom(full.node, pruned.node.ID(), []chain.Hash{blocks[9].Hash(), blocks[299].Hash()}); err != nil || n != 2 {
		t.Fatalf("blocks at heights 10 and 300 from the pruned node: %d served, %v", n, err)
	}
	if n, err := getBlocksFrom(full.node, pruned.node.ID(), []chain.Hash{blocks[299].Hash(), blocks[8].Hash()}); err == nil {
		t.Fatalf("block at height 9, stored but below the window, answered (%d blocks)", n)
	}
	waitFor(t, 10*time.Second, "the pruned node to drop the peer", func() bool { return !full.connectedTo(pruned) })
}

// syncLog collects a node's logs at debug level.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// prunedTo10 starts a node in prune mode, logging at debug level, with the
// first 300 shared blocks, pruned up to height 10.
func prunedTo10(t *testing.T) ([]*chain.Block, *testNode, *syncLog) {
	t.Helper()
	blocks := mainBlocks(300)
	log := new(syncLog)
	pruned := newPrunedTestNode(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	pruned.process(blocks...)
	if last, err := pruned.chain.PruneBlockchain(10); err != nil || last != 10 {
		t.Fatalf("PruneBlockchain(10) = %d, %v", last, err)
	}
	return blocks, pruned, log
}

// A node catching up takes headers from a pruned peer, and from it only the
// blocks in its window: asked for deeper ones the peer would drop it. It
// gets the rest from a full peer once one comes.
func TestSyncAsksPrunedPeerOnlyItsWindow(t *testing.T) {
	blocks, pruned, prunedLog := prunedTo10(t)
	fresh := newTestNode(t, nil)
	fresh.keep(pruned)
	// Height 15 is the lowest in the pruned peer's window as fresh sees it
	// (Core's 288 less two), 128 the highest of fresh's download window.
	waitFor(t, 20*time.Second, "headers from the pruned peer and the blocks of its window", func() bool {
		return fresh.chain.BestHeaderHeight() == 300 && fresh.chain.HaveBlock(blocks[14].Hash()) && fresh.chain.HaveBlock(blocks[127].Hash())
	})
	for _, b := range blocks[:14] {
		if fresh.chain.HaveBlock(b.Hash()) {
			t.Fatalf("block %s below the pruned peer's window was fetched", b.Hash())
		}
	}
	if fresh.chain.Best().Height != 0 {
		t.Fatalf("tip at %d without blocks 1 to 14", fresh.chain.Best().Height)
	}

	full := newTestNode(t, nil)
	full.process(blocks...)
	fresh.keep(full)
	waitTip(t, 30*time.Second, blocks[299], fresh)
	if n := prunedLog.count(errBeyondLimitedWindow.Error()); n != 0 || !fresh.connectedTo(pruned) {
		t.Fatalf("the pruned peer refused %d requests below its window (connected: %v)", n, fresh.connectedTo(pruned))
	}
}

// A gossiped block of a branch that forks below a pruned node's pruned
// blocks is ignored (stored, not relayed) without an error in the log: the
// chain warned once that it cannot follow that branch, and the sender did
// nothing wrong.
func TestGossipedBlockBeyondPruneIgnored(t *testing.T) {
	blocks, pruned, log, branch := prunedWithBranch(t)
	msg := &pubsub.Message{Message: &pb.Message{Data: branch[295].Encode()}, ReceivedFrom: randomPeer(t)}
	if got := pruned.node.validateBlock(context.Background(), msg.ReceivedFrom, msg); got != pubsub.ValidationIgnore {
		t.Fatalf("verdict %v, want ignore", got)
	}
	if !pruned.chain.HaveBlock(branch[295].Hash()) || pruned.chain.Best().Hash != blocks[299].Hash() {
		t.Fatalf("branch block stored: %v; tip %s, want the old tip", pruned.chain.HaveBlock(branch[295].Hash()), pruned.chain.Best().Hash)
	}
	if n := log.count("level=ERROR"); n != 0 {
		t.Fatalf("%d errors logged", n)
	}
}

// prunedWithBranch is prunedTo10 with a branch forking at height 5 stored
// up to height 300, as much work as the tip, and its block 301 returned
// last, not processed: the block that would make the branch the best.
func prunedWithBranch(t *testing.T) ([]*chain.Block, *testNode, *syncLog, []*chain.Block) {
	t.Helper()
	blocks, pruned, log := prunedTo10(t)
	var branch []*chain.Block
	withGen(func(g *chaintest.Generator) { branch = g.Chain(blocks[4].Hash(), 296) }) // heights 6 to 301
	pruned.process(branch[:295]...)
	return blocks, pruned, log, branch
}

// A synced block of a branch that forks below the pruned blocks is no
// failure of the peer that served it: before, it aborted the rest of the
// peer's answer and paused the peer, one block a round trip.
func TestSyncedBlockBeyondPruneNoFailure(t *testing.T) {
	blocks, pruned, _, branch := prunedWithBranch(t)
	if err := pruned.node.processSynced(branch[295])[0]; err != nil {
		t.Fatalf("synced block of the refused branch: %v, want no failure", err)
	}
	if !pruned.chain.HaveBlock(branch[295].Hash()) || pruned.chain.Best().Hash != blocks[299].Hash() {
		t.Fatalf("branch block stored: %v; tip %s, want the old tip", pruned.chain.HaveBlock(branch[295].Hash()), pruned.chain.Best().Hash)
	}
}

// Blocks are asked of full peers first, even busier ones, then of limited
// peers.
func TestBlockSourceOrderPrefersFullPeers(t *testing.T) {
	peer := func(s ServiceFlags, inFlight int) *peerState {
		return &peerState{status: statusMsg{Services: s}, blocksInFlight: inFlight}
	}
	limitedIdle, fullBusy, fullIdle := peer(NodeNetworkLimited, 0), peer(NodeNetwork|NodeNetworkLimited, 1), peer(NodeNetwork|NodeNetworkLimited, 0)
	peers := []*peerState{limitedIdle, fullBusy, fullIdle}
	slices.SortFunc(peers, blockSourceOrder)
	if peers[0] != fullIdle || peers[1] != fullBusy || peers[2] != limitedIdle {
		t.Fatalf("order %+v, want the idle full peer, the busy full peer, the limited peer", peers)
	}
}

// A peer asking a pruned node for a block in the window of the tip the
// node last told it, which the node has since moved past, did nothing
// wrong: the block is withheld (notfound), the peer is not dropped. Asking
// below the told window still drops it, whichever protocol version it asks
// in, unless the status it was told went in version 1 of the sync protocol:
// it cannot know the node is pruned, and every block below the window is
// withheld.
func TestLimitedWindowFollowsToldTip(t *testing.T) {
	blocks := mainBlocks(306)
	pruned := newPrunedTestNode(t, nil)
	pruned.process(blocks...)
	p := randomPeer(t)
	tell := func(v syncVersion) {
		pruned.node.mu.Lock()
		ps := pruned.node.peerLocked(p)
		ps.toldHeight, ps.toldVersion = 300, v
		pruned.node.mu.Unlock()
	}
	tell(syncV2)
	// Height 15 is the lowest a peer told 300 asks for (Core's 288 less
	// two); 16 the lowest the tip at 306 serves.
	withheld, err := pruned.node.checkLimitedWindow(p, []chain.Hash{blocks[14].Hash(), blocks[15].Hash()})
	if err != nil || len(withheld) != 2 || !withheld[0] || withheld[1] {
		t.Fatalf("heights 15 and 16 after telling 300, tip 306: withheld %v, %v; want the first withheld, no error", withheld, err)
	}
	deep := []chain.Hash{blocks[8].Hash(), blocks[15].Hash()}
	if _, err := pruned.node.checkLimitedWindow(p, deep); !errors.Is(err, errBeyondLimitedWindow) {
		t.Fatalf("height 9 after telling 300: %v, want %v", err, errBeyondLimitedWindow)
	}
	tell(syncV1)
	withheld, err = pruned.node.checkLimitedWindow(p, deep)
	if err != nil || len(withheld) != 2 || !withheld[0] || withheld[1] {
		t.Fatalf("heights 9 and 16 after a version 1 status: withheld %v, %v; want the first withheld, no error", withheld, err)
	}
}
