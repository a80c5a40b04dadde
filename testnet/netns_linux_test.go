package testnet

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func netnsNames(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for line := range strings.Lines(string(out)) {
		if name, _, _ := strings.Cut(strings.TrimSpace(line), " "); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// TestNamespacesRemovedOnClose checks that Close deletes every namespace and
// interface the network made, and that a node in one listens on its own
// address only.
func TestNamespacesRemovedOnClose(t *testing.T) {
	if err := NamespacesSupported(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	n, err := Launch(ctx, Options{Nodes: 2, Topology: Line, Namespaces: true, Dir: t.TempDir(), LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	run := n.namespaces().run
	made := slices.DeleteFunc(netnsNames(t), func(name string) bool { return !strings.HasPrefix(name, run) })
	if want := []string{run + "-hub", run + "-n0", run + "-n1"}; !sameSet(made, want) {
		t.Errorf("namespaces %q, want %q", made, want)
	}
	addr, err := n.Node(1).Multiaddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/ip4/" + NamespaceAddr(1) + "/tcp/"; !strings.HasPrefix(addr, want) {
		t.Errorf("node1's address %s, want it on %s", addr, want)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range netnsNames(t) {
		if strings.HasPrefix(name, run) {
			t.Errorf("namespace %s left after Close", name)
		}
	}
}

// TestRemoveStaleNamespaces checks that a run deletes the namespaces of runs
// whose process is gone, and keeps those of live runs and every other one.
func TestRemoveStaleNamespaces(t *testing.T) {
	if err := NamespacesSupported(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if processAlive(gone.Process.Pid) {
		t.Skipf("pid %d was reused already", gone.Process.Pid)
	}
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e6, 16)
	stale := namespacePrefix + strconv.Itoa(gone.Process.Pid) + "-" + suffix + "-hub"
	live := namespacePrefix + "1-" + suffix + "-n0" // pid 1 always runs
	other := "quarry-test-other-" + suffix
	for _, name := range []string{stale, live, other} {
		if err := runIP(ctx, "netns", "add", name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = runIP(context.Background(), "netns", "delete", name) })
	}
	if err := removeStaleNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	names := netnsNames(t)
	if slices.Contains(names, stale) {
		t.Errorf("stale namespace %s was kept", stale)
	}
	for _, name := range []string{live, other} {
		if !slices.Contains(names, name) {
			t.Errorf("namespace %s was deleted", name)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
