package testnet

import (
	"os"
	"testing"
	"time"

	"github.com/quarrychain/quarry/testnet/fakenode"
)

func TestMain(m *testing.M) {
	fakenode.RunIfRequested()
	os.Exit(m.Run())
}

// fakeOptions runs nodes that are this test binary in fake-node mode.
func fakeOptions(t *testing.T, opts Options) Options {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts.NodeBin = bin
	// Under -race a process sleeps a second at exit for late reports; the
	// fakes stop often and their races are the test binary's, found anyway.
	opts.Env = append(opts.Env, fakenode.Env+"=1", "GORACE=atexit_sleep_ms=0")
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 20 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	return opts
}
