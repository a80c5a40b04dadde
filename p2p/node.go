package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// TxPool is what the node needs of the mempool: a place to hand transactions
// that peers relay. Accept returns nil when the transaction is taken into the
// pool. An error that wraps a *chain.RuleError whose row in chain's rule table
// blames the sender (chain.TxFault) gets the peer that sent it penalised; any
// other error (policy, already known, missing inputs) drops the transaction
// quietly. A transaction held as an orphan must be reported as such an error,
// never nil: nil relays it, and an orphan's inputs and signatures are
// unchecked.
// from is the sending peer's id, for logs.
type TxPool interface {
	Accept(tx *chain.Tx, from string) error
}

// Config configures a Node.
type Config struct {
	// Chain is the node's chain; its parameters name the network. Required.
	Chain *blockchain.Chain
	// TxPool takes transactions from peers. Nil ignores relayed transactions.
	TxPool TxPool
	// Logger receives the node's logs; nil means slog.Default().
	Logger *slog.Logger

	// KeyFile holds the libp2p identity, <datadir>/<network>/p2p.key. It is
	// created if missing. Empty gives a new identity on every start.
	KeyFile string
	// BanFile keeps bans across restarts, <datadir>/<network>/banlist.json.
	// Empty keeps them in memory only.
	BanFile string

	// ListenAddrs are the multiaddrs to listen on; nil means
	// DefaultListenAddrs(params). Tests use /ip4/127.0.0.1/tcp/0 and
	// /ip4/127.0.0.1/udp/0/quic-v1.
	ListenAddrs []string
	// Connect lists peers (full multiaddrs ending in /p2p/<id>) to dial and
	// keep: they are redialled with backoff and never pruned.
	Connect []string
	// MDNS turns on discovery on the local network. It multicasts beyond
	// loopback, so tests never turn it on.
	MDNS bool
	// DHT turns on Kademlia discovery with a rendezvous on the network name,
	// starting from the Bootstrap peers.
	DHT       bool
	Bootstrap []string
	// NAT turns on UPnP/NAT-PMP port mapping.
	NAT bool

	// LowWater and HighWater bound the connection count: above HighWater the
	// connection manager trims down to LowWater, sparing --connect peers and
	// connections younger than GracePeriod. Zero gives 32, 96 and one minute.
	LowWater, HighWater int
	GracePeriod         time.Duration
	// StatusInterval is how often each peer is asked for its status again, so
	// a node that missed a block's gossip still learns of it. Zero gives 10 s.
	StatusInterval time.Duration

	// StallTimeout is how long a peer may take over each answer to a sync
	// request (a status, a headers message, each block of a getblocks answer)
	// before it is dropped as stalled and its blocks are asked of others;
	// and the longest sync's block processor waits for it, over a whole
	// getblocks answer, while other peers' blocks wait behind. Its wait for
	// each block of the answer, once the download waits on it (the queue
	// full, or another peer's whole answer behind it), adapts below that, as
	// Core's block stalling timeout: it starts at 2 s
	// (StallTimeout if less), doubles each time a peer is dropped for it,
	// lest a slow link of ours drop one peer after another, and shrinks by
	// 15% with each block connected. Zero gives 30 s.
	StallTimeout time.Duration

	// Registerer receives libp2p's Prometheus metrics; nil turns them off.
	Registerer prometheus.Registerer
}

// Defaults.
const (
	DefaultLowWater    = 32
	DefaultHighWater   = 96
	DefaultGracePeriod = time.Minute
	// DefaultStatusInterval is a tenth of main's block interval and about the
	// testnet's: a block whose gossip missed a node (before the meshes form,
	// say) reaches it within one status round, for a status message per peer
	// every ten seconds.
	DefaultStatusInterval = 10 * time.Second
	DefaultStallTimeout   = 30 * time.Second
)

// DefaultListenAddrs are TCP and QUIC on the network's P2P port, IPv4 and IPv6.
func DefaultListenAddrs(params *chain.Params) []string {
	p := params.DefaultP2PPort
	return []string{
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", p),
		fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", p),
		fmt.Sprintf("/ip6/::/tcp/%d", p),
		fmt.Sprintf("/ip6/::/udp/%d/quic-v1", p),
	}
}

// Node is a Quarry peer on the libp2p network: it gossips blocks and
// transactions, serves and runs the sync protocol, finds and keeps peers, and
// bans those that misbehave.
type Node struct {
	cfg    Config
	chain  *blockchain.Chain
	params *chain.Params
	log    *slog.Logger
	host   host.Host
	gater  *gater
	cm     *connmgr.BasicConnMgr
	bw     *metrics.BandwidthCounter
	// protos are the sync protocol's IDs, the newest version first: the
	// order in which a stream offers them (syncProtocols).
	protos []protocol.ID

	ps         *pubsub.PubSub
	blockTopic *pubsub.Topic
	txTopic    *pubsub.Topic
	seen       *seenSet

	ctx    context.Context
	cancel context.CancelFunc

	// lifeMu guards started and closed; wg counts every goroutine the node
	// owns and every libp2p callback running node code, so Close returns only
	// when none touches the chain any more.
	lifeMu  sync.Mutex
	started bool
	closed  bool
	wg      sync.WaitGroup

	kickSync chan struct{}
	// kickProcess wakes the processor of sync's block deliveries.
	kickProcess chan struct{}
	kickStatus  chan struct{}

	mu         sync.Mutex // guards the fields below
	peers      map[peer.ID]*peerState
	persistent map[peer.ID]*persistentPeer
	scores     map[peer.ID]float64
	mesh       map[peer.ID]map[string]bool // topics whose mesh each peer is in
	validating map[chain.Hash]chan struct{}
	// validated is closed, and replaced, each time a block's validation ends
	// and each time a block joins the main chain by any path (sync, RPC), so
	// a gossiped block waiting for its parent goes on as soon as it can.
	validated chan struct{}
	// unsubscribe ends the chain subscription that wakes those waiters; set
	// and read under lifeMu.
	unsubscribe func()
	sync        syncState

	discovery []func() error // closers of the discovery services
}

// New builds the host (listening at once), joins the gossip topics and
// registers the sync protocol. Start begins dialling and syncing.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Chain == nil {
		return nil, errors.New("p2p: Config.Chain is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ListenAddrs == nil {
		cfg.ListenAddrs = DefaultListenAddrs(cfg.Chain.Params())
	}
	if cfg.LowWater == 0 {
		cfg.LowWater = DefaultLowWater
	}
	if cfg.HighWater == 0 {
		cfg.HighWater = DefaultHighWater
	}
	if cfg.GracePeriod == 0 {
		cfg.GracePeriod = DefaultGracePeriod
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	params := cfg.Chain.Params()
	log := cfg.Logger.With("component", "p2p")

	var key crypto.PrivKey
	var err error
	if cfg.KeyFile != "" {
		key, err = LoadIdentity(cfg.KeyFile)
	} else {
		key, _, err = crypto.GenerateEd25519Key(rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	g, err := newGater(cfg.BanFile, log)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.LowWater, cfg.HighWater, connmgr.WithGracePeriod(cfg.GracePeriod))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	protos := syncProtocols(params.Name)
	rm, err := newResourceManager(protos)
	if err != nil {
		cm.Close()
		return nil, err
	}
	bw := metrics.NewBandwidthCounter()
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionGater(g),
		libp2p.BandwidthReporter(bw),
		libp2p.DisableRelay(),
		libp2p.UserAgent("quarry"),
	}
	if cfg.NAT {
		opts = append(opts, libp2p.NATPortMap())
	}
	if cfg.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}

	nctx, cancel := context.WithCancel(ctx)
	n := &Node{
		cfg: cfg, chain: cfg.Chain, params: params, log: log,
		host: h, gater: g, cm: cm, bw: bw, protos: protos,
		seen:        newSeenSet(seenSetSize),
		ctx:         nctx,
		cancel:      cancel,
		kickSync:    make(chan struct{}, 1),
		kickProcess: make(chan struct{}, 1),
		kickStatus:  make(chan struct{}, 1),
		peers:       make(map[peer.ID]*peerState),
		persistent:  make(map[peer.ID]*persistentPeer),
		scores:      make(map[peer.ID]float64),
		mesh:        make(map[peer.ID]map[string]bool),
		validating:  make(map[chain.Hash]chan struct{}),
		validated:   make(chan struct{}),
	}
	n.sync.init(cfg.StallTimeout)
	for _, proto := range protos {
		h.SetStreamHandler(proto, n.handleStream)
	}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    n.connected,
		DisconnectedF: n.disconnected,
	})
	// The host listens from its creation: a peer may have connected already.
	n.mu.Lock()
	for _, p := range h.Network().Peers() {
		n.peerLocked(p)
	}
	n.mu.Unlock()
	if err := n.startGossip(); err != nil {
		n.Close()
		return nil, err
	}
	for _, a := range cfg.Connect {
		if err := n.AddPeer(a); err != nil && !errors.Is(err, ErrAlreadyAdded) {
			n.Close()
			return nil, fmt.Errorf("--connect %s: %w", a, err)
		}
	}
	return n, nil
}

// newResourceManager sizes libp2p's resource limits for a full node: the
// default limits scaled to 1 GiB of memory and 1024 file descriptors, each
// peer held to 64 streams and 64 MiB (room for a few 2 MB blocks in flight on
// sync and gossip at once), and at most 8 concurrent sync streams each way
// per peer (a syncing peer needs 4 at most): per version of the sync
// protocol, as the streams are negotiated, and over all versions, as the sync
// service takes them (handleStream), lest a peer have twice as many by
// opening streams on both.
func newResourceManager(protos []protocol.ID) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	scaled := limits.Scale(1<<30, 1024)
	partial := rcmgr.PartialLimitConfig{
		PeerDefault: rcmgr.ResourceLimits{
			Streams:         64,
			StreamsInbound:  32,
			StreamsOutbound: 32,
			Memory:          64 << 20,
		},
		ProtocolPeer: make(map[protocol.ID]rcmgr.ResourceLimits),
		ServicePeer: map[string]rcmgr.ResourceLimits{
			syncService: {Streams: 16, StreamsInbound: 8, StreamsOutbound: 8},
		},
	}
	for _, proto := range protos {
		partial.ProtocolPeer[proto] = rcmgr.ResourceLimits{Streams: 16, StreamsInbound: 8, StreamsOutbound: 8}
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(partial.Build(scaled)))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}

// Start dials the --connect peers and starts syncing and discovery.
func (n *Node) Start() error {
	n.lifeMu.Lock()
	if n.closed || n.started {
		n.lifeMu.Unlock()
		return errors.New("p2p: node already started or closed")
	}
	n.started = true
	n.unsubscribe = n.cfg.Chain.Subscribe(func(blockchain.Event) { n.wakeValidators() })
	n.lifeMu.Unlock()

	n.log.Info("p2p node started", "peer_id", n.host.ID(), "addrs", n.LocalAddrs())
	n.goOwned(n.statusLoop)
	n.goOwned(n.syncLoop)
	n.goOwned(n.processLoop)
	n.goOwned(n.progressLoop)
	n.mu.Lock()
	for _, pp := range n.persistent {
		n.startRedial(pp)
	}
	n.mu.Unlock()
	return n.startDiscovery()
}

// Close stops every goroutine of the node and closes the host. The chain and
// mempool are left open; the caller closes them afterwards.
func (n *Node) Close() error {
	n.lifeMu.Lock()
	if n.closed {
		n.lifeMu.Unlock()
		return nil
	}
	n.closed = true
	unsubscribe := n.unsubscribe
	n.lifeMu.Unlock()
	if unsubscribe != nil {
		unsubscribe()
	}
	n.cancel()
	var errs []error
	for _, c := range n.discovery {
		errs = append(errs, c())
	}
	for _, proto := range n.protos {
		n.host.RemoveStreamHandler(proto)
	}
	errs = append(errs, n.host.Close())
	n.wg.Wait()
	return errors.Join(errs...)
}

// goOwned runs f on a goroutine that Close waits for; it does nothing once
// the node is closing.
func (n *Node) goOwned(f func()) bool {
	if !n.enter() {
		return false
	}
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// enter registers code running on a goroutine the node does not own (a libp2p
// callback) so Close waits for it; it reports false once the node is closing,
// and the caller must then return at once. A true result must be paired
// with n.wg.Done.
func (n *Node) enter() bool {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// ID is the node's peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// LocalAddrs lists the node's dialable addresses as full multiaddrs ending in
// /p2p/<peer id>.
func (n *Node) LocalAddrs() []string {
	full, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	out := make([]string, len(full))
	for i, a := range full {
		out[i] = a.String()
	}
	return out
}

// wait sleeps for d or until the node closes, and reports whether it is still
// running.
func (n *Node) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
