package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// newAttacker starts a node on chain c that the test drives by hand: its own
// publishes skip validation, so it can put anything on the topics.
func newAttacker(t *testing.T, c *blockchain.Chain) *Node {
	t.Helper()
	n, err := New(context.Background(), Config{
		Chain:          c,
		Logger:         testLogger(),
		ListenAddrs:    []string{"/ip4/127.0.0.1/tcp/0"},
		StatusInterval: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// attach connects the attacker to victim and waits until each side has the
// other's status and the attacker knows victim's subscriptions.
func attach(t *testing.T, att *Node, victim *testNode) {
	t.Helper()
	info := peer.AddrInfo{ID: victim.node.ID(), Addrs: victim.node.host.Addrs()}
	if err := att.host.Connect(context.Background(), info); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "attacker attached", func() bool {
		victim.node.mu.Lock()
		ps := victim.node.peers[att.ID()]
		ok := ps != nil && ps.hasStatus
		victim.node.mu.Unlock()
		return ok && hasPeer(att.blockTopic.ListPeers(), victim.node.ID()) && hasPeer(att.txTopic.ListPeers(), victim.node.ID())
	})
}

func hasPeer(ps []peer.ID, p peer.ID) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// waitBanned waits until victim has banned and dropped the attacker, and
// checks the ban's reason.
func waitBanned(t *testing.T, victim *testNode, att *Node, reason string) {
	t.Helper()
	waitFor(t, 10*time.Second, "ban for "+reason, func() bool {
		return victim.node.IsBanned(att.ID()) && victim.node.host.Network().Connectedness(att.ID()) != network.Connected
	})
	for _, b := range victim.node.ListBanned() {
		if b.Peer == att.ID() {
			if !strings.Contains(b.Reason, reason) {
				t.Errorf("ban reason %q, want it to mention %q", b.Reason, reason)
			}
			if d := time.Until(b.Until); d < 23*time.Hour || d > 25*time.Hour {
				t.Errorf("ban lasts %v, want 24h", d)
			}
			return
		}
	}
	t.Errorf("attacker %s not in ListBanned", att.ID())
}

func publishRaw(t *testing.T, topic *pubsub.Topic, data []byte) {
	t.Helper()
	if err := topic.Publish(context.Background(), data, pubsub.WithValidatorData(localPublish{})); err != nil {
		t.Fatal(err)
	}
}

// sendRaw opens a sync stream from the attacker to victim and writes raw bytes.
func sendRaw(t *testing.T, att *Node, victim *testNode, raw []byte) {
	t.Helper()
	s, err := att.host.NewStream(context.Background(), victim.node.ID(), att.protos[0])
	if err != nil {
		t.Fatal(err)
	}
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write(raw); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	// Wait for the victim to hang up.
	_, _ = bufio.NewReader(s).ReadByte()
	_ = s.Close()
}

func frame(t msgType, payload []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(payload)+1))
	b = append(b, byte(t))
	return append(b, payload...)
}

// TestBans has attackers send the victim invalid blocks and transactions,
// junk on the topics and broken sync messages: each is banned, the ban
// survives a restart, and the honest nodes keep converging.
func TestBans(t *testing.T) {
	t.Parallel()
	blocks := mainBlocks(4)
	victim := newTestNode(t, nil)
	left := newTestNode(t, nil)
	right := newTestNode(t, nil)
	left.keep(victim)
	right.keep(victim)
	victim.process(blocks[:2]...)
	waitTip(t, 10*time.Second, blocks[1], victim, left, right)
	attackerChain := chaintest.OpenChain(t, chain.RegtestParams)

	var badValue, badPoW *chain.Block
	var badTx, goodTx, knownTx *chain.Tx
	withGen(func(g *chaintest.Generator) {
		badValue = g.BuildBlock(blocks[1].Hash(), func(b *chain.Block) { b.Txs[0].Outputs[0].Value++ })
		bad := *blocks[2]
		for bad.Header.Nonce = 0; chain.CheckProofOfWork(&bad.Header, chain.RegtestParams) == nil; bad.Header.Nonce++ {
		}
		badPoW = &bad
		badTx = &chain.Tx{Version: 1, Inputs: []chain.TxIn{{PrevOut: g.Coinbase(blocks[0].Hash())}}}
		goodTx = g.SpendAll(g.Coinbase(blocks[0].Hash()), 500)
		knownTx = g.SpendAll(g.Coinbase(blocks[1].Hash()), 500)
	})
	if err := victim.pool.Accept(knownTx, "rpc"); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, reason string
		attack       func(t *testing.T, att *Node)
	}{
		{"invalid block", "invalid block", func(t *testing.T, att *Node) { publishRaw(t, att.blockTopic, badValue.Encode()) }},
		{"bad proof of work", "fails its proof of work", func(t *testing.T, att *Node) { publishRaw(t, att.blockTopic, badPoW.Encode()) }},
		{"garbage block", "undecodable block", func(t *testing.T, att *Node) { publishRaw(t, att.blockTopic, []byte("not a block at all")) }},
		{"garbage transaction", "undecodable transaction", func(t *testing.T, att *Node) { publishRaw(t, att.txTopic, []byte{1, 2, 3}) }},
		{"invalid transaction", "invalid transaction", func(t *testing.T, att *Node) { publishRaw(t, att.txTopic, txMessage(badTx)) }},
		{"unknown message type", "unknown message type", func(t *testing.T, att *Node) { sendRaw(t, att, victim, frame(0x7f, nil)) }},
		{"oversized message", "over the", func(t *testing.T, att *Node) {
			sendRaw(t, att, victim, append(binary.AppendUvarint(nil, 10<<20), byte(msgGetHeaders)))
		}},
		{"unsolicited message", "unexpected headers", func(t *testing.T, att *Node) { sendRaw(t, att, victim, frame(msgHeaders, []byte{0})) }},
		{"malformed request", "sync protocol violation", func(t *testing.T, att *Node) { sendRaw(t, att, victim, frame(msgGetBlocks, []byte{0})) }},
		{"truncated frame", "inside a frame", func(t *testing.T, att *Node) { sendRaw(t, att, victim, []byte{50, byte(msgGetHeaders), 1}) }},
	}
	var banned []peer.ID
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			att := newAttacker(t, attackerChain)
			attach(t, att, victim)
			tc.attack(t, att)
			waitBanned(t, victim, att, tc.reason)
			banned = append(banned, att.ID())
		})
	}

	t.Run("policy failure is not punished", func(t *testing.T) {
		att := newAttacker(t, attackerChain)
		attach(t, att, victim)
		publishRaw(t, att.txTopic, txMessage(knownTx))
		publishRaw(t, att.txTopic, txMessage(goodTx))
		waitFor(t, 10*time.Second, "good transaction in the pool", func() bool { return victim.pool.has(goodTx.TxID()) })
		if victim.node.IsBanned(att.ID()) || victim.node.host.Network().Connectedness(att.ID()) != network.Connected {
			t.Error("peer punished for a transaction the pool already had")
		}
	})

	if left.chain.HaveBlock(badValue.Hash()) || right.chain.HaveBlock(badValue.Hash()) {
		t.Error("the invalid block was relayed")
	}
	victim.process(blocks[2:]...)
	if err := victim.node.PublishBlock(blocks[3]); err != nil {
		t.Fatal(err)
	}
	waitTip(t, 10*time.Second, blocks[3], victim, left, right)

	// Automatic bans are kept in memory only, as Core's discouragement is:
	// a restart forgets them. An operator's ban (below) keeps a peer out.
	victim.stop()
	victim.start()
	for _, p := range banned {
		if victim.node.IsBanned(p) {
			t.Errorf("automatic ban of %s outlived a restart", p)
		}
	}
	att := newAttacker(t, attackerChain)
	if err := victim.node.SetBan(att.ID().String(), time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	if victim.node.gater.InterceptSecured(network.DirInbound, att.ID(), nil) || victim.node.gater.InterceptPeerDial(att.ID()) {
		t.Error("the gater lets a banned peer in")
	}
	// The dialer may see its handshake complete before the victim hangs up.
	_ = att.host.Connect(context.Background(), peer.AddrInfo{ID: victim.node.ID(), Addrs: victim.node.host.Addrs()})
	waitFor(t, 10*time.Second, "banned peer dropped", func() bool {
		return att.host.Network().Connectedness(victim.node.ID()) != network.Connected
	})
	if victim.node.hasStatus(att.ID()) {
		t.Error("victim talked to a banned peer")
	}
	if err := victim.node.ClearBanned(); err != nil {
		t.Fatal(err)
	}
	if got := victim.node.ListBanned(); len(got) != 0 {
		t.Errorf("bans after ClearBanned: %v", got)
	}
	if err := att.host.Connect(context.Background(), peer.AddrInfo{ID: victim.node.ID(), Addrs: victim.node.host.Addrs()}); err != nil {
		t.Errorf("unbanned peer cannot connect: %v", err)
	}

	// A subnet ban drops and refuses every peer from its addresses, whatever
	// identity it shows: here all of them, on loopback.
	if err := victim.node.SetBan("127.0.0.1", time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "peers of the banned subnet dropped", func() bool {
		return att.host.Network().Connectedness(victim.node.ID()) != network.Connected
	})
	fresh := newAttacker(t, attackerChain)
	_ = fresh.host.Connect(context.Background(), peer.AddrInfo{ID: victim.node.ID(), Addrs: victim.node.host.Addrs()})
	waitFor(t, 10*time.Second, "new identity from the banned subnet dropped", func() bool {
		return fresh.host.Network().Connectedness(victim.node.ID()) != network.Connected
	})
	if victim.node.hasStatus(fresh.ID()) {
		t.Error("victim talked to a peer of a banned subnet")
	}
	if got := victim.node.ListBanned(); len(got) != 1 || got[0].Target() != "127.0.0.1/32" {
		t.Errorf("bans %+v, want the subnet 127.0.0.1/32", got)
	}
	if err := victim.node.Unban("127.0.0.1/32"); err != nil {
		t.Fatal(err)
	}
	if err := fresh.host.Connect(context.Background(), peer.AddrInfo{ID: victim.node.ID(), Addrs: victim.node.host.Addrs()}); err != nil {
		t.Errorf("peer of an unbanned subnet cannot connect: %v", err)
	}
}

// otherGenesis is regtest with another genesis block.
func otherGenesis() *chain.Params {
	p := *chain.RegtestParams
	g := *p.GenesisBlock
	g.Header.Time++
	for g.Header.Nonce = 0; chain.CheckProofOfWork(&g.Header, &p) != nil; g.Header.Nonce++ {
	}
	p.GenesisBlock = &g
	p.GenesisHash = g.Hash()
	return &p
}

// TestForeignPeers connects nodes of another genesis and of another network:
// both are dropped and not redialled, and neither is banned.
func TestForeignPeers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		params *chain.Params
	}{{"other genesis", otherGenesis()}, {"other network", chain.TestnetParams}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestNode(t, nil)
			f := newTestNodeParams(t, tc.params, nil)
			f.keep(a)
			waitFor(t, 15*time.Second, "foreign peer refused", func() bool {
				_, aRefuses := a.node.gater.refused(f.node.ID())
				_, fRefuses := f.node.gater.refused(a.node.ID())
				return aRefuses && fRefuses && !a.connectedTo(f) && !f.connectedTo(a)
			})
			info := peer.AddrInfo{ID: a.node.ID(), Addrs: a.node.host.Addrs()}
			if err := f.node.dial(context.Background(), info); err == nil {
				t.Error("foreign peer redialled")
			}
			if a.node.IsBanned(f.node.ID()) || len(a.node.ListBanned()) != 0 {
				t.Error("foreign peer banned")
			}
		})
	}
}
