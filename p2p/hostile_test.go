package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// Once its tip is recent the node has left initial block download for good:
// a peer announcing a header with more work and withholding its body does
// not put it back (it would stop serving block templates and, past 50,000
// such headers, stop syncing headers).
func TestInitialBlockDownloadLatchesOff(t *testing.T) {
	tn := newTestNode(t, nil)
	base := mainBlocks(2)
	tn.process(base[0])
	if err := tn.chain.AcceptHeaders([]chain.Header{base[1].Header}); err != nil {
		t.Fatal(err)
	}
	if !tn.node.IsInitialBlockDownload() {
		t.Fatal("not in IBD with an old tip and a header ahead of it")
	}
	tn.process(base[1])
	var recent, withheld *chain.Block
	withGen(func(g *chaintest.Generator) {
		recent = g.BuildBlock(base[1].Hash(), func(b *chain.Block) { b.Header.Time = uint32(time.Now().Unix()) })
		withheld = g.NextBlock(recent.Hash())
	})
	tn.process(recent)
	if tn.node.IsInitialBlockDownload() {
		t.Fatal("in IBD at a recent tip with nothing ahead")
	}
	if err := tn.chain.AcceptHeaders([]chain.Header{withheld.Header}); err != nil {
		t.Fatal(err)
	}
	if tn.chain.BestHeaderHeight() != tn.chain.Best().Height+1 {
		t.Fatalf("best header %d, tip %d: the withheld block's header was not taken", tn.chain.BestHeaderHeight(), tn.chain.Best().Height)
	}
	if tn.node.IsInitialBlockDownload() {
		t.Fatal("a header whose body is withheld put a node with a recent tip back into IBD")
	}
}

// A misbehaving peer's ban costs no disk write: peer ids are free, and with
// every ban saved an attacker returning under new identities made each ban
// rewrite and fsync a longer file. Only an operator's bans are saved.
func TestAutomaticBansStayInMemory(t *testing.T) {
	tn := newTestNode(t, nil)
	banFile := filepath.Join(tn.dir, "banlist.json")
	var offenders []peer.ID
	for range 20 {
		p := randomPeer(t)
		tn.node.misbehaved(p, "sent junk")
		offenders = append(offenders, p)
	}
	for _, p := range offenders {
		if !tn.node.IsBanned(p) {
			t.Fatalf("misbehaving peer %s not banned", p)
		}
	}
	if len(tn.node.ListBanned()) != len(offenders) {
		t.Fatalf("%d bans listed, want the %d automatic ones", len(tn.node.ListBanned()), len(offenders))
	}
	if _, err := os.Stat(banFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("automatic bans were written to disk: %v", err)
	}
	operator := randomPeer(t)
	if err := tn.node.SetBan(operator.String(), time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(banFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), operator.String()) || strings.Contains(string(raw), offenders[0].String()) {
		t.Fatalf("ban file holds other than the operator's ban:\n%s", raw)
	}
}

// A peer the operator keeps is never banned automatically, as Core never
// discourages a manual peer: its misbehaviour is only logged.
func TestKeptPeerNotBanned(t *testing.T) {
	a, b := newTestNode(t, nil), newTestNode(t, nil)
	a.keep(b)
	waitFor(t, 10*time.Second, "the kept peer connected", func() bool { return a.connectedTo(b) })
	a.node.misbehaved(b.node.ID(), "sent junk")
	if a.node.IsBanned(b.node.ID()) {
		t.Fatal("a kept peer was banned for misbehaving")
	}
}

// Automatic bans are bounded: past maxDiscouraged the oldest is forgotten,
// and lifting one frees nothing a later ban needs.
func TestAutomaticBansBounded(t *testing.T) {
	g, err := newGater("", testLogger())
	if err != nil {
		t.Fatal(err)
	}
	id := func(i int) peer.ID { return peer.ID(fmt.Sprintf("offender-%d", i)) }
	const extra = 10
	for i := range maxDiscouraged + extra {
		g.discourage(id(i), "junk", time.Hour)
	}
	if len(g.discouraged) != maxDiscouraged {
		t.Fatalf("%d automatic bans held, want at most %d", len(g.discouraged), maxDiscouraged)
	}
	for i := range extra {
		if g.isBanned(id(i)) {
			t.Fatalf("ban %d, among the oldest, was kept", i)
		}
	}
	last := id(maxDiscouraged + extra - 1)
	if !g.isBanned(last) || !g.isBanned(id(extra)) {
		t.Fatal("a recent automatic ban was dropped")
	}
	// Lifted and set again, a ban takes a new slot; its old one, reached
	// later, must not take it away.
	if ok, err := g.unban(Ban{Peer: id(extra + 5)}); !ok || err != nil {
		t.Fatalf("unban: %v %v", ok, err)
	}
	g.discourage(id(extra+5), "again", time.Hour)
	for i := range maxDiscouraged - 1 {
		g.discourage(id(1_000_000+i), "junk", time.Hour)
	}
	if !g.isBanned(id(extra + 5)) {
		t.Fatal("a renewed ban was evicted through its old slot")
	}
}

// An operator banning a peer already banned automatically replaces that ban:
// listbanned shows the peer once, with the operator's reason and time.
func TestOperatorBanReplacesAutomaticBan(t *testing.T) {
	g, err := newGater(filepath.Join(t.TempDir(), "banlist.json"), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	p := peer.ID("offender")
	g.discourage(p, "sent junk", time.Hour)
	if err := g.ban(Ban{Peer: p, Reason: "operator"}, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	bans := g.list()
	if len(bans) != 1 || bans[0].Reason != "operator" {
		t.Fatalf("bans %+v, want the operator's alone", bans)
	}
}

// hostilePeer is a bare libp2p host speaking the sync protocol as the test
// scripts it: it answers status with what status returns, getheaders with
// what headers returns, and getblocks with notfound (it never serves a body).
type hostilePeer struct {
	host    host.Host
	status  func() statusMsg
	headers func(getHeadersMsg) []chain.Header
	served  atomic.Int64 // getheaders answered
}

func newHostilePeer(t *testing.T, victim *testNode, status func() statusMsg, headers func(getHeadersMsg) []chain.Header) *hostilePeer {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	hp := &hostilePeer{host: h, status: status, headers: headers}
	h.SetStreamHandler(victim.node.protos[0], hp.serve)
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: victim.node.ID(), Addrs: victim.node.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return hp
}

func (hp *hostilePeer) serve(s network.Stream) {
	defer s.Close()
	t, payload, ok := readSyncRequest(s)
	if !ok {
		return
	}
	switch t {
	case msgStatus:
		st := hp.status()
		_ = writeFrame(s, msgStatus, st.encode(syncV2))
	case msgGetHeaders:
		gh, err := decodeGetHeaders(payload)
		if err != nil {
			_ = s.Reset()
			return
		}
		hp.served.Add(1)
		_ = writeFrame(s, msgHeaders, encodeHeaders(hp.headers(gh)))
		_ = s.Close()
		// Then tell the victim of a new tip at once, to be picked again.
		hp.pushStatus(s.Conn().RemotePeer(), s.Protocol())
	case msgGetBlocks:
		hashes, _ := decodeGetBlocks(payload)
		for _, h := range hashes {
			_ = writeFrame(s, msgNotFound, h[:])
		}
	}
}

// pushStatus sends the victim a status request, which it records as the
// peer's status.
func (hp *hostilePeer) pushStatus(victim peer.ID, proto protocol.ID) {
	s, err := hp.host.NewStream(context.Background(), victim, proto)
	if err != nil {
		return
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	st := hp.status()
	if writeFrame(s, msgStatus, st.encode(syncV2)) != nil || s.CloseWrite() != nil {
		return
	}
	_, _, _ = readFrame(bufio.NewReader(s), msgStatus)
}

// liarStatus claims a chain with far more work than any, at a new tip each
// time it is asked, so "asked to the end of this tip" never sticks.
func liarStatus(params *chain.Params) func() statusMsg {
	var n atomic.Uint32
	return func() statusMsg {
		tip := chain.Hash{0xee}
		binary.LittleEndian.PutUint32(tip[1:], n.Add(1))
		work := new(big.Int).Lsh(big.NewInt(1), 200)
		return statusMsg{Network: params.Name, Genesis: params.GenesisHash, Tip: tip, Height: 1 << 30, Work: work}
	}
}

// A peer claiming the most work and answering every getheaders with 2,000
// useless headers (ones the victim has) must not keep the one header-sync
// slot: its claim is checked against what it delivers, the node rotates away
// from a peer that brings no new work, and an honest peer's headers get
// through. Sending known headers breaks no rule, so the liar is not banned.
func TestLiarDoesNotHoldHeaderSync(t *testing.T) {
	blocks := mainBlocks(MaxHeadersPerMsg + 6)
	victim := newTestNode(t, nil)
	honest := newTestNode(t, nil)
	victim.process(blocks[:MaxHeadersPerMsg+1]...)
	honest.process(blocks...)
	useless := make([]chain.Header, MaxHeadersPerMsg)
	for i := range useless {
		useless[i] = blocks[i+1].Header
	}
	liar := newHostilePeer(t, victim, liarStatus(victim.params), func(getHeadersMsg) []chain.Header { return useless })
	waitFor(t, 10*time.Second, "the liar to be asked for headers", func() bool { return liar.served.Load() > 0 })
	victim.keep(honest)
	waitTip(t, 20*time.Second, blocks[len(blocks)-1], victim)
	if victim.node.IsBanned(liar.host.ID()) {
		t.Error("the liar was banned for sending headers the victim had")
	}
}

// A liar's useless answer is a strike even when a block arrives by gossip
// while it answers: what counts is whether the answer itself brought headers
// the node stored, not whether the best header moved meanwhile.
func TestUselessHeadersTimedToABlockStillStrike(t *testing.T) {
	blocks := mainBlocks(11)
	victim := newTestNode(t, nil)
	victim.process(blocks[:10]...)
	useless := make([]chain.Header, 9)
	for i := range useless {
		useless[i] = blocks[i+1].Header
	}
	var gossiped atomic.Value
	answer := func(getHeadersMsg) []chain.Header {
		// The block the liar saw on gossip reaches the victim just before
		// the liar's answer.
		_, err := victim.chain.ProcessBlock(blocks[10])
		gossiped.Store(fmt.Sprint(err))
		return useless
	}
	liar := newHostilePeer(t, victim, quietClaim(victim.params, useless), answer)
	n, p := victim.node, liar.host.ID()
	syncHeadersFrom(n, p)
	if got := gossiped.Load(); got != "<nil>" {
		t.Fatalf("the gossiped block: %v", got)
	}
	n.mu.Lock()
	strikes := n.peerLocked(p).headersStrikes
	n.mu.Unlock()
	if strikes != 1 {
		t.Fatalf("%d strikes after useless headers, want 1", strikes)
	}
}

// A megabyte gossiped under an 80-byte header without proof of work is
// turned away on the header: the body is never decoded.
func TestGossipChecksHeaderWorkFirst(t *testing.T) {
	a := newTestNode(t, nil)
	from := randomPeer(t)
	h := mainBlocks(1)[0].Header
	for h.Nonce = 0; chain.CheckProofOfWork(&h, a.params) == nil; h.Nonce++ {
	}
	enc := h.Encode()
	data := append(enc[:], make([]byte, chain.MaxBlockSize-chain.HeaderSize)...)
	msg := &pubsub.Message{Message: &pb.Message{Data: data}, ReceivedFrom: from}
	if got := a.node.validateBlock(context.Background(), from, msg); got != pubsub.ValidationReject {
		t.Fatalf("verdict %v, want reject", got)
	}
	bans := a.node.ListBanned()
	if len(bans) != 1 || !strings.Contains(bans[0].Reason, "proof of work") {
		t.Fatalf("bans %+v, want one for the proof of work (not for an undecodable body)", bans)
	}
}

// branchHeaders returns n headers forking from genesis, each with valid
// proof of work and a time a second after the one before: a branch whose
// headers break no rule, made for nothing on regtest.
func branchHeaders(params *chain.Params, n int, salt uint32) []chain.Header {
	hs := make([]chain.Header, n)
	prev, when := params.GenesisHash, params.GenesisBlock.Header.Time
	for i := range hs {
		h := chain.Header{Version: 1, PrevBlock: prev, MerkleRoot: chain.Hash{byte(salt), byte(salt >> 8)}, Time: when + uint32(i) + 1, Bits: params.PowLimitBits}
		for chain.CheckProofOfWork(&h, params) != nil {
			h.Nonce++
		}
		hs[i], prev = h, h.Hash()
	}
	return hs
}

// serveBranch answers getheaders from a branch: after the locator's first
// hash on it, or from its start, up to MaxHeadersPerMsg.
func serveBranch(branch []chain.Header) func(getHeadersMsg) []chain.Header {
	pos := make(map[chain.Hash]int, len(branch))
	for i := range branch {
		pos[branch[i].Hash()] = i + 1
	}
	return func(m getHeadersMsg) []chain.Header {
		from := 0
		for _, h := range m.Locator {
			if i, ok := pos[h]; ok {
				from = i
				break
			}
		}
		return branch[from:min(from+MaxHeadersPerMsg, len(branch))]
	}
}

// A branch from genesis with less work than the victim's tip leaves nothing
// in its index, though it takes more than one batch of headers to tell; a
// branch that does prove enough work over two batches (held in memory
// meanwhile, as Core's presync holds it) is stored whole.
func TestHeadersPresync(t *testing.T) {
	tip := MaxHeadersPerMsg + 200
	blocks := mainBlocks(tip)
	victim := newTestNode(t, nil)
	victim.process(blocks...)
	params := victim.params
	claim := func(branch []chain.Header, blocksOfWork int) func() statusMsg {
		work := new(big.Int).Mul(big.NewInt(int64(blocksOfWork)), big.NewInt(2))
		return func() statusMsg {
			return statusMsg{Network: params.Name, Genesis: params.GenesisHash, Tip: branch[len(branch)-1].Hash(), Height: int32(len(branch)), Work: work}
		}
	}

	// Short of the tip's work less 144 blocks' (the threshold), though its
	// peer claims more: two batches, then the peer has no more.
	short := branchHeaders(params, MaxHeadersPerMsg+20, 1)
	weak := newHostilePeer(t, victim, claim(short, tip+1000), serveBranch(short))
	waitFor(t, 20*time.Second, "both batches of the short branch asked for", func() bool { return weak.served.Load() >= 2 })
	waitFor(t, 20*time.Second, "the short branch dropped", func() bool {
		victim.node.mu.Lock()
		defer victim.node.mu.Unlock()
		return len(victim.node.sync.presync) == 0
	})
	for _, h := range []chain.Header{short[0], short[MaxHeadersPerMsg-1], short[len(short)-1]} {
		if _, err := victim.chain.BlockInfo(h.Hash()); err == nil {
			t.Fatalf("header %s of a low-work branch was stored", h.Hash())
		}
	}
	if victim.node.IsBanned(weak.host.ID()) {
		t.Fatal("a peer on a low-work branch was banned")
	}

	// More work than the tip, but not in its first batch.
	long := branchHeaders(params, tip+50, 2)
	strong := newHostilePeer(t, victim, claim(long, len(long)+1), serveBranch(long))
	waitFor(t, 20*time.Second, "the long branch's headers stored", func() bool {
		_, err := victim.chain.BlockInfo(long[len(long)-1].Hash())
		return err == nil
	})
	if _, err := victim.chain.BlockInfo(long[0].Hash()); err != nil {
		t.Fatalf("the long branch's first header: %v", err)
	}
	if victim.node.IsBanned(strong.host.ID()) {
		t.Fatal("a peer on a heavier branch was banned")
	}
}

// quietClaim is the status of a peer on branch that claims less work than
// the victims of these tests: their own sync loops never ask it for headers,
// and each test drives the header syncs itself (syncHeadersFrom).
func quietClaim(params *chain.Params, branch []chain.Header) func() statusMsg {
	return func() statusMsg {
		return statusMsg{Network: params.Name, Genesis: params.GenesisHash, Tip: branch[len(branch)-1].Hash(), Height: int32(len(branch)), Work: big.NewInt(1)}
	}
}

// presyncTip is the height of presyncVictim's chain: a branch from genesis
// needs more than one batch of headers to prove enough work to be stored.
const presyncTip = MaxHeadersPerMsg + 200

// presyncVictim is a node with a chain presyncTip blocks long.
func presyncVictim(t *testing.T) *testNode {
	victim := newTestNode(t, nil)
	victim.process(mainBlocks(presyncTip)...)
	return victim
}

// syncHeadersFrom runs one header sync with p, as the sync loop would.
func syncHeadersFrom(n *Node, p peer.ID) {
	n.mu.Lock()
	locator := n.headersLocatorLocked(p, n.peerLocked(p))
	n.mu.Unlock()
	n.syncHeaders(p, locator)
}

// Presync holds one branch at a time. When another peer's header sync
// replaces an honest peer's branch held there, the honest peer must start
// its branch again, not be asked to continue it: its answer would start at a
// header the node no longer holds, a protocol error, and it would be banned.
// A liar claiming more work can make that happen whenever it likes.
func TestPresyncReplacedDoesNotBanHonestPeer(t *testing.T) {
	victim := presyncVictim(t)
	params := victim.params
	long := branchHeaders(params, presyncTip+50, 3)
	honest := newHostilePeer(t, victim, quietClaim(params, long), serveBranch(long))
	other := newHostilePeer(t, victim, quietClaim(params, long), func(getHeadersMsg) []chain.Header { return nil })
	n := victim.node
	syncFrom := func(p peer.ID) { syncHeadersFrom(n, p) }
	presyncLen := func() int {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.sync.presync)
	}

	syncFrom(honest.host.ID())
	if got := presyncLen(); got != MaxHeadersPerMsg {
		t.Fatalf("presync holds %d headers after the honest peer's first batch, want %d", got, MaxHeadersPerMsg)
	}
	syncFrom(other.host.ID())
	if got := presyncLen(); got != 0 {
		t.Fatalf("presync holds %d headers after another peer's sync, want 0", got)
	}
	syncFrom(honest.host.ID())
	if n.IsBanned(honest.host.ID()) {
		t.Fatalf("the honest peer was banned: %+v", n.ListBanned())
	}
	if got := presyncLen(); got != MaxHeadersPerMsg {
		t.Fatalf("presync holds %d headers after the honest peer started again, want %d", got, MaxHeadersPerMsg)
	}
}

// A presync under way goes on before any other peer's header sync, which
// would drop the branch held: else liars claiming more work, under new
// identities as each rests, could restart an honest peer's presync for ever
// and keep the node off a heavier chain after a long partition.
func TestPresyncGoesOnFirst(t *testing.T) {
	victim := presyncVictim(t)
	n := victim.node
	claim := func(tip byte, work int64) peerState {
		return peerState{hasStatus: true, status: statusMsg{Tip: chain.Hash{tip}, Height: 1 << 20, Work: big.NewInt(work)}}
	}
	honest, liar := peer.ID("honest-in-presync"), peer.ID("liar")
	held := branchHeaders(victim.params, 3, 5)
	n.mu.Lock()
	defer n.mu.Unlock()
	hs, ls := claim(1, 1<<40), claim(2, 1<<50)
	hs.lastHeader = held[len(held)-1].Hash()
	n.peers[honest], n.peers[liar] = &hs, &ls
	defer delete(n.peers, honest)
	defer delete(n.peers, liar)
	n.sync.presync, n.sync.presyncPeer = held, honest
	defer func() { n.sync.presync, n.sync.presyncPeer = nil, "" }()
	p, locator := n.headersPeerLocked(n.chain.Best())
	if p != honest {
		t.Fatalf("asked %q for headers, want the peer whose branch is held in presync", p)
	}
	if len(locator) == 0 || locator[0] != hs.lastHeader {
		t.Fatal("the presync peer is not asked to continue its branch")
	}
}

// A peer may restart a presync at will, each time with a light branch that
// grows for a while and then ends short of the work its peer claimed. Growing
// is no proof: each such branch is a strike, and the strikes add up, so the
// peer rests longer each time instead of being asked again and again.
func TestRestartedPresyncStrikesAddUp(t *testing.T) {
	victim := presyncVictim(t)
	params := victim.params
	short := branchHeaders(params, MaxHeadersPerMsg+20, 4)
	restarter := newHostilePeer(t, victim, quietClaim(params, short), serveBranch(short))
	n, p := victim.node, restarter.host.ID()
	for range 2 {
		for range 2 { // the branch's two batches
			syncHeadersFrom(n, p)
		}
	}
	n.mu.Lock()
	strikes := n.peerLocked(p).headersStrikes
	n.mu.Unlock()
	if strikes != 2 {
		t.Fatalf("%d strikes after two light branches, want 2", strikes)
	}
}

// Peers on distinct addresses: a subnet ban drops and refuses every peer
// at the banned address and none at another. Linux routes all of
// 127.0.0.0/8 to the loopback interface, so hosts listening on 127.0.0.2 and
// 127.0.0.3 are distinct addresses without root; the victim dials them.
func TestSubnetBanDistinctAddresses(t *testing.T) {
	victim := newTestNode(t, nil)
	listenOn := func(ip string) host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/" + ip + "/tcp/0"))
		if err != nil {
			t.Skipf("cannot listen on %s here: %v", ip, err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	dial := func(h host.Host) error {
		return victim.node.host.Connect(context.Background(), peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	banned, other := listenOn("127.0.0.2"), listenOn("127.0.0.3")
	for _, h := range []host.Host{banned, other} {
		if err := dial(h); err != nil {
			t.Fatalf("dial %v: %v", h.Addrs(), err)
		}
	}
	if err := victim.node.SetBan("127.0.0.2", time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the peer at 127.0.0.2 dropped", func() bool {
		return victim.node.host.Network().Connectedness(banned.ID()) != network.Connected
	})
	if err := dial(listenOn("127.0.0.2")); err == nil {
		t.Fatal("the victim dialled a new identity at the banned address")
	}
	if victim.node.host.Network().Connectedness(other.ID()) != network.Connected {
		t.Fatal("the ban of 127.0.0.2 dropped the peer at 127.0.0.3")
	}
	if err := dial(listenOn("127.0.0.3")); err != nil {
		t.Fatalf("a new peer at 127.0.0.3 was refused: %v", err)
	}
}
