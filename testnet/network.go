package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/rpc"
)

// Defaults for Options fields left zero.
const (
	// DefaultStartTimeout is generous because a node built with -race on a
	// busy two-core CI machine can take seconds to open its database.
	DefaultStartTimeout = 60 * time.Second
	// DefaultStopTimeout is how long a node may take to close its database
	// after SIGTERM before it is killed.
	DefaultStopTimeout = 30 * time.Second
)

// NodeSpec sets what differs between the nodes of a network. Zero fields take
// the defaults.
type NodeSpec struct {
	// Dir is the node's --datadir; the default is <Options.Dir>/node<i>.
	Dir string
	// RPCPort and P2PPort fix the node's ports. Left zero, free ports are
	// picked, and picked again if a start finds one taken.
	RPCPort, P2PPort int
	// Args are more flags, such as --mine --mine-address ADDR.
	Args []string
}

// Options describe a network of nodes.
type Options struct {
	// Nodes is how many nodes to run; the default is 1.
	Nodes int
	// Network is the node's --network: regtest (the default) or testnet.
	Network string
	// Topology links the nodes; the default is FullMesh.
	Topology Topology
	// ConnectFlags links nodes with --connect at start instead of addnode
	// once they run. Nodes then start one after another, each told about the
	// linked nodes started before it.
	ConnectFlags bool
	// Dir holds the nodes' directories. New defaults it to t.TempDir();
	// Launch requires it.
	Dir string
	// Spec, if set, gives node i's settings.
	Spec func(i int) NodeSpec
	// NodeBin is the node binary; the default is NodeBinary().
	NodeBin string
	// Env holds more KEY=value settings for the node processes.
	Env []string
	// LogLevel is the nodes' --log-level; the default is debug, as the log is
	// read only when a test fails.
	LogLevel string
	// Logger receives the harness's own log. New defaults it to the test's
	// log, Launch to slog.Default().
	Logger *slog.Logger
	// StartTimeout and StopTimeout default to DefaultStartTimeout and
	// DefaultStopTimeout.
	StartTimeout, StopTimeout time.Duration
	// Namespaces runs each node in a Linux network namespace of its own, with
	// address NamespaceAddr(i) on a bridge shared by the nodes, instead of
	// all on 127.0.0.1, so that bans and limits by address meet real
	// distinct addresses. It takes root and iproute2 (New skips the test
	// without them: see NamespacesSupported). The harness reaches the nodes
	// through their clients and Node.DialContext; their RPC and web addresses
	// are not reachable from outside the namespaces. Close deletes the
	// namespaces, and a run deletes those left by runs that died.
	Namespaces bool
}

// Network is a set of node processes on 127.0.0.1, or in namespaces of their
// own, and the links between them. Its methods are safe for concurrent use.
type Network struct {
	opts  Options
	bin   string
	log   *slog.Logger
	nodes []*Node
	// ns is set while the network's namespaces exist, with Options.Namespaces.
	ns *namespaces

	mu    sync.Mutex
	links map[Edge]bool // the links the nodes should have now, with A < B
}

// New starts a network for a test and fails the test if it cannot. The nodes
// stop when the test ends; if it failed, the end of every node's log is
// printed first.
func New(t testing.TB, opts Options) *Network {
	t.Helper()
	if opts.Namespaces {
		if err := NamespacesSupported(); err != nil {
			t.Skipf("testnet: %v", err)
		}
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tbWriter{t}, nil))
	}
	n, err := newNetwork(opts)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	// Cleanups run last-registered first: the nodes stop, then their logs,
	// shutdown included, are printed.
	t.Cleanup(func() {
		if t.Failed() {
			n.dumpLogs(t.Logf)
		}
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.StopTimeout+killWait)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("testnet: %v", err)
		}
	})
	if err := n.start(t.Context()); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	return n
}

// Launch starts a network outside a test. The caller must Close it.
func Launch(ctx context.Context, opts Options) (*Network, error) {
	if opts.Dir == "" {
		return nil, errors.New("testnet: Options.Dir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	n, err := newNetwork(opts)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	if err := n.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), n.opts.StopTimeout+killWait)
		defer cancel()
		return nil, errors.Join(fmt.Errorf("testnet: %w", err), n.Close(stopCtx))
	}
	return n, nil
}

func newNetwork(opts Options) (*Network, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.Nodes < 0 {
		return nil, fmt.Errorf("%d nodes", opts.Nodes)
	}
	if opts.Network == "" {
		opts.Network = "regtest"
	}
	if opts.Topology == nil {
		opts.Topology = FullMesh
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	edges, err := normalize(opts.Nodes, opts.Topology(opts.Nodes))
	if err != nil {
		return nil, err
	}
	bin := opts.NodeBin
	if bin == "" {
		if bin, err = NodeBinary(); err != nil {
			return nil, err
		}
	}
	specs := make([]NodeSpec, opts.Nodes)
	for i := range specs {
		if opts.Spec != nil {
			specs[i] = opts.Spec(i)
		}
	}
	// All ports are picked at once so that no two nodes get the same one.
	// In namespaces each node has all ports to itself.
	ports := make([]int, 2*opts.Nodes)
	for i := range opts.Nodes {
		ports[2*i], ports[2*i+1] = namespaceRPCPort, namespaceP2PPort
	}
	if !opts.Namespaces {
		if ports, err = FreePorts(2 * opts.Nodes); err != nil {
			return nil, err
		}
	}
	n := &Network{opts: opts, bin: bin, log: opts.Logger, links: map[Edge]bool{}}
	for _, e := range edges {
		n.links[e] = true
	}
	for i, spec := range specs {
		node := &Node{
			index:      i,
			net:        n,
			host:       "127.0.0.1",
			dir:        spec.Dir,
			args:       spec.Args,
			fixedPorts: spec.RPCPort != 0 || spec.P2PPort != 0 || opts.Namespaces,
			rpcPort:    orDefault(spec.RPCPort, ports[2*i]),
			p2pPort:    orDefault(spec.P2PPort, ports[2*i+1]),
		}
		if node.dir == "" {
			node.dir = filepath.Join(opts.Dir, node.String())
		}
		if opts.Namespaces {
			node.host = NamespaceAddr(i)
		}
		node.client = node.newClient()
		n.nodes = append(n.nodes, node)
	}
	return n, nil
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

// start starts every node and makes the topology's links.
func (n *Network) start(ctx context.Context) error {
	if n.opts.Namespaces {
		ns, err := newNamespaces(ctx, len(n.nodes))
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.ns = ns
		n.mu.Unlock()
	}
	if n.opts.ConnectFlags {
		for _, node := range n.nodes {
			if err := node.launch(ctx); err != nil {
				return err
			}
		}
	} else {
		errs := make([]error, len(n.nodes))
		var wg sync.WaitGroup
		for i, node := range n.nodes {
			wg.Go(func() { errs[i] = node.launch(ctx) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for _, e := range n.Links() {
			if err := n.dial(ctx, n.nodes[e.A], n.nodes[e.B]); err != nil {
				return err
			}
		}
	}
	return n.waitLinks(ctx, n.Links())
}

// Node returns node i.
func (n *Network) Node(i int) *Node { return n.nodes[i] }

// Nodes returns every node, running or not.
func (n *Network) Nodes() []*Node { return slices.Clone(n.nodes) }

// Links returns the links the nodes should have now: the topology's, minus
// those cut by Disconnect, plus those made by Reconnect.
func (n *Network) Links() []Edge {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.SortedFunc(maps.Keys(n.links), compareEdges)
}

func (n *Network) setLink(e Edge, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if on {
		n.links[e] = true
	} else {
		delete(n.links, e)
	}
}

// runningPeers lists the running nodes that node is linked to.
func (n *Network) runningPeers(node *Node) []*Node {
	var peers []*Node
	for _, e := range n.Links() {
		switch {
		case e.A == node.index && n.nodes[e.B].Running():
			peers = append(peers, n.nodes[e.B])
		case e.B == node.index && n.nodes[e.A].Running():
			peers = append(peers, n.nodes[e.A])
		}
	}
	return peers
}

// connectFlags returns the --connect addresses of a node about to start: those
// of the running nodes it is linked to, when links are made with flags.
func (n *Network) connectFlags(ctx context.Context, node *Node) ([]string, error) {
	if !n.opts.ConnectFlags {
		return nil, nil
	}
	var addrs []string
	for _, p := range n.runningPeers(node) {
		addr, err := p.Multiaddr(ctx)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

// relink links a node that has just started to the running nodes it should be
// linked to: the nodes forget addnode peers when they stop, and its peers may
// have given up redialling it.
func (n *Network) relink(ctx context.Context, node *Node) error {
	peers := n.runningPeers(node)
	var edges []Edge
	for _, p := range peers {
		if !n.opts.ConnectFlags {
			if err := n.dial(ctx, node, p); err != nil {
				return err
			}
		}
		edges = append(edges, orderedEdge(node.index, p.index))
	}
	return n.waitLinks(ctx, edges)
}

// dial has from add to as a peer to keep (addnode add).
func (n *Network) dial(ctx context.Context, from, to *Node) error {
	addr, err := to.Multiaddr(ctx)
	if err != nil {
		return err
	}
	err = from.Call(ctx, "addnode", []any{addr, "add"}, nil)
	if err := ignoreCode(err, rpc.CodeClientNodeAlreadyAdded); err != nil {
		return fmt.Errorf("%s addnode %s add: %w", from, to, err)
	}
	return nil
}

// Disconnect cuts the link between running nodes a and b: each forgets the
// other as a peer to keep (addnode remove), then a drops the connection
// (disconnectnode). It returns once neither lists the other in getpeerinfo.
func (n *Network) Disconnect(ctx context.Context, a, b int) error {
	na, nb, err := n.pair(a, b)
	if err != nil {
		return err
	}
	n.setLink(orderedEdge(a, b), false)
	addrA, err := na.Multiaddr(ctx)
	if err != nil {
		return err
	}
	addrB, err := nb.Multiaddr(ctx)
	if err != nil {
		return err
	}
	errs := []error{
		ignoreCode(na.Call(ctx, "addnode", []any{addrB, "remove"}, nil), rpc.CodeClientNodeNotAdded),
		ignoreCode(nb.Call(ctx, "addnode", []any{addrA, "remove"}, nil), rpc.CodeClientNodeNotAdded),
		ignoreCode(na.Call(ctx, "disconnectnode", []any{addrB}, nil), rpc.CodeClientNodeNotConnected),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disconnect %s from %s: %w", na, nb, err)
	}
	idA, idB := peerID(addrA), peerID(addrB)
	return poll(ctx, fmt.Sprintf("%s and %s disconnected", na, nb), func(ctx context.Context) (bool, string) {
		peersA, errA := na.peerIDs(ctx)
		peersB, errB := nb.peerIDs(ctx)
		if err := errors.Join(errA, errB); err != nil {
			return false, err.Error()
		}
		return !peersA[idB] && !peersB[idA], fmt.Sprintf("%s sees %s: %v, %s sees %s: %v",
			na, nb, peersA[idB], nb, na, peersB[idA])
	})
}

// Reconnect links running nodes a and b (addnode add on a), whether the link
// was cut by Disconnect or never existed, and waits until both see each other.
func (n *Network) Reconnect(ctx context.Context, a, b int) error {
	na, nb, err := n.pair(a, b)
	if err != nil {
		return err
	}
	e := orderedEdge(a, b)
	n.setLink(e, true)
	if err := n.dial(ctx, na, nb); err != nil {
		return err
	}
	return n.waitLinks(ctx, []Edge{e})
}

func (n *Network) pair(a, b int) (*Node, *Node, error) {
	if _, err := normalize(len(n.nodes), []Edge{{a, b}}); err != nil {
		return nil, nil, err
	}
	na, nb := n.nodes[a], n.nodes[b]
	for _, node := range []*Node{na, nb} {
		if !node.Running() {
			return nil, nil, fmt.Errorf("%s is not running", node)
		}
	}
	return na, nb, nil
}

// waitLinks waits until both ends of every edge between running nodes list
// each other in getpeerinfo.
func (n *Network) waitLinks(ctx context.Context, edges []Edge) error {
	if len(edges) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.StartTimeout)
	defer cancel()
	ids := map[int]string{}
	for _, e := range edges {
		for _, i := range []int{e.A, e.B} {
			addr, err := n.nodes[i].Multiaddr(ctx)
			if err != nil {
				return err
			}
			ids[i] = peerID(addr)
		}
	}
	return poll(ctx, "nodes linked", func(ctx context.Context) (bool, string) {
		peers := map[int]map[string]bool{}
		var missing []string
		for _, e := range edges {
			if !n.nodes[e.A].Running() || !n.nodes[e.B].Running() {
				continue
			}
			for _, end := range [][2]int{{e.A, e.B}, {e.B, e.A}} {
				from, to := end[0], end[1]
				if peers[from] == nil {
					p, err := n.nodes[from].peerIDs(ctx)
					if err != nil {
						return false, fmt.Sprintf("%s: %v", n.nodes[from], err)
					}
					peers[from] = p
				}
				if !peers[from][ids[to]] {
					missing = append(missing, fmt.Sprintf("%s does not see %s", n.nodes[from], n.nodes[to]))
				}
			}
		}
		return len(missing) == 0, strings.Join(missing, "; ")
	})
}

// Close stops every running node (SIGTERM, then SIGKILL after StopTimeout)
// and reports those that did not stop cleanly or had exited on their own.
// Then it deletes the network's namespaces, if any.
func (n *Network) Close(ctx context.Context) error {
	errs := make([]error, len(n.nodes)+1)
	var wg sync.WaitGroup
	for i, node := range n.nodes {
		wg.Go(func() { errs[i] = node.Stop(ctx) })
	}
	wg.Wait()
	n.mu.Lock()
	ns := n.ns
	n.ns = nil
	n.mu.Unlock()
	if ns != nil {
		errs[len(n.nodes)] = ns.close(context.WithoutCancel(ctx))
	}
	return errors.Join(errs...)
}

// namespaces returns the network's namespaces, or nil.
func (n *Network) namespaces() *namespaces {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ns
}

func (n *Network) dumpLogs(logf func(format string, args ...any)) {
	for _, node := range n.nodes {
		tail, err := tailFile(node.StderrFile(), logTailLines)
		if err != nil {
			logf("%s: no log: %v", node, err)
			continue
		}
		logf("%s: last %d lines of %s:\n%s", node, logTailLines, node.StderrFile(), tail)
	}
}

// env is the environment the nodes add to the harness's own.
func (n *Network) env() []string {
	// libp2p shares TCP ports with SO_REUSEPORT by default, which would let a
	// node bind a port another process holds and split its connections;
	// without it a taken port fails the start, which the harness retries.
	return append([]string{"LIBP2P_TCP_REUSEPORT=false"}, n.opts.Env...)
}

// callers returns nodes as Callers, or every running node when none are given.
func (n *Network) callers(nodes []*Node) []Caller {
	if len(nodes) == 0 {
		for _, node := range n.nodes {
			if node.Running() {
				nodes = append(nodes, node)
			}
		}
	}
	out := make([]Caller, len(nodes))
	for i, node := range nodes {
		out[i] = node
	}
	return out
}

// WaitForTip is WaitForTip of the given nodes, or of every running node.
func (n *Network) WaitForTip(ctx context.Context, minHeight int64, nodes ...*Node) (string, error) {
	return WaitForTip(ctx, minHeight, n.callers(nodes)...)
}

// WaitForHeight is WaitForHeight of the given nodes, or of every running node.
func (n *Network) WaitForHeight(ctx context.Context, height int64, nodes ...*Node) error {
	return WaitForHeight(ctx, height, n.callers(nodes)...)
}

// WaitForMempool is WaitForMempool of the given nodes, or of every running node.
func (n *Network) WaitForMempool(ctx context.Context, nodes ...*Node) ([]string, error) {
	return WaitForMempool(ctx, n.callers(nodes)...)
}

// WaitForTx is WaitForTx of the given nodes, or of every running node.
func (n *Network) WaitForTx(ctx context.Context, txid string, nodes ...*Node) error {
	return WaitForTx(ctx, txid, n.callers(nodes)...)
}

// WaitForPeers is WaitForPeers of the given nodes, or of every running node.
func (n *Network) WaitForPeers(ctx context.Context, peers int, nodes ...*Node) error {
	return WaitForPeers(ctx, peers, n.callers(nodes)...)
}

// ignoreCode returns err unless it is an RPC error with the given code, which
// the caller treats as success (already added, not connected, ...).
func ignoreCode(err error, code int) error {
	var rerr *rpc.Error
	if errors.As(err, &rerr) && rerr.Code == code {
		return nil
	}
	return err
}

// tbWriter sends the harness's log lines to the test's log.
type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
