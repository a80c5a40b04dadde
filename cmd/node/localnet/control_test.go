package localnet

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/testnet"
)

// networkDouble records what the keys do; the harness's own operations are
// tested on real processes in testnet/, and the whole path in the tmux test.
type networkDouble struct {
	mu      sync.Mutex
	running []bool
	links   map[testnet.Edge]bool
	ops     []string
	mining  map[int]bool
	noMiner bool          // answer getgenerate and setgenerate with -32601
	block   chan struct{} // when set, Stop waits for it
}

func newNetworkDouble(nodes int, edges []testnet.Edge) *networkDouble {
	d := &networkDouble{running: make([]bool, nodes), links: map[testnet.Edge]bool{}, mining: map[int]bool{}}
	for i := range d.running {
		d.running[i] = true
	}
	for _, e := range edges {
		d.links[e] = true
	}
	return d
}

func (d *networkDouble) record(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ops = append(d.ops, fmt.Sprintf(format, args...))
}

func (d *networkDouble) takeOps() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ops := d.ops
	d.ops = nil
	return ops
}

func (d *networkDouble) Nodes() int { return len(d.running) }

func (d *networkDouble) Running(i int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running[i]
}

func (d *networkDouble) setRunning(i int, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.running[i] = on
}

func (d *networkDouble) Stop(ctx context.Context, i int) error {
	if d.block != nil {
		select {
		case <-d.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.record("stop %d", i)
	d.setRunning(i, false)
	return nil
}

func (d *networkDouble) Kill(i int) error {
	d.record("kill %d", i)
	d.setRunning(i, false)
	return nil
}

func (d *networkDouble) Start(_ context.Context, i int) error {
	d.record("start %d", i)
	d.setRunning(i, true)
	return nil
}

func (d *networkDouble) Links() []testnet.Edge {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []testnet.Edge
	for e := range d.links {
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y testnet.Edge) int { return (x.A*100 + x.B) - (y.A*100 + y.B) })
	return out
}

func (d *networkDouble) Disconnect(_ context.Context, a, b int) error {
	d.record("cut %d-%d", a, b)
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.links, testnet.Edge{A: a, B: b})
	return nil
}

func (d *networkDouble) Reconnect(_ context.Context, a, b int) error {
	d.record("link %d-%d", a, b)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.links[testnet.Edge{A: a, B: b}] = true
	return nil
}

func (d *networkDouble) Call(_ context.Context, i int, method string, params, result any) error {
	p, _ := json.Marshal(params)
	d.record("%d %s %s", i, method, p)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch method {
	case "getgenerate", "setgenerate":
		if d.noMiner {
			return &rpc.Error{Code: rpc.CodeMethodNotFound, Message: "Method not found"}
		}
		if method == "getgenerate" {
			*result.(*bool) = d.mining[i]
		} else {
			d.mining[i] = params.([]any)[0].(bool)
		}
	case "generatetoaddress":
		*result.(*[]string) = []string{"00000a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293c3d4e5f6"}
	}
	return nil
}

// press sends keys one by one, waiting for each action to end.
func press(t *testing.T, c *controller, keys string) (quit bool) {
	t.Helper()
	for _, k := range keys {
		if c.handleKey(t.Context(), k) {
			return true
		}
		c.wait()
	}
	return false
}

// wantStatus presses keys and checks the status line they leave.
func wantStatus(t *testing.T, c *controller, keys, want string) {
	t.Helper()
	press(t, c, keys)
	if got := c.statusLine(); got != want {
		t.Errorf("after %q: status %q, want %q", keys, got, want)
	}
}

func (c *controller) statusLine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func TestKeysStopKillRestart(t *testing.T) {
	d := newNetworkDouble(3, nil)
	c := newController(d, 2, "", nil)
	wantStatus(t, c, "1s", "node1 stopped")
	press(t, c, "s")
	if got := c.statusLine(); !strings.Contains(got, "not running") {
		t.Errorf("stopping a stopped node: status %q", got)
	}
	wantStatus(t, c, "r", "node1 started")
	wantStatus(t, c, "2kr", "node2 started")
	wantStatus(t, c, "r", "node2 restarted")
	want := []string{"stop 1", "start 1", "kill 2", "start 2", "start 2"}
	if got := d.takeOps(); !reflect.DeepEqual(got, want) {
		t.Errorf("ops %q, want %q", got, want)
	}
}

func TestKeysSelectOnlyExistingNodes(t *testing.T) {
	c := newController(newNetworkDouble(2, nil), 1, "", nil)
	wantStatus(t, c, "5", "there is no node5")
	press(t, c, "1")
	if !strings.HasPrefix(c.footer(), "Selected: node1   keys: 0-1 select a node, s stop, k kill -9, r (re)start") {
		t.Errorf("footer:\n%s", c.footer())
	}
	if press(t, c, "x") {
		t.Error("an unbound key quits")
	}
	for _, k := range []rune{'q', 0x03, 0x04} {
		if !c.handleKey(t.Context(), k) {
			t.Errorf("key %q does not quit", k)
		}
	}
}

func TestKeysPartitionAndHeal(t *testing.T) {
	d := newNetworkDouble(4, testnet.FullMesh(4))
	c := newController(d, 1, "", nil)
	press(t, c, "1p")
	if got, want := d.takeOps(), []string{"cut 0-1", "cut 1-2", "cut 1-3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("partition: %q, want %q", got, want)
	}
	if got := c.statusLine(); got != "node1 cut off: node0-node1, node1-node2, node1-node3" {
		t.Errorf("status %q", got)
	}
	// Another node's partition cuts its remaining links only; healing node1
	// leaves them cut.
	press(t, c, "2p1h")
	if got, want := d.takeOps(), []string{"cut 0-2", "cut 2-3", "link 0-1", "link 1-2", "link 1-3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("partition node2, heal node1: %q, want %q", got, want)
	}
	wantStatus(t, c, "h", "node1 has no cut links to heal")
	press(t, c, "2h")
	if got, want := d.takeOps(), []string{"link 0-2", "link 2-3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("heal node2: %q, want %q", got, want)
	}
	if len(d.Links()) != 6 {
		t.Errorf("links after healing all: %v", d.Links())
	}
}

func TestKeysMiner(t *testing.T) {
	d := newNetworkDouble(2, nil)
	c := newController(d, 3, "", nil)
	wantStatus(t, c, "1m", "node1's miner started (3 threads)")
	wantStatus(t, c, "m", "node1's miner stopped")
	want := []string{`1 getgenerate null`, `1 setgenerate [true,3]`, `1 getgenerate null`, `1 setgenerate [false]`}
	if got := d.takeOps(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}

	// A node without the methods says so in the status line.
	d.noMiner = true
	press(t, c, "m")
	if got := c.statusLine(); !strings.Contains(got, "node1: miner on/off: getgenerate: Method not found (rpc error -32601)") {
		t.Errorf("status %q", got)
	}
}

func TestKeysGenerateOnlyOnDemand(t *testing.T) {
	d := newNetworkDouble(1, nil)
	press(t, newController(d, 1, "", nil), "g")
	if ops := d.takeOps(); len(ops) != 0 {
		t.Errorf("g without on-demand mining did %q", ops)
	}
	c := newController(d, 1, "rqry1payout", nil)
	press(t, c, "g")
	if got, want := d.takeOps(), []string{`0 generatetoaddress [1,"rqry1payout"]`}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if got := c.statusLine(); got != "node0 mined 00000a1b..c3d4e5f6" {
		t.Errorf("status %q", got)
	}
	press(t, c, "G")
	if got, want := d.takeOps(), []string{`0 generatetoaddress [100,"rqry1payout"]`}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestKeysOneActionAtATime(t *testing.T) {
	d := newNetworkDouble(2, nil)
	d.block = make(chan struct{})
	c := newController(d, 1, "", nil)
	c.handleKey(t.Context(), 's')
	c.handleKey(t.Context(), 'k')
	if got := c.statusLine(); got != "wait: node0: stop..." {
		t.Errorf("status while busy %q", got)
	}
	close(d.block)
	c.wait()
	if got, want := d.takeOps(), []string{"stop 0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ops %q, want %q", got, want)
	}
	select {
	case <-c.changed:
	default:
		t.Error("the end of an action asks for no redraw")
	}
}
