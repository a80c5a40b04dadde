package p2p

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// testLogger discards logs unless P2P_TEST_LOG names a level (debug, info,
// warn), then writes them to stderr.
func testLogger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("P2P_TEST_LOG"))); err != nil || os.Getenv("P2P_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// testPool is the mempool double: it takes every transaction that passes
// CheckTxSanity, reports others as consensus failures and repeats as policy
// ones, and records what it took.
type testPool struct {
	mu  sync.Mutex
	txs map[chain.Hash]*chain.Tx
}

var errAlreadyHave = errors.New("transaction already in the pool")

func newTestPool() *testPool { return &testPool{txs: make(map[chain.Hash]*chain.Tx)} }

func (p *testPool) Accept(tx *chain.Tx, _ string) error {
	if err := chain.CheckTxSanity(tx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id := tx.TxID()
	if _, ok := p.txs[id]; ok {
		return errAlreadyHave
	}
	p.txs[id] = tx
	return nil
}

func (p *testPool) has(id chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.txs[id]
	return ok
}

// testNode is a chain in a temporary directory and a p2p node on loopback.
type testNode struct {
	t      *testing.T
	dir    string
	params *chain.Params
	chain  *blockchain.Chain
	pool   *testPool
	node   *Node
	cfg    func(*Config)
	// prune is the chain's PruneTargetBytes.
	prune int64
}

// newTestNode starts a regtest node; cfg may adjust its configuration.
func newTestNode(t *testing.T, cfg func(*Config)) *testNode {
	t.Helper()
	return newTestNodeParams(t, chain.RegtestParams, cfg)
}

func newTestNodeParams(t *testing.T, params *chain.Params, cfg func(*Config)) *testNode {
	t.Helper()
	return startTestNode(&testNode{t: t, dir: t.TempDir(), params: params, pool: newTestPool(), cfg: cfg})
}

// newPrunedTestNode starts a regtest node in manual prune mode: it
// advertises NodeNetworkLimited alone.
func newPrunedTestNode(t *testing.T, cfg func(*Config)) *testNode {
	t.Helper()
	return startTestNode(&testNode{t: t, dir: t.TempDir(), params: chain.RegtestParams, pool: newTestPool(), cfg: cfg, prune: blockchain.PruneManual})
}

func startTestNode(tn *testNode) *testNode {
	tn.t.Helper()
	tn.start()
	tn.t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) start() {
	t := tn.t
	t.Helper()
	c, err := blockchain.Open(blockchain.Config{Params: tn.params, Dir: filepath.Join(tn.dir, "chain"), Logger: testLogger(), PruneTargetBytes: tn.prune})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Chain:          c,
		TxPool:         tn.pool,
		Logger:         testLogger(),
		KeyFile:        filepath.Join(tn.dir, "p2p.key"),
		BanFile:        filepath.Join(tn.dir, "banlist.json"),
		ListenAddrs:    []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		StatusInterval: 2 * time.Second,
	}
	if tn.cfg != nil {
		tn.cfg(&cfg)
	}
	n, err := New(context.Background(), cfg)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		c.Close()
		t.Fatal(err)
	}
	tn.chain, tn.node = c, n
}

// stop closes the node and then its chain; it may be called twice.
func (tn *testNode) stop() {
	if tn.node == nil {
		return
	}
	if err := tn.node.Close(); err != nil {
		tn.t.Errorf("close node: %v", err)
	}
	if err := tn.chain.Close(); err != nil {
		tn.t.Errorf("close chain: %v", err)
	}
	tn.node, tn.chain = nil, nil
}

// addr is the node's TCP address.
func (tn *testNode) addr() string {
	tn.t.Helper()
	for _, a := range tn.node.LocalAddrs() {
		if strings.Contains(a, "/tcp/") {
			return a
		}
	}
	tn.t.Fatalf("no TCP address among %v", tn.node.LocalAddrs())
	return ""
}

// keep makes tn keep a connection to other, as --connect does.
func (tn *testNode) keep(other *testNode) {
	tn.t.Helper()
	if err := tn.node.AddPeer(other.addr()); err != nil {
		tn.t.Fatal(err)
	}
}

// ready reports whether tn has exchanged status with every peer in others.
func (tn *testNode) ready(others ...*testNode) bool {
	tn.node.mu.Lock()
	defer tn.node.mu.Unlock()
	for _, o := range others {
		ps := tn.node.peers[o.node.ID()]
		if ps == nil || !ps.hasStatus {
			return false
		}
	}
	return true
}

// gossipReady reports whether every peer in others is in tn's mesh of both
// topics, so messages relayed by tn reach them.
func (tn *testNode) gossipReady(others ...*testNode) bool {
	tn.node.mu.Lock()
	defer tn.node.mu.Unlock()
	for _, o := range others {
		m := tn.node.mesh[o.node.ID()]
		if !m[tn.node.blockTopicName()] || !m[tn.node.txTopicName()] {
			return false
		}
	}
	return true
}

func (tn *testNode) connectedTo(other *testNode) bool {
	return tn.node.host.Network().Connectedness(other.node.ID()) == network.Connected
}

// process feeds blocks to tn's chain directly, as a miner would.
func (tn *testNode) process(blocks ...*chain.Block) {
	tn.t.Helper()
	for _, b := range blocks {
		if _, err := tn.chain.ProcessBlock(b); err != nil {
			tn.t.Fatalf("process block %s: %v", b.Hash(), err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitTip waits until every node's tip is want.
func waitTip(t *testing.T, timeout time.Duration, want *chain.Block, nodes ...*testNode) {
	t.Helper()
	hash := want.Hash()
	waitFor(t, timeout, "every node at block "+hash.String(), func() bool {
		for _, n := range nodes {
			if n.chain.Best().Hash != hash {
				return false
			}
		}
		return true
	})
}

// sharedGen hands out one generator per test binary: solving blocks is the
// slow part of building them, so tests reuse one long chain.
var (
	genOnce   sync.Once
	gen       *chaintest.Generator
	genBlocks []*chain.Block
	genMu     sync.Mutex
)

// mainBlocks returns the first n blocks of the shared regtest chain.
func mainBlocks(n int) []*chain.Block {
	genMu.Lock()
	defer genMu.Unlock()
	genOnce.Do(func() { gen = chaintest.New(chain.RegtestParams) })
	for len(genBlocks) < n {
		parent := chain.RegtestParams.GenesisHash
		if len(genBlocks) > 0 {
			parent = genBlocks[len(genBlocks)-1].Hash()
		}
		genBlocks = append(genBlocks, gen.NextBlock(parent))
	}
	return genBlocks[:n:n]
}

// withGen runs f with the shared generator, which is not safe for concurrent use.
func withGen(f func(g *chaintest.Generator)) {
	mainBlocks(0)
	genMu.Lock()
	defer genMu.Unlock()
	f(gen)
}

// answerSync replaces n's handler of the newest sync protocol version, which
// its peers speak, with answer, which gets each request read off its stream;
// the stream is closed after.
func answerSync(n *Node, answer func(s network.Stream, typ msgType, payload []byte)) {
	n.host.SetStreamHandler(n.protos[0], func(s network.Stream) {
		defer s.Close()
		if typ, payload, ok := readSyncRequest(s); ok {
			answer(s, typ, payload)
		}
	})
}

// readSyncRequest reads the request on a sync stream a test peer serves,
// within 10 s; it resets the stream if it cannot.
func readSyncRequest(s network.Stream) (msgType, []byte, bool) {
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	t, payload, err := readFrame(bufio.NewReader(s), msgStatus, msgGetHeaders, msgGetBlocks)
	if err != nil {
		_ = s.Reset()
		return 0, nil, false
	}
	return t, payload, true
}

// answerSyncWithBlocks makes n answer status and getheaders requests from
// its chain, as an honest peer, and getblocks with getBlocks.
func answerSyncWithBlocks(n *Node, getBlocks func(s network.Stream, hashes []chain.Hash)) {
	answerSync(n, func(s network.Stream, typ msgType, payload []byte) {
		switch typ {
		case msgStatus:
			st := n.ourStatus()
			_ = writeFrame(s, msgStatus, st.encode(syncV2))
		case msgGetHeaders:
			m, _ := decodeGetHeaders(payload)
			_ = writeFrame(s, msgHeaders, encodeHeaders(n.chain.HeadersAfter(m.Locator, m.Stop, MaxHeadersPerMsg)))
		case msgGetBlocks:
			hashes, _ := decodeGetBlocks(payload)
			getBlocks(s, hashes)
		}
	})
}
