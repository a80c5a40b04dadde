package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quarrychain/quarry/rpc/rpcclient"
)

const (
	// maxStartAttempts bounds the starts of a node whose picked port was taken
	// by another program between picking and binding.
	maxStartAttempts = 3
	// logTailLines is how much of each node's log a failed test prints.
	logTailLines = 200
	// rpcCallTimeout bounds one call of the harness's own polling, so that a
	// node that accepts but never answers cannot stall a wait past its deadline.
	rpcCallTimeout = 5 * time.Second
)

// errPortTaken marks a start that failed because a port was in use.
var errPortTaken = errors.New("port already in use")

// Node is one node process of a Network, started and restarted on the same
// data directory and ports. Its methods are safe for concurrent use.
type Node struct {
	index int
	net   *Network
	host  string // the address it listens on: 127.0.0.1, or its own in a namespace
	dir   string // --datadir
	args  []string
	// fixedPorts is set when the ports were given, so a taken port is an error
	// rather than a reason to pick others.
	fixedPorts bool
	// ran is set once the node has started; from then on it keeps its ports,
	// as its peers know it by them.
	ran bool

	mu        sync.Mutex
	client    *rpcclient.Client // replaced when a start moves to other ports
	rpcPort   int
	p2pPort   int
	webPort   int // picked afresh at each start
	proc      *process
	multiaddr string // cached by Multiaddr; cleared at each start
}

func (n *Node) String() string { return "node" + strconv.Itoa(n.index) }

// Index is the node's position in the network.
func (n *Node) Index() int { return n.index }

// DataDir is the node's --datadir.
func (n *Node) DataDir() string { return n.dir }

// NetworkDir is <datadir>/<network>, where the node keeps its chain, cookie,
// key and log.
func (n *Node) NetworkDir() string { return filepath.Join(n.dir, n.net.opts.Network) }

// CookieFile is the node's RPC cookie file.
func (n *Node) CookieFile() string { return filepath.Join(n.NetworkDir(), ".cookie") }

// LogFile is the log the node writes itself.
func (n *Node) LogFile() string { return filepath.Join(n.NetworkDir(), "node.log") }

// StderrFile holds everything the node printed, across restarts, with a line
// from the harness before each start: the log, and panics and race reports
// too, which never reach LogFile.
func (n *Node) StderrFile() string { return filepath.Join(n.dir, "stderr.log") }

// RPCAddr is the node's RPC host:port.
func (n *Node) RPCAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return net.JoinHostPort(n.host, strconv.Itoa(n.rpcPort))
}

// RPCURL is the node's RPC endpoint.
func (n *Node) RPCURL() string { return "http://" + n.RPCAddr() }

// Host is the IP address the node listens on: 127.0.0.1, or NamespaceAddr
// in a namespace.
func (n *Node) Host() string { return n.host }

// WebURL is the node's explorer, REST and events address (--web-listen),
// set once the node has started.
func (n *Node) WebURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return "http://" + net.JoinHostPort(n.host, strconv.Itoa(n.webPort)) + "/"
}

// P2PPort is the node's TCP port for peers.
func (n *Node) P2PPort() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p2pPort
}

// RPC returns the node's client. It reads the cookie file at every call, so it
// keeps working across restarts.
func (n *Node) RPC() *rpcclient.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.client
}

// Call calls an RPC method of the node; see rpcclient.Client.Call.
func (n *Node) Call(ctx context.Context, method string, params, result any) error {
	return n.RPC().Call(ctx, method, params, result)
}

// PID is the process id of the running node, or 0.
func (n *Node) PID() int {
	if p := n.current(); p != nil {
		return p.pid()
	}
	return 0
}

// Running reports whether the node's process is alive.
func (n *Node) Running() bool {
	p := n.current()
	return p != nil && !p.exited()
}

func (n *Node) current() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// takeProcess returns the process and forgets it, so that exactly one caller
// stops, kills or waits for each run.
func (n *Node) takeProcess() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.proc
	n.proc = nil
	return p
}

// Start starts a stopped node on its data directory and ports, waits until its
// RPC answers, and links it again to the running nodes it is linked to.
func (n *Node) Start(ctx context.Context) error {
	if err := n.launch(ctx); err != nil {
		return err
	}
	return n.net.relink(ctx, n)
}

// Stop sends SIGTERM and waits for a clean exit, killing the node when it
// takes longer than Options.StopTimeout. Stopping a stopped node does nothing;
// a node that exited unasked (a crash, or the stop RPC not followed by Wait)
// or uncleanly is an error.
func (n *Node) Stop(ctx context.Context) error {
	p := n.takeProcess()
	if p == nil {
		return nil
	}
	start := time.Now()
	if err := p.stop(ctx, n.net.opts.StopTimeout); err != nil {
		return fmt.Errorf("stop %s: %w", n, err)
	}
	n.net.log.Info("stopped", "node", n.String(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Kill kills the node with SIGKILL, as kill -9 does, leaving its data
// directory as a crash would.
func (n *Node) Kill() error {
	p := n.takeProcess()
	if p == nil {
		return nil
	}
	if err := p.kill(); err != nil {
		return fmt.Errorf("kill %s: %w", n, err)
	}
	n.net.log.Info("killed", "node", n.String())
	return nil
}

// Restart stops the node cleanly and starts it again.
func (n *Node) Restart(ctx context.Context) error {
	if err := n.Stop(ctx); err != nil {
		return err
	}
	return n.Start(ctx)
}

// Wait waits for a node that was told to exit some other way (the stop RPC,
// or a second node on its data directory) and returns its exit status.
func (n *Node) Wait(ctx context.Context) error {
	p := n.current()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return fmt.Errorf("wait for %s to exit: %w", n, ctx.Err())
	}
	n.mu.Lock()
	if n.proc == p {
		n.proc = nil
	}
	n.mu.Unlock()
	if err := p.exitErr(); err != nil {
		return fmt.Errorf("%s: %w", n, err)
	}
	return nil
}

// launch starts the process and waits for its RPC, retrying on other ports
// when picked ones turn out to be taken.
func (n *Node) launch(ctx context.Context) error {
	if p := n.current(); p != nil {
		if !p.exited() {
			return fmt.Errorf("start %s: already running", n)
		}
		if !p.asked.Load() {
			n.net.log.Warn("starting again a node that exited on its own", "node", n.String(), "exit", p.exitErr())
		}
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return fmt.Errorf("start %s: %w", n, err)
	}
	connect, err := n.net.connectFlags(ctx, n)
	if err != nil {
		return fmt.Errorf("start %s: %w", n, err)
	}
	for attempt := 1; ; attempt++ {
		err := n.startOnce(ctx, connect, attempt)
		n.mu.Lock()
		n.ran = n.ran || err == nil
		movable := !n.fixedPorts && !n.ran
		n.mu.Unlock()
		if err == nil || !errors.Is(err, errPortTaken) || !movable || attempt == maxStartAttempts {
			return err
		}
		ports, perr := FreePorts(2)
		if perr != nil {
			return errors.Join(err, perr)
		}
		n.mu.Lock()
		n.rpcPort, n.p2pPort = ports[0], ports[1]
		n.client = n.newClient()
		n.mu.Unlock()
		n.net.log.Warn("port taken, starting again on others", "node", n.String(), "rpc", ports[0], "p2p", ports[1])
	}
}

func (n *Node) startOnce(ctx context.Context, connect []string, attempt int) error {
	webPort := []int{namespaceWebPort}
	ns := n.net.namespaces()
	if ns == nil {
		var err error
		if webPort, err = FreePorts(1); err != nil {
			return err
		}
	}
	n.mu.Lock()
	n.webPort = webPort[0]
	args := []string{
		"--network", n.net.opts.Network,
		"--datadir", n.dir,
		"--rpc-listen", net.JoinHostPort(n.host, strconv.Itoa(n.rpcPort)),
		"--p2p-listen", fmt.Sprintf("/ip4/%s/tcp/%d", n.host, n.p2pPort),
		"--web-listen", net.JoinHostPort(n.host, strconv.Itoa(n.webPort)),
		"--log-level", n.net.opts.LogLevel,
	}
	n.multiaddr = ""
	n.mu.Unlock()
	for _, c := range connect {
		args = append(args, "--connect", c)
	}
	args = append(args, n.args...)

	var offset int64
	if fi, err := os.Stat(n.StderrFile()); err == nil {
		offset = fi.Size()
	}
	banner := fmt.Sprintf("=== testnet: %s start %d at %s: %s %s\n",
		n, attempt, time.Now().Format(time.RFC3339Nano), n.net.bin, strings.Join(args, " "))
	bin := n.net.bin
	if ns != nil {
		bin, args = ns.command(n.index, bin, args)
	}
	p, err := startProcess(bin, args, n.net.env(), n.StderrFile(), banner)
	if err != nil {
		return fmt.Errorf("start %s: %w", n, err)
	}
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	n.net.log.Info("starting", "node", n.String(), "pid", p.pid(), "rpc", n.RPCAddr(), "dir", n.dir)

	if err := n.waitReady(ctx, p); err != nil {
		n.takeProcess()
		err = errors.Join(err, p.kill())
		out := readFrom(n.StderrFile(), offset)
		if strings.Contains(out, "address already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return fmt.Errorf("start %s: %w\n%s", n, err, lastLines(out, logTailLines))
	}
	n.net.log.Info("started", "node", n.String(), "pid", p.pid())
	return nil
}

// waitReady polls the RPC until it answers, the process exits, or the start
// timeout passes. A cookie left by a killed run makes calls fail until the new
// run writes its own, which is one more reason to poll rather than call once.
func (n *Node) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, n.net.opts.StartTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		callCtx, callCancel := context.WithTimeout(ctx, rpcCallTimeout)
		lastErr = n.Call(callCtx, "getbestblockhash", nil, nil)
		callCancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before its RPC answered: %v", p.exitErr())
		case <-ctx.Done():
			return fmt.Errorf("RPC did not answer: %w (last error: %v)", ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// Multiaddr returns the node's P2P address on its host with its peer id, from
// getnetworkinfo's localaddresses, waiting until the node lists it.
func (n *Node) Multiaddr(ctx context.Context) (string, error) {
	n.mu.Lock()
	addr, host, port := n.multiaddr, n.host, n.p2pPort
	n.mu.Unlock()
	if addr != "" {
		return addr, nil
	}
	err := poll(ctx, n.String()+" multiaddr", func(ctx context.Context) (bool, string) {
		var info struct {
			LocalAddresses []struct {
				Address string `json:"address"`
			} `json:"localaddresses"`
		}
		if err := n.Call(ctx, "getnetworkinfo", nil, &info); err != nil {
			return false, err.Error()
		}
		var all []string
		for _, a := range info.LocalAddresses {
			all = append(all, a.Address)
		}
		addr = pickHostAddr(all, host, port)
		return addr != "", fmt.Sprintf("localaddresses %q", all)
	})
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	n.multiaddr = addr
	n.mu.Unlock()
	return addr, nil
}

// pickHostAddr chooses /ip4/<host>/tcp/<port>/p2p/<id> from a node's
// addresses, preferring the given port, so peers dial it over TCP at the
// address it was told to listen on.
func pickHostAddr(addrs []string, host string, port int) string {
	var other string
	for _, a := range addrs {
		parts := strings.Split(a, "/")
		// "", "ip4", "127.0.0.1", "tcp", port, "p2p", id
		if len(parts) != 7 || parts[0] != "" || parts[1] != "ip4" || parts[2] != host ||
			parts[3] != "tcp" || parts[5] != "p2p" || parts[6] == "" {
			continue
		}
		if parts[4] == strconv.Itoa(port) {
			return a
		}
		if other == "" {
			other = a
		}
	}
	return other
}

// peerID is the /p2p/ part of a multiaddr, or "".
func peerID(addr string) string {
	i := strings.LastIndex(addr, "/p2p/")
	if i < 0 {
		return ""
	}
	return addr[i+len("/p2p/"):]
}

// peerIDs lists the ids of the node's peers from getpeerinfo, where addr ends
// in /p2p/<id> (id, in Core a number, is used when addr has no id).
func (n *Node) peerIDs(ctx context.Context) (map[string]bool, error) {
	var peers []struct {
		ID   json.RawMessage `json:"id"`
		Addr string          `json:"addr"`
	}
	if err := n.Call(ctx, "getpeerinfo", nil, &peers); err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(peers))
	for _, p := range peers {
		id := peerID(p.Addr)
		if id == "" {
			_ = json.Unmarshal(p.ID, &id) // a numeric id stays "", and matches nothing
		}
		ids[id] = true
	}
	return ids, nil
}

// newClient gives the node a client whose requests time out on their own, so a
// call made without a deadline cannot hang a test on a node that stopped
// answering. It connects through DialContext, so from inside the node's
// namespace when it has one. The caller holds n.mu, or has not yet shared n.
func (n *Node) newClient() *rpcclient.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = n.DialContext
	return rpcclient.NewClient(net.JoinHostPort(n.host, strconv.Itoa(n.rpcPort)),
		rpcclient.WithCookieFile(n.CookieFile()),
		rpcclient.WithHTTPClient(&http.Client{Timeout: 2 * time.Minute, Transport: transport}))
}

// DialContext connects to addr as net.Dialer does, but from inside the node's
// network namespace when the network runs in namespaces, so that the other
// end sees the connection come from the node's own address.
func (n *Node) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if ns := n.net.namespaces(); ns != nil {
		return ns.dial(ctx, n.index, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// readFrom returns a file's contents from offset on, or "" when it cannot be read.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// tailFile returns the last lines of a file, reading at most the last 1 MiB so
// that a long debug log does not cost its whole size.
func tailFile(path string, lines int) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return lastLines(readFrom(path, max(0, fi.Size()-1<<20)), lines), nil
}

func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			n--
			if n == 0 {
				return s[i+1:]
			}
		}
	}
	return s
}
