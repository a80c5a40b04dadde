package localnet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/testnet"
)

// network is what the keys act on: the harness's Network, or a double in
// unit tests.
type network interface {
	Nodes() int
	Running(i int) bool
	Stop(ctx context.Context, i int) error
	Kill(i int) error
	// Start starts a stopped node, or stops and starts a running one.
	Start(ctx context.Context, i int) error
	Links() []testnet.Edge
	Disconnect(ctx context.Context, a, b int) error
	Reconnect(ctx context.Context, a, b int) error
	Call(ctx context.Context, i int, method string, params, result any) error
}

// harnessNetwork is the network of a running testnet.Network.
type harnessNetwork struct{ *testnet.Network }

func (h harnessNetwork) Nodes() int         { return len(h.Network.Nodes()) }
func (h harnessNetwork) Running(i int) bool { return h.Node(i).Running() }
func (h harnessNetwork) Stop(ctx context.Context, i int) error {
	return h.Node(i).Stop(ctx)
}
func (h harnessNetwork) Kill(i int) error { return h.Node(i).Kill() }
func (h harnessNetwork) Start(ctx context.Context, i int) error {
	if h.Node(i).Running() {
		return h.Node(i).Restart(ctx)
	}
	return h.Node(i).Start(ctx)
}
func (h harnessNetwork) Call(ctx context.Context, i int, method string, params, result any) error {
	return h.Node(i).Call(ctx, method, params, result)
}

// keyBinding is one key the live table answers, with the line that
// explains it under the table.
type keyBinding struct {
	key  rune
	help string
	// run acts on the selected node and returns what the status line says.
	// It runs apart from the table, which keeps refreshing meanwhile.
	run func(c *controller, ctx context.Context, node int) (string, error)
}

// controller turns keys into actions on the testnet: digits select a node,
// letters act on the selected one. One action runs at a time; its outcome
// (or error) is shown in the status line.
type controller struct {
	net      network
	bindings []keyBinding
	// mineThreads is setgenerate's thread count; mineAddress, when set,
	// makes the g key mine a block on demand (regtest).
	mineThreads int
	mineAddress string
	load        *txLoad // nil without a wallet to pay from
	// notes are shown under the keys, such as why there is no tx load.
	notes []string
	// changed is signalled when an action ends, so the table shows it.
	changed chan struct{}

	mu       sync.Mutex
	selected int
	busy     string // the running action, or ""
	status   string
	cut      map[int][]testnet.Edge // the links each node's partition cut
	wg       sync.WaitGroup         // the running action
}

func newController(net network, mineThreads int, mineAddress string, load *txLoad) *controller {
	c := &controller{net: net, mineThreads: max(1, mineThreads), mineAddress: mineAddress, load: load,
		cut: map[int][]testnet.Edge{}, changed: make(chan struct{}, 1)}
	c.bindings = []keyBinding{
		{'s', "stop", (*controller).stop},
		{'k', "kill -9", (*controller).kill},
		{'r', "(re)start", (*controller).start},
		{'p', "partition (cut its links)", (*controller).partition},
		{'h', "heal its links", (*controller).heal},
		{'m', "miner on/off", (*controller).toggleMiner},
	}
	if mineAddress != "" {
		c.bindings = append(c.bindings,
			keyBinding{'g', "mine a block", func(c *controller, ctx context.Context, i int) (string, error) { return c.generate(ctx, i, 1) }},
			keyBinding{'G', "mine 100", func(c *controller, ctx context.Context, i int) (string, error) { return c.generate(ctx, i, 100) }})
	}
	if load != nil {
		c.bindings = append(c.bindings,
			keyBinding{'t', "tx load on/off", func(c *controller, _ context.Context, _ int) (string, error) { return c.load.toggle(), nil }},
			keyBinding{'+', "tx rate x2", func(c *controller, _ context.Context, _ int) (string, error) { return c.load.scale(2), nil }},
			keyBinding{'-', "tx rate /2", func(c *controller, _ context.Context, _ int) (string, error) { return c.load.scale(0.5), nil }},
		)
	}
	return c
}

// handleKey acts on one key press and reports whether it asks to quit.
func (c *controller) handleKey(ctx context.Context, key rune) (quit bool) {
	switch {
	case key == 'q' || key == 0x03 || key == 0x04: // q, Ctrl-C, Ctrl-D (raw mode delivers them as bytes)
		return true
	case key >= '0' && key <= '9':
		i := int(key - '0')
		c.mu.Lock()
		defer c.mu.Unlock()
		if i >= c.net.Nodes() {
			c.status = fmt.Sprintf("there is no node%d", i)
			return false
		}
		c.selected = i
		c.status = fmt.Sprintf("node%d selected", i)
		return false
	}
	for _, b := range c.bindings {
		if b.key == key {
			c.launch(ctx, b)
			return false
		}
	}
	return false
}

// launch runs b's action unless another one is running.
func (c *controller) launch(ctx context.Context, b keyBinding) {
	c.mu.Lock()
	defer c.mu.Unlock()
	node := c.selected
	if c.busy != "" {
		c.status = "wait: " + c.busy
		return
	}
	c.busy = fmt.Sprintf("node%d: %s...", node, b.help)
	c.status = c.busy
	c.wg.Go(func() {
		msg, err := b.run(c, ctx, node)
		if err != nil {
			msg = fmt.Sprintf("node%d: %s: %v", node, b.help, oneLine(err))
		}
		c.mu.Lock()
		c.busy, c.status = "", msg
		c.mu.Unlock()
		select {
		case c.changed <- struct{}{}:
		default: // a redraw is already due
		}
	})
}

// wait waits for the running action, if any.
func (c *controller) wait() { c.wg.Wait() }

// footer is what the table shows under it: the keys and the status line.
func (c *controller) footer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "Selected: node%d   keys: 0-%d select a node", c.selected, c.net.Nodes()-1)
	for _, k := range c.bindings {
		fmt.Fprintf(&b, ", %c %s", k.key, k.help)
	}
	b.WriteString(", q quit\n")
	if c.load != nil {
		b.WriteString(c.load.String() + "\n")
	}
	for _, n := range c.notes {
		b.WriteString(n + "\n")
	}
	status := c.status
	if status == "" {
		status = "ready"
	}
	b.WriteString("> " + status + "\n")
	return b.String()
}

func (c *controller) stop(ctx context.Context, i int) (string, error) {
	if !c.net.Running(i) {
		return fmt.Sprintf("node%d is not running (r starts it)", i), nil
	}
	if err := c.net.Stop(ctx, i); err != nil {
		return "", err
	}
	return fmt.Sprintf("node%d stopped", i), nil
}

func (c *controller) kill(_ context.Context, i int) (string, error) {
	if !c.net.Running(i) {
		return fmt.Sprintf("node%d is not running (r starts it)", i), nil
	}
	if err := c.net.Kill(i); err != nil {
		return "", err
	}
	return fmt.Sprintf("node%d killed with SIGKILL", i), nil
}

func (c *controller) start(ctx context.Context, i int) (string, error) {
	verb := "started"
	if c.net.Running(i) {
		verb = "restarted"
	}
	if err := c.net.Start(ctx, i); err != nil {
		return "", err
	}
	return fmt.Sprintf("node%d %s", i, verb), nil
}

// partition cuts every link of node i, remembering them for heal.
func (c *controller) partition(ctx context.Context, i int) (string, error) {
	var cut []testnet.Edge
	defer func() {
		c.mu.Lock()
		c.cut[i] = append(c.cut[i], cut...)
		c.mu.Unlock()
	}()
	for _, e := range c.net.Links() {
		if e.A != i && e.B != i {
			continue
		}
		if err := c.net.Disconnect(ctx, e.A, e.B); err != nil {
			return "", err
		}
		cut = append(cut, e)
	}
	if len(cut) == 0 {
		return fmt.Sprintf("node%d has no links to cut", i), nil
	}
	return fmt.Sprintf("node%d cut off: %s", i, edgeList(cut)), nil
}

// heal makes again the links partition cut for node i (links cut for other
// nodes stay cut).
func (c *controller) heal(ctx context.Context, i int) (string, error) {
	c.mu.Lock()
	cut := c.cut[i]
	delete(c.cut, i)
	c.mu.Unlock()
	var healed []testnet.Edge
	for k, e := range cut {
		if err := c.net.Reconnect(ctx, e.A, e.B); err != nil {
			c.mu.Lock()
			c.cut[i] = append(c.cut[i], cut[k:]...)
			c.mu.Unlock()
			return "", err
		}
		healed = append(healed, e)
	}
	if len(healed) == 0 {
		return fmt.Sprintf("node%d has no cut links to heal", i), nil
	}
	return fmt.Sprintf("node%d linked again: %s", i, edgeList(healed)), nil
}

// toggleMiner asks the node whether it mines (getgenerate) and turns it the
// other way (setgenerate).
func (c *controller) toggleMiner(ctx context.Context, i int) (string, error) {
	var on bool
	if err := c.net.Call(ctx, i, "getgenerate", nil, &on); err != nil {
		return "", fmt.Errorf("getgenerate: %w", err)
	}
	params := []any{!on}
	if !on {
		params = append(params, c.mineThreads)
	}
	if err := c.net.Call(ctx, i, "setgenerate", params, nil); err != nil {
		return "", fmt.Errorf("setgenerate: %w", err)
	}
	if on {
		return fmt.Sprintf("node%d's miner stopped", i), nil
	}
	return fmt.Sprintf("node%d's miner started (%d threads)", i, c.mineThreads), nil
}

// generate mines n blocks on node i at once (generatetoaddress), as regtest
// mines on demand; 100 make regtest's coinbases mature, for the tx load.
func (c *controller) generate(ctx context.Context, i, n int) (string, error) {
	var hashes []string
	if err := c.net.Call(ctx, i, "generatetoaddress", []any{n, c.mineAddress}, &hashes); err != nil {
		return "", fmt.Errorf("generatetoaddress: %w", err)
	}
	if len(hashes) == 0 {
		return "", errors.New("generatetoaddress mined no block")
	}
	if len(hashes) == 1 {
		return fmt.Sprintf("node%d mined %s", i, shortHash(hashes[0])), nil
	}
	return fmt.Sprintf("node%d mined %d blocks, up to %s", i, len(hashes), shortHash(hashes[len(hashes)-1])), nil
}

func edgeList(edges []testnet.Edge) string {
	parts := make([]string, len(edges))
	for i, e := range edges {
		parts[i] = fmt.Sprintf("node%d-node%d", e.A, e.B)
	}
	return strings.Join(parts, ", ")
}

// oneLine keeps the status line one line: a failed start carries the end of
// the node's log.
func oneLine(err error) string {
	var rerr *rpc.Error
	if errors.As(err, &rerr) && rerr.Code == rpc.CodeMethodNotFound {
		return err.Error() + " (this node has no such method)"
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}
