package p2p

import (
	"bufio"
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// spendingChain is a regtest chain of 101 blocks, whose first coinbases are
// mature, and three blocks on it: the first spends one coinbase, the second
// two, the third one more.
func spendingChain() (g *chaintest.Generator, base, next []*chain.Block) {
	g = chaintest.New(chain.RegtestParams)
	base = g.Chain(chain.RegtestParams.GenesisHash, 101)
	spend := func(i int) *chain.Tx { return g.SpendAll(g.Coinbase(base[i].Hash()), 1000) }
	next = append(next, g.NextBlock(base[100].Hash(), spend(0)))
	next = append(next, g.NextBlock(next[0].Hash(), spend(1), spend(2)))
	next = append(next, g.NextBlock(next[1].Hash(), spend(3)))
	return g, base, next
}

// chainWithHeaders opens a chain holding blocks and the headers of ahead,
// with --assumevalid set to assumeValid.
func chainWithHeaders(t *testing.T, assumeValid chain.Hash, blocks, ahead []*chain.Block) *blockchain.Chain {
	t.Helper()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: filepath.Join(t.TempDir(), "chain"),
		Logger: testLogger(), AssumeValid: &assumeValid})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, b := range blocks {
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AcceptHeaders(headersOf(ahead)); err != nil {
		t.Fatal(err)
	}
	return c
}

func headersOf(blocks []*chain.Block) []chain.Header {
	hs := make([]chain.Header, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Header
	}
	return hs
}

// servingAttacker starts a peer whose chain holds base and the headers of
// ahead: it claims the work of tip, answers every getheaders with headers
// and every getblocks with the bodies of ahead.
func servingAttacker(t *testing.T, base, ahead []*chain.Block, tip chain.Hash, headers []chain.Header) *Node {
	t.Helper()
	ac := chainWithHeaders(t, chain.Hash{}, base, ahead)
	claim, err := ac.BlockInfo(tip)
	if err != nil {
		t.Fatal(err)
	}
	bodies := make(map[chain.Hash]*chain.Block)
	for _, b := range ahead {
		bodies[b.Hash()] = b
	}
	att := newAttacker(t, ac)
	answerSync(att, func(s network.Stream, typ msgType, payload []byte) {
		switch typ {
		case msgStatus:
			st := statusMsg{Network: att.params.Name, Genesis: att.params.GenesisHash, Tip: claim.Hash, Height: claim.Height, Work: claim.ChainWork}
			_ = writeFrame(s, msgStatus, st.encode(syncV2))
		case msgGetHeaders:
			_ = writeFrame(s, msgHeaders, encodeHeaders(headers))
		case msgGetBlocks:
			hashes, _ := decodeGetBlocks(payload)
			w := bufio.NewWriter(s)
			for _, h := range hashes {
				_ = writeFrame(w, msgBlock, bodies[h].Encode())
			}
			_ = w.Flush()
		}
	})
	return att
}

// A peer that serves by sync a block with a false signature, behind a good
// one in the same answer, is banned by the processor, the good block
// connected and the false one not.
func TestSyncFalseSignatureBanned(t *testing.T) {
	t.Parallel()
	g, base, next := spendingChain()
	bad := g.SpendAll(g.Coinbase(base[1].Hash()), 1000)
	bad.Inputs[0].Witness = g.SpendAll(g.Coinbase(base[1].Hash()), 2000).Inputs[0].Witness
	next[1] = g.NextBlock(next[0].Hash(), bad)
	next[2] = g.NextBlock(next[1].Hash(), g.SpendAll(g.Coinbase(base[3].Hash()), 1000))

	att := servingAttacker(t, base, next, next[2].Hash(), headersOf(next))

	v := newTestNode(t, nil)
	v.process(base...)
	if err := v.node.host.Connect(context.Background(), peer.AddrInfo{ID: att.ID(), Addrs: att.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the attacker banned", func() bool { return v.node.IsBanned(att.ID()) })
	if got := v.chain.Best().Hash; got != next[0].Hash() {
		t.Errorf("tip %s, want %s, the last block before the false signature", got, next[0].Hash())
	}
}

// However many peers can serve it, sync holds at most maxQueuedBlocks
// blocks asked for and not yet processed: with the window spanning many
// branches, each peer would otherwise add two more requests of decoded
// blocks for the processor to hold.
func TestSyncQueuedBlocksBounded(t *testing.T) {
	t.Parallel()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: filepath.Join(t.TempDir(), "chain"), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Not started: no processor takes the deliveries off the queue.
	n, err := New(context.Background(), Config{Chain: c, Logger: testLogger(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	const peers, branches = 40, 8
	n.mu.Lock()
	for height := int32(1); height <= downloadWindow; height++ {
		for branch := range branches {
			n.sync.add(chain.Hash{byte(branch), byte(height), byte(height >> 8), 1}, height)
		}
	}
	for i := range peers {
		ps := n.peerLocked(peer.ID(fmt.Sprintf("peer-%d", i)))
		ps.status = statusMsg{Height: 1000, Work: big.NewInt(0)}
		ps.hasStatus = true
	}
	n.mu.Unlock()

	n.schedule()
	n.mu.Lock()
	queued := 0
	for _, d := range n.sync.deliveries {
		queued += len(d.items)
	}
	n.mu.Unlock()
	if queued == 0 || queued > maxQueuedBlocks {
		t.Fatalf("%d blocks asked for and queued for the processor, want 1 to %d", queued, maxQueuedBlocks)
	}
}

// Once a peer is banned for a block of one request, the blocks of its next
// request, already asked for and queued behind, are dropped rather than
// checked and stored on a hostile peer's word.
func TestSyncBannedPeerQueuedBlocksDropped(t *testing.T) {
	t.Parallel()
	g, base, _ := spendingChain()
	bad := g.SpendAll(g.Coinbase(base[1].Hash()), 1000)
	bad.Inputs[0].Witness = g.SpendAll(g.Coinbase(base[1].Hash()), 2000).Inputs[0].Witness
	// The false block comes first at its height, so the first request is
	// it and 15 blocks of the other branch, the second the next five.
	falseBranch := []*chain.Block{g.NextBlock(base[100].Hash(), bad)}
	other := g.Chain(base[100].Hash(), MaxBlocksPerRequest+5)
	queued := other[MaxBlocksPerRequest-1:]

	att := servingAttacker(t, base, append(slices.Clone(falseBranch), other...), other[len(other)-1].Hash(), nil)

	v := newTestNode(t, nil)
	v.process(base...)
	for _, branch := range [][]*chain.Block{falseBranch, other} {
		if err := v.node.acceptHeaders(headersOf(branch)); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.node.host.Connect(context.Background(), peer.AddrInfo{ID: att.ID(), Addrs: att.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the attacker banned", func() bool { return v.node.IsBanned(att.ID()) })
	waitFor(t, 20*time.Second, "the processor done with the attacker's requests", func() bool {
		v.node.mu.Lock()
		defer v.node.mu.Unlock()
		return v.node.sync.queuedBlocks == 0
	})
	for _, b := range queued {
		if v.chain.HaveBlock(b.Hash()) {
			t.Errorf("block %s of the banned peer's queued request was stored", b.Hash())
		}
	}
}

// The blocks of an answer go to the chain together, with those of the
// peer's next answers already read (up to maxBatchBlocks), and a false block
// among them still bans its sender: the blocks before it are connected,
// those after it are not. The false block is the fifth of the first answer,
// the third of the second, or the third of the fourth.
func TestSyncFalseBlockInAnswerBans(t *testing.T) {
	t.Parallel()
	for _, bad := range []int{4, MaxBlocksPerRequest + 2, 3*MaxBlocksPerRequest + 2} {
		t.Run(strconv.Itoa(bad), func(t *testing.T) {
			t.Parallel()
			g, base, _ := spendingChain()
			var ahead []*chain.Block
			parent := base[100].Hash()
			for i := range bad + 4 {
				tx := g.SpendAll(g.Coinbase(base[i].Hash()), 1000)
				if i == bad {
					tx.Inputs[0].Witness = g.SpendAll(g.Coinbase(base[i].Hash()), 2000).Inputs[0].Witness
				}
				ahead = append(ahead, g.NextBlock(parent, tx))
				parent = ahead[i].Hash()
			}
			att := servingAttacker(t, base, ahead, parent, nil)

			v := newTestNode(t, nil)
			v.process(base...)
			if err := v.node.acceptHeaders(headersOf(ahead)); err != nil {
				t.Fatal(err)
			}
			if err := v.node.host.Connect(context.Background(), peer.AddrInfo{ID: att.ID(), Addrs: att.host.Addrs()}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "the attacker banned", func() bool { return v.node.IsBanned(att.ID()) })
			waitTip(t, 20*time.Second, ahead[bad-1], v)
			for _, b := range ahead[bad:] {
				if !v.chain.IsKnownInvalid(b.Hash()) {
					t.Errorf("block %s, the false one or after it, is not known invalid", b.Hash())
				}
			}
		})
	}
}

// A peer that sends each block just inside the read deadline, so that it is
// never dropped as stalled, would hold the processor, and every honest
// peer's blocks queued behind, for that deadline per block. Waited for
// StallTimeout in all while another peer's blocks wait, it is dropped (not
// banned) and the honest peer's blocks reach the chain.
func TestSyncTricklingPeerDropped(t *testing.T) {
	t.Parallel()
	const stall = 2 * time.Second
	blocks := mainBlocks(4 * MaxBlocksPerRequest)
	honest := newTestNode(t, nil)
	honest.process(blocks...)
	trickler := newAttacker(t, honest.chain)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	answerSyncWithBlocks(trickler, func(s network.Stream, hashes []chain.Hash) {
		for _, h := range hashes {
			raw, _ := honest.chain.RawBlock(h)
			if writeFrame(s, msgBlock, raw) != nil {
				return
			}
			select {
			case <-release:
				return
			case <-time.After(stall * 3 / 4):
			}
		}
	})

	v := newTestNode(t, func(cfg *Config) { cfg.StallTimeout = stall })
	connect := func(p *Node) {
		if err := v.node.host.Connect(context.Background(), peer.AddrInfo{ID: p.ID(), Addrs: p.host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	// The trickler first, so that its answers are the first in the queue.
	connect(trickler)
	waitFor(t, 20*time.Second, "blocks asked of the trickler", func() bool {
		v.node.mu.Lock()
		defer v.node.mu.Unlock()
		return v.node.sync.queuedBlocks > 0
	})
	connect(honest.node)
	// The trickler alone would take 3/4 of the deadline a block for two
	// requests before the honest peer's blocks could be processed: 24 s.
	waitTip(t, 12*time.Second, blocks[len(blocks)-1], v)
	if v.node.IsBanned(trickler.ID()) {
		t.Error("a slow peer was banned")
	}
}

// Peers sending large blocks while the processor waits on an earlier
// request fill the sync queue up to its byte budget (lowered here to four
// blocks) and no further: their readers wait for room and no more is asked
// for. Once the stalling peer is dropped, by the block stall timeout (2 s,
// then raised, and relaxed again by the blocks connected), the chain takes
// every block.
func TestSyncQueueBytesBounded(t *testing.T) {
	t.Parallel()
	g := chaintest.New(chain.RegtestParams)
	blocks := make([]*chain.Block, 40)
	parent := chain.RegtestParams.GenesisHash
	for i := range blocks {
		blocks[i] = g.BuildBlock(parent, func(b *chain.Block) {
			// About 8 kB.
			b.Txs[0].Outputs = append(b.Txs[0].Outputs, make([]chain.TxOut, 300)...)
		})
		parent = blocks[i].Hash()
	}
	size := blocks[0].SerializeSize()
	src := chaintest.OpenChain(t, chain.RegtestParams)
	chaintest.MustProcess(t, src, blocks...)
	var stalled atomic.Bool
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	attackers := []*Node{newAttacker(t, src), newAttacker(t, src)}
	for _, att := range attackers {
		answerSyncWithBlocks(att, func(s network.Stream, hashes []chain.Hash) {
			if hashes[0] == blocks[0].Hash() && stalled.CompareAndSwap(false, true) {
				<-release
				return
			}
			for _, h := range hashes {
				raw, _ := src.RawBlock(h)
				if writeFrame(s, msgBlock, raw) != nil {
					return
				}
			}
		})
	}

	v := newTestNode(t, func(cfg *Config) { cfg.StallTimeout = 8 * time.Second })
	const room = 4
	v.node.mu.Lock()
	v.node.sync.maxBytes = room*size + size/2
	// Raised, as after an earlier drop: the blocks the chain takes bring it
	// back down.
	v.node.sync.blockStall = 2 * blockStallTimeout
	v.node.mu.Unlock()
	for _, att := range attackers {
		if err := v.node.host.Connect(context.Background(), peer.AddrInfo{ID: att.ID(), Addrs: att.host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	peak := 0
	waitFor(t, 30*time.Second, "the chain to take every block", func() bool {
		peak = max(peak, heldBlocks(v.node))
		return v.chain.Best().Hash == blocks[len(blocks)-1].Hash()
	})
	// The delivery the processor is on may read one block past the budget
	// (the one the chain is taking is out of the queue's channels).
	if peak < room || peak > room+1 {
		t.Fatalf("at most %d blocks of %d bytes held for the processor, want %d or %d", peak, size, room, room+1)
	}
	v.node.mu.Lock()
	stall := v.node.sync.blockStall
	v.node.mu.Unlock()
	if stall != blockStallTimeout {
		t.Errorf("block stall timeout %v after the chain took 40 blocks, want %v", stall, blockStallTimeout)
	}
}

// The processor's wait for a peer's blocks adapts as Core's: 2 s at first,
// doubled with each peer dropped for it up to StallTimeout, and 15% less
// with each block connected, back down to 2 s; never above StallTimeout.
func TestBlockStallTimeoutAdapts(t *testing.T) {
	t.Parallel()
	n := &Node{log: testLogger()}
	n.sync.init(30 * time.Second)
	var got []time.Duration
	for range 6 {
		got = append(got, n.sync.blockStall)
		n.raiseBlockStall()
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("raised: %v, want %v", got, want)
	}
	n.relaxBlockStall()
	if got, want := n.sync.blockStall, 25500*time.Millisecond; got != want {
		t.Fatalf("relaxed once from 30 s: %v, want %v", got, want)
	}
	for range 20 {
		last := n.sync.blockStall
		n.relaxBlockStall()
		if n.sync.blockStall > last || n.sync.blockStall < 2*time.Second {
			t.Fatalf("relaxed from %v to %v", last, n.sync.blockStall)
		}
	}
	if n.sync.blockStall != 2*time.Second {
		t.Fatalf("relaxed 21 times from 30 s: %v, want 2s", n.sync.blockStall)
	}

	n.sync.init(time.Second)
	n.raiseBlockStall()
	if n.sync.blockStall != time.Second {
		t.Fatalf("with StallTimeout 1 s, raised to %v", n.sync.blockStall)
	}
}

// heldBlocks counts the blocks read off sync streams that wait for n's
// processor.
func heldBlocks(n *Node) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	held := 0
	if d := n.sync.processing; d != nil {
		held += len(d.arrived)
	}
	for _, d := range n.sync.deliveries {
		held += len(d.arrived)
	}
	return held
}

// An honest peer on a slower link sends each block of its answers well
// inside the block stall timeout, but its whole answer takes longer than
// that: the processor's wait is for each block (Core's stall is of one
// block), so the peer is not dropped while another peer's blocks wait
// behind.
func TestSyncSteadyPeerNotDropped(t *testing.T) {
	t.Parallel()
	// 16 blocks a request: 4 s, twice the block stall timeout.
	steady := func(int) time.Duration { return blockStallTimeout / 8 }
	if n := slowPeerDrops(t, steady, func(int) time.Duration { return 0 }, 30*time.Second); n != 0 {
		t.Errorf("the steady peer was dropped %d times", n)
	}
}

// When our own link is slow, every peer is: a block that takes longer than
// the block stall timeout to come, while the other peer's answer is still
// coming too and the queue has room for more requests, does not stall the
// download (Core's stall is of a full download window), and its peer is not
// dropped.
func TestSyncSlowLinkPeerNotDropped(t *testing.T) {
	t.Parallel()
	first := func(i int) time.Duration {
		if i == 0 {
			return blockStallTimeout * 3 / 2
		}
		return 0
	}
	// 16 blocks a request: 4.8 s, the first not in before the slow one.
	paced := func(int) time.Duration { return blockStallTimeout * 3 / 20 }
	if n := slowPeerDrops(t, first, paced, 30*time.Second); n != 0 {
		t.Errorf("the slow peer was dropped %d times", n)
	}
}

// slowPeerDrops syncs 48 blocks, within the given time, the first requests
// from a peer sending the i-th block of each answer after slow(i), the rest
// from one sending it after other(i), and returns how many times the first
// was dropped.
func slowPeerDrops(t *testing.T, slow, other func(i int) time.Duration, within time.Duration) int32 {
	t.Helper()
	blocks := mainBlocks(3 * MaxBlocksPerRequest)
	src := chaintest.OpenChain(t, chain.RegtestParams)
	chaintest.MustProcess(t, src, blocks...)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	serving := func(delay func(int) time.Duration) *Node {
		att := newAttacker(t, src)
		answerSyncWithBlocks(att, func(s network.Stream, hashes []chain.Hash) {
			for i, h := range hashes {
				select {
				case <-release:
					return
				case <-time.After(delay(i)):
				}
				raw, _ := src.RawBlock(h)
				if writeFrame(s, msgBlock, raw) != nil {
					return
				}
			}
		})
		return att
	}
	first, second := serving(slow), serving(other)
	var dropped atomic.Int32
	first.host.Network().Notify(&network.NotifyBundle{
		DisconnectedF: func(network.Network, network.Conn) { dropped.Add(1) },
	})

	v := newTestNode(t, nil)
	connect := func(p *Node) {
		if err := v.node.host.Connect(context.Background(), peer.AddrInfo{ID: p.ID(), Addrs: p.host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	connect(first)
	waitFor(t, 20*time.Second, "blocks asked of the first peer", func() bool {
		v.node.mu.Lock()
		defer v.node.mu.Unlock()
		return v.node.sync.queuedBlocks > 0
	})
	connect(second)
	waitTip(t, within, blocks[len(blocks)-1], v)
	return dropped.Load()
}

// A block whose header is the one asked for and whose body does not decode
// passes the reader's check (the hash is of the header) and fails in the
// processor, which now decodes: its sender is banned all the same, and
// only it, and the block is fetched from the honest peer.
func TestSyncUndecodableBodyBansSender(t *testing.T) {
	t.Parallel()
	blocks := mainBlocks(2 * MaxBlocksPerRequest)
	honest := newTestNode(t, nil)
	honest.process(blocks...)
	att := newAttacker(t, honest.chain)
	answerSyncWithBlocks(att, func(s network.Stream, hashes []chain.Hash) {
		for _, h := range hashes {
			raw, _ := honest.chain.RawBlock(h)
			// The header, then a transaction count of 2^63.
			bad := append(raw[:chain.HeaderSize:chain.HeaderSize], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
			if writeFrame(s, msgBlock, bad) != nil {
				return
			}
		}
	})

	v := newTestNode(t, nil)
	if err := v.node.host.Connect(context.Background(), peer.AddrInfo{ID: att.ID(), Addrs: att.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the attacker banned", func() bool { return v.node.IsBanned(att.ID()) })
	if v.chain.Best().Height != 0 {
		t.Fatalf("the chain took %d blocks from the attacker", v.chain.Best().Height)
	}
	if err := v.node.host.Connect(context.Background(), peer.AddrInfo{ID: honest.node.ID(), Addrs: honest.node.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitTip(t, 20*time.Second, blocks[len(blocks)-1], v)
	if v.node.IsBanned(honest.node.ID()) {
		t.Error("the honest peer was banned")
	}
}

// A peer that sends nothing of its answer, while another peer's whole
// answer is in and waits behind it, stalls the download even with room in
// the queue: the blocks in wait on it, and the queue only fills up behind
// them. It is dropped after the block stall timeout (2 s), well before
// StallTimeout (30 s).
func TestSyncStallerDroppedWhileOthersWait(t *testing.T) {
	t.Parallel()
	never := func(int) time.Duration { return time.Hour }
	if n := slowPeerDrops(t, never, func(int) time.Duration { return 0 }, 15*time.Second); n == 0 {
		t.Error("the staller was not dropped")
	}
}
