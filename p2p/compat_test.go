package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// encodeOldStatus and decodeOldStatus are the status as nodes built before
// the services had it (git show f028ae3~1:p2p/wire.go), kept here as it was
// rather than taken from today's code: such a node refuses a status with
// bytes after the chain work, and bans its sender.
func encodeOldStatus(m statusMsg) []byte {
	work := m.Work.Bytes()
	b := binary.AppendUvarint(nil, uint64(len(m.Network)))
	b = append(b, m.Network...)
	b = append(b, m.Genesis[:]...)
	b = append(b, m.Tip[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(m.Height))
	b = binary.AppendUvarint(b, uint64(len(work)))
	return append(b, work...)
}

func decodeOldStatus(b []byte) (statusMsg, error) {
	d := decoder{buf: b}
	var m statusMsg
	m.Network = string(d.bytes("network name", maxNetworkName))
	m.Genesis = d.hash("genesis hash")
	m.Tip = d.hash("tip hash")
	m.Height = int32(d.uint32("height"))
	work := d.bytes("chain work", maxWorkBytes)
	if d.err == nil && len(work) > 0 && work[0] == 0 {
		d.fail("chain work has a leading zero byte")
	}
	if d.err == nil && m.Height < 0 {
		d.fail("negative height %d", m.Height)
	}
	m.Work = new(big.Int).SetBytes(work)
	return m, d.finish()
}

// oldPeer is a node built before version 2 of the sync protocol: a libp2p
// host speaking only /quarry/regtest/sync/1, with that time's status,
// serving its chain and syncing from others.
type oldPeer struct {
	t     *testing.T
	host  host.Host
	chain *blockchain.Chain
	proto protocol.ID
	// refused counts the statuses it could not read: it would have banned
	// their senders.
	refused atomic.Int64
}

func newOldPeer(t *testing.T) *oldPeer {
	t.Helper()
	op := &oldPeer{t: t, chain: chaintest.OpenChain(t, chain.RegtestParams), proto: "/quarry/regtest/sync/1"}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	op.host = h
	h.SetStreamHandler(op.proto, op.serve)
	return op
}

func (op *oldPeer) addr() string {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: op.host.ID(), Addrs: op.host.Addrs()})
	if err != nil {
		op.t.Fatal(err)
	}
	return addrs[0].String()
}

func (op *oldPeer) status() statusMsg {
	best := op.chain.Best()
	return statusMsg{Network: "regtest", Genesis: chain.RegtestParams.GenesisHash, Tip: best.Hash, Height: best.Height, Work: best.ChainWork}
}

func (op *oldPeer) serve(s network.Stream) {
	defer s.Close()
	t, payload, ok := readSyncRequest(s)
	if !ok {
		return
	}
	switch t {
	case msgStatus:
		if _, err := decodeOldStatus(payload); err != nil {
			op.refused.Add(1)
			_ = s.Reset()
			return
		}
		_ = writeFrame(s, msgStatus, encodeOldStatus(op.status()))
	case msgGetHeaders:
		gh, _ := decodeGetHeaders(payload)
		_ = writeFrame(s, msgHeaders, encodeHeaders(op.chain.HeadersAfter(gh.Locator, gh.Stop, MaxHeadersPerMsg)))
	case msgGetBlocks:
		hashes, _ := decodeGetBlocks(payload)
		for _, h := range hashes {
			raw, err := op.chain.RawBlock(h)
			if err != nil {
				err = writeFrame(s, msgNotFound, h[:])
			} else {
				err = writeFrame(s, msgBlock, raw)
			}
			if err != nil {
				return
			}
		}
	}
}

// ask sends p one request on /sync/1 and returns the payloads of the
// answer's frames, n of them.
func (op *oldPeer) ask(p peer.ID, t msgType, payload []byte, n int, allowed msgType) [][]byte {
	op.t.Helper()
	s, err := op.host.NewStream(context.Background(), p, op.proto)
	if err != nil {
		op.t.Fatalf("open %s stream: %v", op.proto, err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeFrame(s, t, payload); err != nil {
		op.t.Fatal(err)
	}
	_ = s.CloseWrite()
	r := bufio.NewReader(s)
	var out [][]byte
	for range n {
		_, payload, err := readFrame(r, allowed)
		if err != nil {
			op.t.Fatalf("%s answer: %v", t, err)
		}
		out = append(out, payload)
	}
	return out
}

// syncFrom catches up with p as an old node did: status, headers, blocks.
func (op *oldPeer) syncFrom(p peer.ID) {
	t := op.t
	t.Helper()
	for {
		st, err := decodeOldStatus(op.ask(p, msgStatus, encodeOldStatus(op.status()), 1, msgStatus)[0])
		if err != nil {
			t.Fatalf("the old node cannot read the status on %s (and would ban its sender): %v", op.proto, err)
		}
		if st.Tip == op.chain.Best().Hash {
			return
		}
		req := getHeadersMsg{Locator: op.chain.BlockLocator()}
		hs, err := decodeHeaders(op.ask(p, msgGetHeaders, req.encode(), 1, msgHeaders)[0])
		if err != nil || len(hs) == 0 {
			t.Fatalf("headers after our tip: %d, %v", len(hs), err)
		}
		for len(hs) > 0 {
			batch := hs[:min(len(hs), MaxBlocksPerRequest)]
			hs = hs[len(batch):]
			hashes := make([]chain.Hash, len(batch))
			for i := range batch {
				hashes[i] = batch[i].Hash()
			}
			for _, raw := range op.ask(p, msgGetBlocks, encodeGetBlocks(hashes), len(hashes), msgBlock) {
				b, err := decodeBlockMsg(raw)
				if err != nil {
					t.Fatal(err)
				}
				chaintest.MustProcess(t, op.chain, b)
			}
		}
	}
}

// A node built before sync/2 speaks only /sync/1 and refuses a status with
// services: a new node syncs from it, speaking /sync/1 and taking it for a
// full node, and it syncs from the new node; neither side refuses or bans
// the other.
func TestSyncWithVersion1Peer(t *testing.T) {
	t.Parallel()
	blocks := mainBlocks(30)
	old := newOldPeer(t)
	chaintest.MustProcess(t, old.chain, blocks[:20]...)
	fresh := newTestNode(t, nil)
	// Not kept: a kept peer is never banned.
	if err := fresh.node.DialOnce(old.addr()); err != nil {
		t.Fatal(err)
	}
	waitTip(t, 20*time.Second, blocks[19], fresh)
	var info PeerInfo
	for _, p := range fresh.node.Peers() {
		if p.ID == old.host.ID().String() {
			info = p
		}
	}
	if info.SyncVersion != 1 || info.Services != NodeNetwork {
		t.Errorf("the old peer: sync version %d, services %v; want 1 and NETWORK", info.SyncVersion, info.Services.Names())
	}

	fresh.process(blocks[20:]...)
	old.syncFrom(fresh.node.ID())
	if got := old.chain.Best().Hash; got != blocks[29].Hash() {
		t.Fatalf("the old node synced to %s, want %s", got, blocks[29].Hash())
	}
	if n := old.refused.Load(); n != 0 {
		t.Errorf("the old node refused %d statuses of the new one", n)
	}
	if fresh.node.IsBanned(old.host.ID()) || fresh.node.host.Network().Connectedness(old.host.ID()) != network.Connected {
		t.Error("the new node banned or dropped the old one")
	}
}

// A peer may open at most 8 sync streams to the node at once, on whichever
// versions: the resource manager's limit is of each protocol ID, and the
// two versions would otherwise give each peer 16 requests waiting to be
// read and answered, twice what it had before version 2.
func TestSyncStreamsBoundAcrossVersions(t *testing.T) {
	t.Parallel()
	v := newTestNode(t, nil)
	op := newOldPeer(t)
	ctx := context.Background()
	if err := op.host.Connect(ctx, peer.AddrInfo{ID: v.node.ID(), Addrs: v.node.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	var held []network.Stream
	t.Cleanup(func() {
		for _, s := range held {
			_ = s.Reset()
		}
	})
	for range 8 {
		s, err := op.host.NewStream(ctx, v.node.ID(), v.node.protos[0])
		if err != nil {
			t.Fatal(err)
		}
		// The first byte of a two-byte frame length, and no more.
		if _, err := s.Write([]byte{0x80}); err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	waitFor(t, 10*time.Second, "eight sync streams served", func() bool { return servedSyncStreams(v.node) == 8 })

	s, err := op.host.NewStream(ctx, v.node.ID(), op.proto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeFrame(s, msgStatus, encodeOldStatus(op.status())); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	if _, _, err := readFrame(bufio.NewReader(s), msgStatus); err == nil {
		t.Fatal("a ninth sync stream, on /sync/1, was answered")
	}
	if v.node.IsBanned(op.host.ID()) {
		t.Fatal("the peer was banned for a stream over the limit")
	}
	// Streams given back, the peer is answered again.
	for _, s := range held {
		_ = s.Reset()
	}
	held = nil
	waitFor(t, 10*time.Second, "the held streams given back", func() bool { return servedSyncStreams(v.node) == 0 })
	if got := op.ask(v.node.ID(), msgStatus, encodeOldStatus(op.status()), 1, msgStatus); len(got) != 1 {
		t.Fatalf("%d statuses", len(got))
	}
}

// servedSyncStreams counts the sync streams n serves.
func servedSyncStreams(n *Node) int {
	var streams int
	_ = n.host.Network().ResourceManager().ViewService(syncService, func(s network.ServiceScope) error {
		streams = s.Stat().NumStreamsInbound
		return nil
	})
	return streams
}
