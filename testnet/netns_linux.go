package testnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// namespacePrefix starts the name of every network namespace the harness
// makes, so that stale ones from a crashed run can be found and no other
// namespace is ever touched.
const namespacePrefix = "qtn-"

// namespaceName matches the harness's namespaces: qtn-<pid>-<run>-<hub|n<i>>.
var namespaceName = regexp.MustCompile(`^qtn-([0-9]+)-[0-9a-f]+-(hub|n[0-9]+)$`)

// namespaces is a private test network: one network namespace per node, each
// with one address of namespaceSubnet on a veth whose other end is a port of
// a bridge in a hub namespace of its own. Nothing is created in the root
// namespace and no namespace has a route out, so the addresses can neither
// collide with real ones nor leak.
type namespaces struct {
	run   string // qtn-<pid>-<random>
	nodes int
	made  []string // namespaces created so far, deleted in reverse by close
}

// NamespacesSupported reports why nodes cannot run in network namespaces
// here, or nil when they can: it takes root (CAP_SYS_ADMIN) and iproute2.
func NamespacesSupported() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("network namespaces need iproute2's ip: %w", err)
	}
	return nil
}

// newNamespaces makes the hub and one namespace per node, after deleting
// those left by runs whose process is gone. On error it removes what it made.
func newNamespaces(ctx context.Context, nodes int) (*namespaces, error) {
	if nodes > namespaceMaxNodes {
		return nil, fmt.Errorf("%d nodes: namespaces hold at most %d", nodes, namespaceMaxNodes)
	}
	if err := NamespacesSupported(); err != nil {
		return nil, err
	}
	if err := removeStaleNamespaces(ctx); err != nil {
		return nil, err
	}
	random := make([]byte, 4)
	rand.Read(random)
	ns := &namespaces{run: fmt.Sprintf("%s%d-%s", namespacePrefix, os.Getpid(), hex.EncodeToString(random)), nodes: nodes}
	if err := ns.build(ctx); err != nil {
		return nil, errors.Join(err, ns.close(context.WithoutCancel(ctx)))
	}
	return ns, nil
}

func (ns *namespaces) hub() string           { return ns.run + "-hub" }
func (ns *namespaces) node(i int) string     { return ns.run + "-n" + strconv.Itoa(i) }
func (ns *namespaces) nodePath(i int) string { return "/run/netns/" + ns.node(i) }

func (ns *namespaces) add(ctx context.Context, name string) error {
	if err := runIP(ctx, "netns", "add", name); err != nil {
		return err
	}
	ns.made = append(ns.made, name)
	return runIP(ctx, "-n", name, "link", "set", "lo", "up")
}

func (ns *namespaces) build(ctx context.Context) error {
	hub := ns.hub()
	if err := ns.add(ctx, hub); err != nil {
		return err
	}
	if err := runIPs(ctx,
		[]string{"-n", hub, "link", "add", "br0", "type", "bridge"},
		[]string{"-n", hub, "link", "set", "br0", "up"},
	); err != nil {
		return err
	}
	for i := range ns.nodes {
		node, port := ns.node(i), "v"+strconv.Itoa(i)
		if err := ns.add(ctx, node); err != nil {
			return err
		}
		if err := runIPs(ctx,
			// Both ends are made in the hub and one moved at once, so no
			// interface ever exists in the root namespace.
			[]string{"-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", node},
			[]string{"-n", hub, "link", "set", port, "master", "br0", "up"},
			[]string{"-n", node, "addr", "add", NamespaceAddr(i) + "/" + strconv.Itoa(namespaceSubnetBits), "dev", "eth0"},
			[]string{"-n", node, "link", "set", "eth0", "up"},
		); err != nil {
			return err
		}
	}
	return nil
}

// close deletes the namespaces, which takes their interfaces with them. The
// nodes must have stopped: a namespace lives on while a process is in it.
func (ns *namespaces) close(ctx context.Context) error {
	var errs []error
	for i := len(ns.made) - 1; i >= 0; i-- {
		errs = append(errs, runIP(ctx, "netns", "delete", ns.made[i]))
	}
	ns.made = nil
	return errors.Join(errs...)
}

// command runs bin inside node i's namespace.
func (ns *namespaces) command(i int, bin string, args []string) (string, []string) {
	return "ip", append([]string{"netns", "exec", ns.node(i), bin}, args...)
}

// dial connects from inside node i's namespace. The socket is made on a
// thread moved into the namespace and back; a socket stays in the namespace it
// was made in, so the connection works from any thread afterwards.
func (ns *namespaces) dial(ctx context.Context, i int, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, restored, err := dialFromNamespace(ctx, ns.nodePath(i), network, addr)
		// A thread that cannot be moved back stays locked, so that it ends
		// with this goroutine instead of running others in the wrong
		// namespace. Threads must not end otherwise: a node started from a
		// thread gets SIGKILL (Pdeathsig) when that thread ends.
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// dialFromNamespace dials from the network namespace at path on the calling
// thread, which must be locked, and reports whether the thread is back in
// its own namespace.
func dialFromNamespace(ctx context.Context, path, network, addr string) (conn net.Conn, restored bool, err error) {
	own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("open own namespace: %w", err)
	}
	defer unix.Close(own)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("open namespace %s: %w", path, err)
	}
	err = unix.Setns(target, unix.CLONE_NEWNET)
	unix.Close(target)
	if err != nil {
		return nil, true, fmt.Errorf("enter namespace %s: %w", path, err)
	}
	var d net.Dialer
	conn, err = d.DialContext(ctx, network, addr)
	return conn, unix.Setns(own, unix.CLONE_NEWNET) == nil, err
}

// removeStaleNamespaces deletes the harness's namespaces whose creating
// process no longer runs, and no other.
func removeStaleNamespaces(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %w", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ") // "name (id: 3)"
		m := namespaceName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if pid, err := strconv.Atoi(m[1]); err == nil && (pid == os.Getpid() || processAlive(pid)) {
			continue
		}
		errs = append(errs, runIP(ctx, "netns", "delete", name))
	}
	return errors.Join(errs...)
}

func runIPs(ctx context.Context, cmds ...[]string) error {
	for _, args := range cmds {
		if err := runIP(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func runIP(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
