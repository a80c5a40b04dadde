package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Environment variables that name prebuilt binaries, so that CI can build once
// for every test package and a developer can test a binary built elsewhere.
const (
	NodeBinEnv   = "QUARRY_NODE_BIN"
	WalletBinEnv = "QUARRY_WALLET_BIN"
)

// buildTimeout bounds one `go build`; a cold build of the node with libp2p takes
// a minute or two on two cores, more under -race.
const buildTimeout = 10 * time.Minute

// binDirPrefix starts the name of the temporary directory a process builds its
// binaries into; the process id follows, so later processes can remove the
// directories of processes that have exited (nothing else would).
const binDirPrefix = "quarry-testnet-bin-"

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var (
	nodeBuild, walletBuild builtBinary
	binDirBuild            builtBinary
)

// NodeBinary returns the node binary to run: $QUARRY_NODE_BIN when set,
// otherwise ./cmd/node of this module, built once per process. When the test
// binary runs with the race detector, so does the node.
func NodeBinary() (string, error) { return binary(NodeBinEnv, &nodeBuild, "node") }

// WalletBinary is NodeBinary for the wallet CLI: $QUARRY_WALLET_BIN, or
// ./cmd/wallet built once per process.
func WalletBinary() (string, error) { return binary(WalletBinEnv, &walletBuild, "wallet") }

func binary(env string, b *builtBinary, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	b.once.Do(func() { b.path, b.err = build(name) })
	return b.path, b.err
}

func build(name string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build ./cmd/%s: %w", name, err)
	}
	root, err := moduleRoot(goBin)
	if err != nil {
		return "", fmt.Errorf("build ./cmd/%s: %w", name, err)
	}
	dir, err := binDir()
	if err != nil {
		return "", fmt.Errorf("build ./cmd/%s: %w", name, err)
	}
	out := filepath.Join(dir, name)
	// Built without -race even when the tests are: the node's packages are
	// race-tested on their own, and a race-built node mines and validates
	// several times slower, which the end-to-end tests' deadlines would feel.
	args := []string{"build", "-o", out}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, append(args, "./cmd/"+name)...)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s in %s: %w\n%s", name, root, err, output)
	}
	return out, nil
}

// moduleRoot finds the module from this source file's directory when it is on
// disk (so tests of any package, and binaries run from anywhere inside the
// checkout, build the same tree), else from the working directory.
func moduleRoot(goBin string) (string, error) {
	cmd := exec.Command(goBin, "env", "GOMOD")
	if _, file, _, ok := runtime.Caller(0); ok {
		if _, err := os.Stat(file); err == nil {
			cmd.Dir = filepath.Dir(file)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the quarry module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

func binDir() (string, error) {
	binDirBuild.once.Do(func() {
		removeStaleBinDirs()
		binDirBuild.path, binDirBuild.err = os.MkdirTemp("", binDirPrefix+strconv.Itoa(os.Getpid())+"-")
	})
	return binDirBuild.path, binDirBuild.err
}

// removeStaleBinDirs removes the binaries of test processes that have exited:
// each holds a node binary of tens of megabytes, and a process cannot remove
// its own when the last test ends.
func removeStaleBinDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), binDirPrefix+"*"))
	for _, d := range dirs {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), binDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d) // best effort: another process may be removing it too
	}
}
