//go:build unix

package localnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quarrychain/quarry/testnet/fakenode"
)

// ttyRunEnv, set to a directory, makes the test binary run a 2-node testnet
// of fake nodes there on its terminal, keys and all, as `node testnet` does:
// the tmux test starts it in a tmux pane. ttyBinsEnv names the directory of
// the fake node and wallet binaries.
const (
	ttyRunEnv  = "QUARRY_LOCALNET_TTY_DIR"
	ttyBinsEnv = "QUARRY_LOCALNET_TTY_BINS"
)

// runOnTTYIfRequested is TestMain's way into that run.
func runOnTTYIfRequested() {
	dir := os.Getenv(ttyRunEnv)
	if dir == "" {
		return
	}
	// The nodes are this binary too, and must become fake nodes, not
	// another testnet.
	os.Unsetenv(ttyRunEnv)
	os.Setenv(fakenode.Env, "1")
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	err := Run(ctx, Options{Nodes: 2, Miners: 1, Dir: dir, NodeBin: filepath.Join(os.Getenv(ttyBinsEnv), "node"),
		Keys: os.Stdin, Refresh: 200 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "node testnet:", err)
		cancel()
		os.Exit(1)
	}
	cancel()
	os.Exit(0)
}

// tmuxPane is a detached tmux session on its own server socket, so that the
// test touches no tmux of the user's.
type tmuxPane struct {
	t      *testing.T
	socket string
}

func (p *tmuxPane) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", p.socket}, args...)...).CombinedOutput()
	return string(out), err
}

func (p *tmuxPane) capture() string {
	out, err := p.tmux("capture-pane", "-p", "-t", "quarry")
	if err != nil {
		p.t.Fatalf("capture-pane: %v: %s", err, out)
	}
	return out
}

// send presses keys as a person would, one at a time.
func (p *tmuxPane) send(keys string) {
	p.t.Helper()
	if out, err := p.tmux("send-keys", "-t", "quarry", "-l", keys); err != nil {
		p.t.Fatalf("send-keys %q: %v: %s", keys, err, out)
	}
}

// waitFor waits until the pane shows a match of re, and returns the pane.
func (p *tmuxPane) waitFor(what string, re *regexp.Regexp, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pane := p.capture()
		if re.MatchString(pane) {
			return pane
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the pane never showed %s (%s) within %v:\n%s", what, re, timeout, pane)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDriveWithTmux runs the testnet in a tmux pane and drives it by its
// keys, reading their effects off the screen as a person would.
func TestDriveWithTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bins, dir := fakeBinDir(t, true), t.TempDir()
	p := &tmuxPane{t: t, socket: "quarry-test-" + strconv.Itoa(os.Getpid())}
	// After the run, the shell shows the exit status and whether the
	// terminal has its echo and line editing back, then waits to be read.
	script := fmt.Sprintf(`%s -test.run='^$'; echo "EXIT=$?"; stty -a | tr ' ;' '\n\n' | grep -x -e echo -e -echo -e icanon -e -icanon | tr '\n' ' '; echo; sleep 60`, self)
	cmd := exec.Command("tmux", "-L", p.socket, "new-session", "-d", "-s", "quarry", "-x", "220", "-y", "60", "sh", "-c", script)
	cmd.Env = append(os.Environ(), ttyRunEnv+"="+dir, ttyBinsEnv+"="+bins, "GORACE=atexit_sleep_ms=0", fakenode.Env+"=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { cleanUpTmux(t, p, dir) })

	const step = 15 * time.Second
	p.waitFor("the table and the keys", regexp.MustCompile(`(?s)NODE\s+HEIGHT.*node1 .*Selected: node0 .*> ready`), step)

	p.send("1s")
	p.waitFor("node1 stopped", regexp.MustCompile(`(?s)node1\s+down: not running.*> node1 stopped`), step)
	p.send("r")
	p.waitFor("node1 started again", regexp.MustCompile(`(?s)node1\s+\d+\s+\S+\s+1\s+off\s.*> node1 started`), step)
	p.send("k")
	p.waitFor("node1 killed", regexp.MustCompile(`(?s)node1\s+down: not running.*> node1 killed with SIGKILL`), step)
	p.send("r")
	p.waitFor("node1 started after the kill", regexp.MustCompile(`> node1 started`), step)
	// node0 mines and has node1 as its one peer: after the cut it has none.
	p.send("p")
	p.waitFor("node1 partitioned", regexp.MustCompile(`(?s)node0\s+\d+\s+\S+\s+1\s+on\s+1\.50 kH/s\s+0\s.*> node1 cut off: node0-node1`), step)
	p.send("h")
	p.waitFor("node1 linked again", regexp.MustCompile(`(?s)node0\s+\d+\s+\S+\s+1\s+on\s+1\.50 kH/s\s+1\s.*> node1 linked again: node0-node1`), step)

	p.send("m")
	p.waitFor("node1 mining", regexp.MustCompile(`(?s)node1\s+\d+\s+\S+\s+1\s+on\s.*> node1's miner started \(\d+ threads\)`), step)
	p.send("m")
	p.waitFor("node1's miner off", regexp.MustCompile(`(?s)node1\s+\d+\s+\S+\s+1\s+off\s.*> node1's miner stopped`), step)

	p.send("q")
	pane := p.waitFor("the run's end and the terminal's modes", regexp.MustCompile(`EXIT=\d+\n.*(echo|icanon)`), step)
	if !strings.Contains(pane, "EXIT=0") || !strings.Contains(pane, "Stopped.") {
		t.Errorf("the run did not end cleanly:\n%s", pane)
	}
	if !regexp.MustCompile(`(?m)(^|\s)echo(\s|$)`).MatchString(pane) || !regexp.MustCompile(`(?m)(^|\s)icanon(\s|$)`).MatchString(pane) {
		t.Errorf("the terminal was left in raw mode:\n%s", pane)
	}
}

// cleanUpTmux ends the tmux server and checks that no node outlived the
// run, killing any that did (the test failed midway, say).
func cleanUpTmux(t *testing.T, p *tmuxPane, dir string) {
	if out, err := p.tmux("kill-server"); err != nil {
		t.Logf("tmux kill-server: %v: %s", err, out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, harnessLogFile))
	started := regexp.MustCompile(`msg=started node=node\d+ pid=(\d+)`).FindAllStringSubmatch(string(log), -1)
	if len(started) == 0 {
		t.Errorf("the harness log names no started node:\n%s", log)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range started {
		pid, _ := strconv.Atoi(m[1])
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("node process %d outlived the run; killing it", pid)
			syscall.Kill(-pid, syscall.SIGKILL) // its process group, as the harness does
		}
	}
}
