//go:build unix

package localnet

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/testnet"
)

// TestTxLoadOnRealNode runs the load against a real regtest node: it spends
// the mature coinbase, lives on its own unconfirmed outputs, and goes on
// after a block confirms them, with every transaction accepted.
func TestTxLoadOnRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node process")
	}
	tn := testnet.New(t, testnet.Options{Nodes: 1, LogLevel: "warn"})
	node := tn.Node(0)
	params := chain.RegtestParams
	dir := t.TempDir()
	file, pass := filepath.Join(dir, walletFile), "load test"
	addr, err := packageAddress(file, pass, Regtest)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	generate := func(n int) {
		t.Helper()
		if err := node.Call(ctx, "generatetoaddress", []any{n, addr}, nil); err != nil {
			t.Fatal(err)
		}
	}
	mempoolSize := func() int {
		t.Helper()
		var info struct {
			Size int `json:"size"`
		}
		if err := node.Call(ctx, "getmempoolinfo", nil, &info); err != nil {
			t.Fatal(err)
		}
		return info.Size
	}

	load, err := newTxLoad(harnessNetwork{tn}, params, file, pass, addr, 64) // tx/s
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is mature yet: the load says so and sends nothing.
	generate(1)
	if err := load.sendOne(ctx); !errors.Is(err, errNoCoin) {
		t.Fatalf("with no mature coin: %v, want errNoCoin", err)
	}

	generate(int(params.CoinbaseMaturity) + 4) // 5 mature coinbases, each good for 25 transactions a block
	load.toggle()
	// start runs the load until the returned stop.
	start := func() (stop func()) {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); load.run(runCtx) }()
		return func() { cancel(); <-done }
	}
	stop := start()
	defer func() { stop() }()

	waitSent := func(n int) {
		t.Helper()
		for {
			load.mu.Lock()
			sent, failed, last := load.sent, load.failed, load.lastErr
			load.mu.Unlock()
			if failed > 0 {
				t.Fatalf("%d sends failed, the last: %s", failed, last)
			}
			if sent >= n {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("only %d of %d sent: %v", sent, n, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// More than the mempool's 25 unconfirmed ancestors: the load branches.
	waitSent(40)
	if size := mempoolSize(); size < 40 {
		t.Errorf("mempool holds %d transactions, want the 40 sent", size)
	}
	stop()
	generate(1)
	if size := mempoolSize(); size != 0 {
		t.Errorf("the block left %d of the load's transactions in the mempool", size)
	}
	load.mu.Lock()
	before := load.sent
	load.mu.Unlock()
	stop = start()
	waitSent(before + 40)
	stop()
	load.mu.Lock()
	sent := load.sent
	load.mu.Unlock()
	// One more may be there: a send that stop cut short after the node took it.
	if size := mempoolSize(); size < sent-before || size > sent-before+1 {
		t.Errorf("after the block, the mempool holds %d transactions, want the %d sent since", size, sent-before)
	}
}
