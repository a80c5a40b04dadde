package p2p

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/time/rate"

	"github.com/quarrychain/quarry/chain"
)

// Errors of the peer-management API, for RPC to map to Bitcoin Core's codes.
var (
	ErrAlreadyAdded = errors.New("peer already added")
	ErrNotAdded     = errors.New("peer not added")
	ErrNotConnected = errors.New("peer not connected")
	ErrNotBanned    = errors.New("peer not banned")
)

// Timing of peer management.
const (
	dialTimeout = 15 * time.Second
	redialMin   = time.Second
	redialMax   = 5 * time.Minute
	// meshSettle is how long after a peer's first status it is asked again:
	// two gossipsub heartbeats, by when the peer is in the topic meshes.
	meshSettle = 3 * time.Second
	// foreignLinger is how long a peer of another network stays connected
	// after we find out, so that it finds out too.
	foreignLinger = 2 * time.Second
	// redialCheck is how often a kept peer's connection is looked at.
	redialCheck = time.Second
	// Sync requests cost a peer tokens: one per block asked for, one per
	// status, headersRequestCost per getheaders. It gets requestRate tokens a
	// second, up to requestBurst; beyond that the server makes it wait, up to
	// requestWait, and then drops the request. That lets a syncing peer take
	// a couple of thousand blocks a second from us and no more.
	requestRate        = 2000
	requestBurst       = 4000
	requestWait        = 5 * time.Second
	headersRequestCost = 20
)

// peerState is what the node knows of a connected peer.
type peerState struct {
	status    statusMsg
	hasStatus bool
	// version is the sync protocol version of the last status, the
	// newest the peer speaks: 1 for a node built before the services.
	version  syncVersion
	statusAt time.Time
	// statusBusy: a status request is in flight; statusDue: ask at once.
	statusBusy bool
	statusDue  bool
	limiter    *rate.Limiter

	// Sync bookkeeping: getblocks requests in flight to the peer, the tip
	// whose headers the peer has been asked for to the end, where the next
	// headers request continues from, and until when the peer is not asked
	// for blocks after a failed request.
	blocksInFlight int
	headersDone    chain.Hash
	lastHeader     chain.Hash
	pauseUntil     time.Time
	// headersStrikes counts the peer's headers answers in a row that
	// brought no new work; it is not asked for headers until
	// headersRestUntil.
	headersStrikes   int
	headersRestUntil time.Time
	// toldHeight is the height in the last status sent to the peer, the
	// tip it knows of ours, and toldVersion the protocol version it went in
	// (from version 2 it carried our services): a limited node blames the
	// peer only for asking below the window of that tip, and only if told
	// it is limited (statusFor, checkLimitedWindow).
	toldHeight  int32
	toldVersion syncVersion
}

// peerLocked returns p's state, creating it; n.mu must be held.
func (n *Node) peerLocked(p peer.ID) *peerState {
	ps := n.peers[p]
	if ps == nil {
		ps = &peerState{statusDue: true, limiter: rate.NewLimiter(requestRate, requestBurst)}
		n.peers[p] = ps
	}
	return ps
}

// connected runs on libp2p's notification goroutine for each new connection;
// the status exchange happens on the status loop.
func (n *Node) connected(_ network.Network, c network.Conn) {
	n.mu.Lock()
	n.peerLocked(c.RemotePeer())
	n.mu.Unlock()
	kick(n.kickStatus)
}

func (n *Node) disconnected(net network.Network, c network.Conn) {
	p := c.RemotePeer()
	if net.Connectedness(p) == network.Connected {
		return
	}
	n.mu.Lock()
	delete(n.peers, p)
	n.mu.Unlock()
	kick(n.kickSync)
}

// statusLoop exchanges status with each new peer and again with every peer
// each StatusInterval, or at once when asked to.
func (n *Node) statusLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kickStatus:
		case <-t.C:
		}
		now := time.Now()
		var due []peer.ID
		n.mu.Lock()
		for p, ps := range n.peers {
			if !ps.statusBusy && (ps.statusDue || now.Sub(ps.statusAt) >= n.cfg.StatusInterval) {
				ps.statusBusy, ps.statusDue = true, false
				due = append(due, p)
			}
		}
		n.mu.Unlock()
		for _, p := range due {
			n.goOwned(func() { n.exchangeStatus(p) })
		}
	}
}

// requestStatus asks for p's status soon: the node heard of a block it cannot
// place, and the answer starts a sync if p is ahead.
func (n *Node) requestStatus(p peer.ID) {
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil {
		ps.statusDue = true
	}
	n.mu.Unlock()
	kick(n.kickStatus)
}

func (n *Node) exchangeStatus(p peer.ID) {
	start := time.Now()
	st, v, err := n.getStatus(p)
	rtt := time.Since(start)
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil {
		ps.statusBusy = false
		ps.statusAt = time.Now()
	}
	n.mu.Unlock()
	switch {
	case err == nil:
		n.host.Peerstore().RecordLatency(p, rtt)
		n.gotStatus(p, st, v)
	case isNotSupported(err):
		n.refuseForeign(p, fmt.Sprintf("speaks none of %v", n.protos))
	case isMisbehaviour(err):
		n.misbehaved(p, err.Error())
	default:
		n.log.Debug("status exchange failed", "peer", p, "err", err)
	}
}

// ourStatus describes the node's chain.
func (n *Node) ourStatus() statusMsg {
	best := n.chain.Best()
	return statusMsg{Network: n.params.Name, Genesis: n.params.GenesisHash, Tip: best.Hash, Height: best.Height, Work: best.ChainWork,
		Services: n.LocalServices()}
}

// statusFor is ourStatus, encoded to be sent to p in version v of the sync
// protocol: it records the height and the version told.
func (n *Node) statusFor(p peer.ID, v syncVersion) []byte {
	st := n.ourStatus()
	n.mu.Lock()
	// Only a known peer: a status exchange may end after it left.
	if ps := n.peers[p]; ps != nil {
		ps.toldHeight, ps.toldVersion = st.Height, v
	}
	n.mu.Unlock()
	return st.encode(v)
}

// gotStatus records a peer's status, told in version v of the sync
// protocol, refusing the peer if it is on another network, and lets the
// syncer see whether the peer is ahead.
func (n *Node) gotStatus(p peer.ID, st statusMsg, v syncVersion) {
	if !n.compatible(st) {
		n.refuseForeign(p, fmt.Sprintf("network %q genesis %s", st.Network, st.Genesis))
		return
	}
	if n.host.Network().Connectedness(p) != network.Connected {
		return
	}
	n.mu.Lock()
	ps := n.peerLocked(p)
	first := !ps.hasStatus
	ps.status, ps.hasStatus, ps.statusAt, ps.version = st, true, time.Now(), v
	if first {
		// Ask again once gossipsub's mesh has formed: blocks relayed to us
		// before the peer joined our mesh were not passed on to it.
		ps.statusAt = ps.statusAt.Add(meshSettle - n.cfg.StatusInterval)
	}
	n.mu.Unlock()
	kick(n.kickSync)
}

// compatible reports whether a peer's status is of our network and genesis.
func (n *Node) compatible(st statusMsg) bool {
	return st.Network == n.params.Name && st.Genesis == n.params.GenesisHash
}

// refuseForeign disconnects a peer of another network or genesis and keeps it
// from coming back for a day. It did nothing wrong, so it is not banned.
func (n *Node) refuseForeign(p peer.ID, why string) {
	n.log.Info("disconnecting peer of another network", "peer", p, "peer_chain", why)
	n.gater.refuseForeign(p, DefaultBanDuration)
	// The connection lingers a moment so the peer's own status exchange can
	// end and it learns to stay away too; otherwise it might redial forever.
	n.goOwned(func() {
		if n.wait(foreignLinger) {
			if err := n.host.Network().ClosePeer(p); err != nil {
				n.log.Debug("close peer", "peer", p, "err", err)
			}
		}
	})
}

// misbehaved bans p for a day, in memory only, and disconnects it. A peer
// the operator keeps (AddPeer, --connect) is only warned about, as Bitcoin
// Core never discourages a manual peer: the operator chose it, and a ban
// would silently stop its redialling for a day, the node's only peer perhaps.
func (n *Node) misbehaved(p peer.ID, reason string) {
	if p == "" || p == n.host.ID() {
		return
	}
	n.mu.Lock()
	_, kept := n.persistent[p]
	n.mu.Unlock()
	if kept {
		n.log.Warn("not banning a misbehaving peer the operator keeps", "peer", p, "reason", reason)
		return
	}
	n.log.Warn("banning peer", "peer", p, "reason", reason, "for", DefaultBanDuration)
	n.gater.discourage(p, reason, DefaultBanDuration)
	n.closePeer(p)
}

// closePeer disconnects p off the caller's goroutine, which may be one of
// pubsub's or a stream handler.
func (n *Node) closePeer(p peer.ID) {
	n.goOwned(func() {
		if err := n.host.Network().ClosePeer(p); err != nil {
			n.log.Debug("close peer", "peer", p, "err", err)
		}
	})
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID string
	// Addr is the peer's address as a full multiaddr ending in /p2p/<id>.
	Addr    string
	Inbound bool
	// Height and Tip are from the peer's last status; Height is -1 before
	// the first.
	Height int32
	Tip    chain.Hash
	// Services are from the peer's last status, 0 before the first; a
	// peer speaking only version 1 of the sync protocol has NodeNetwork.
	Services ServiceFlags
	// SyncVersion is the newest version of the sync protocol the peer
	// speaks (SyncProtocolVersion is ours), 0 before its first status.
	SyncVersion int
	PingRTT     time.Duration
	BytesSent   int64
	BytesRecv   int64
	GossipScore float64
	ConnectedAt time.Time
	// Persistent: added with --connect or addnode, kept and redialled.
	Persistent bool
	// Mesh lists the gossip topics in whose mesh the peer is.
	Mesh []string
}

// Peers describes the connected peers, by peer id.
func (n *Node) Peers() []PeerInfo {
	var out []PeerInfo
	for _, p := range n.host.Network().Peers() {
		conns := n.host.Network().ConnsToPeer(p)
		if len(conns) == 0 {
			continue
		}
		c := conns[0]
		bw := n.bw.GetBandwidthForPeer(p)
		info := PeerInfo{
			ID:          p.String(),
			Addr:        c.RemoteMultiaddr().String() + "/p2p/" + p.String(),
			Inbound:     c.Stat().Direction == network.DirInbound,
			Height:      -1,
			PingRTT:     n.host.Peerstore().LatencyEWMA(p),
			BytesSent:   int64(bw.TotalOut),
			BytesRecv:   int64(bw.TotalIn),
			GossipScore: n.scoreOf(p),
			ConnectedAt: c.Stat().Opened,
		}
		n.mu.Lock()
		if ps := n.peers[p]; ps != nil && ps.hasStatus {
			info.Height, info.Tip, info.Services, info.SyncVersion = ps.status.Height, ps.status.Tip, ps.status.Services, int(ps.version)
		}
		_, info.Persistent = n.persistent[p]
		info.Mesh = n.meshTopicsLocked(p)
		n.mu.Unlock()
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ConnectionCount is the number of connected peers.
func (n *Node) ConnectionCount() int { return len(n.host.Network().Peers()) }

// persistentPeer is a peer to keep connected.
type persistentPeer struct {
	info   peer.AddrInfo
	cancel context.CancelFunc // stops its redial loop; nil before Start
}

// AddPeer keeps the peer at addr (a multiaddr ending in /p2p/<id>) connected,
// as Bitcoin Core's "addnode add": it is redialled with backoff and spared from
// connection trimming until RemovePeer. A peer kept already is ErrAlreadyAdded.
func (n *Node) AddPeer(addr string) error {
	info, err := parsePeerAddr(addr)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.persistent[info.ID]; ok {
		return fmt.Errorf("%s: %w", addr, ErrAlreadyAdded)
	}
	pp := &persistentPeer{info: info}
	n.persistent[info.ID] = pp
	n.host.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	n.cm.Protect(info.ID, "connect")
	n.lifeMu.Lock()
	started := n.started
	n.lifeMu.Unlock()
	if started {
		n.startRedial(pp)
	}
	return nil
}

// RemovePeer stops keeping the peer at addr that AddPeer kept ("addnode
// remove"); it stays connected until trimmed or disconnected. A peer not kept
// is ErrNotAdded.
func (n *Node) RemovePeer(addr string) error {
	info, err := parsePeerAddr(addr)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	pp, ok := n.persistent[info.ID]
	if !ok {
		return fmt.Errorf("%s: %w", addr, ErrNotAdded)
	}
	delete(n.persistent, info.ID)
	if pp.cancel != nil {
		pp.cancel()
	}
	n.cm.Unprotect(info.ID, "connect")
	return nil
}

// DialOnce dials the peer at addr once in the background ("addnode onetry");
// it returns as soon as addr parses, and a failed dial is only logged, as in
// Core.
func (n *Node) DialOnce(addr string) error {
	info, err := parsePeerAddr(addr)
	if err != nil {
		return err
	}
	n.goOwned(func() {
		if err := n.dial(n.ctx, info); err != nil {
			n.log.Info("one-time dial failed", "peer", addr, "err", err)
		}
	})
	return nil
}

// startRedial starts pp's redial loop; n.mu must be held.
func (n *Node) startRedial(pp *persistentPeer) {
	ctx, cancel := context.WithCancel(n.ctx)
	pp.cancel = cancel
	info := pp.info
	if !n.goOwned(func() { n.redial(ctx, info) }) {
		cancel()
	}
}

// redial keeps a --connect peer connected: it dials whenever the peer is not
// connected, backing off exponentially (with jitter) from one second to five
// minutes. The backoff resets only once the peer has exchanged status: a peer
// that accepts the connection and drops it at once (it banned us, or is on
// another network) is not redialled in a tight loop.
func (n *Node) redial(ctx context.Context, info peer.AddrInfo) {
	backoff := redialMin
	for {
		wait := redialCheck
		if n.host.Network().Connectedness(info.ID) != network.Connected {
			if err := n.dial(ctx, info); err != nil {
				n.log.Debug("dial failed", "peer", info.ID, "err", err, "retry_in", backoff)
			}
			wait = backoff + rand.N(backoff/2+1)
			backoff = min(2*backoff, redialMax)
		} else if n.hasStatus(info.ID) {
			backoff = redialMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (n *Node) hasStatus(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ps := n.peers[p]
	return ps != nil && ps.hasStatus
}

func (n *Node) dial(ctx context.Context, info peer.AddrInfo) error {
	if why, refused := n.gater.refused(info.ID); refused {
		return fmt.Errorf("peer %s is refused: %s", info.ID, why)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := n.host.Connect(ctx, info); err != nil {
		return fmt.Errorf("dial %s: %w", info.ID, err)
	}
	return nil
}

// parsePeerAddr reads a full multiaddr ending in /p2p/<id>.
func parsePeerAddr(addr string) (peer.AddrInfo, error) {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q: %w", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q must end in /p2p/<peer id>: %w", addr, err)
	}
	return *info, nil
}

// DisconnectNode closes the connections to a peer named by its id, by a full
// multiaddr ending in /p2p/<id>, or by the address it is connected from.
func (n *Node) DisconnectNode(target string) error {
	p, err := n.findPeer(target)
	if err != nil {
		return err
	}
	if err := n.host.Network().ClosePeer(p); err != nil {
		return fmt.Errorf("disconnect %s: %w", p, err)
	}
	return nil
}

func (n *Node) findPeer(target string) (peer.ID, error) {
	if p, err := peer.Decode(target); err == nil {
		if n.host.Network().Connectedness(p) != network.Connected {
			return "", fmt.Errorf("%s: %w", target, ErrNotConnected)
		}
		return p, nil
	}
	if info, err := parsePeerAddr(target); err == nil {
		if n.host.Network().Connectedness(info.ID) != network.Connected {
			return "", fmt.Errorf("%s: %w", target, ErrNotConnected)
		}
		return info.ID, nil
	}
	for _, c := range n.host.Network().Conns() {
		if c.RemoteMultiaddr().String() == target {
			return c.RemotePeer(), nil
		}
	}
	return "", fmt.Errorf("%s: %w", target, ErrNotConnected)
}

// SetBan refuses target for d (DefaultBanDuration if d is not positive):
// a peer id, or an IP address or subnet in CIDR notation, every address of
// which is refused whatever identity it shows. Connected peers it covers are
// dropped.
func (n *Node) SetBan(target string, d time.Duration, reason string) error {
	b, err := parseBanTarget(target)
	if err != nil {
		return err
	}
	if d <= 0 {
		d = DefaultBanDuration
	}
	if b.Reason = reason; reason == "" {
		b.Reason = "manually banned"
	}
	n.log.Warn("banning", "target", b.Target(), "reason", b.Reason, "for", d)
	err = n.gater.ban(b, d)
	if !b.Subnet.IsValid() {
		n.closePeer(b.Peer)
		return err
	}
	for _, c := range n.host.Network().Conns() {
		if n.gater.refusedAddr(c.RemoteMultiaddr()) {
			n.closePeer(c.RemotePeer())
		}
	}
	return err
}

// Unban lifts the ban of a peer id or subnet, given as SetBan took it.
func (n *Node) Unban(target string) error {
	b, err := parseBanTarget(target)
	if err != nil {
		return err
	}
	ok, err := n.gater.unban(b)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", target, ErrNotBanned)
	}
	return nil
}

// ListBanned lists the bans in force.
func (n *Node) ListBanned() []Ban { return n.gater.list() }

// ClearBanned lifts every ban.
func (n *Node) ClearBanned() error { return n.gater.clear() }

// IsBanned reports whether a peer is banned.
func (n *Node) IsBanned(p peer.ID) bool { return n.gater.isBanned(p) }
