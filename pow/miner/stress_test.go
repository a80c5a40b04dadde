package miner

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// TestControlStress toggles the loop, its threads and its address from many
// goroutines at once while generatetoaddress mines beside it and new tips keep
// arriving, then closes the miner under them: nothing may deadlock, every
// call must return, the chain must take every block, and no goroutine of the
// miner may outlive Close.
func TestControlStress(t *testing.T) {
	c := chaintest.OpenChain(t, chain.RegtestParams)
	base := runtime.NumGoroutine()
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Threads: 1, MinBlockInterval: time.Millisecond, Logger: quietLog})
	m.SetPayTo([20]byte{1})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 40 {
				switch (g + i) % 4 {
				case 0:
					_ = m.SetGenerate(true, 1+i%3) // ErrClosed once Close ran
				case 1:
					_ = m.SetGenerate(false, 0)
				case 2:
					m.SetPayTo([20]byte{byte(i)})
				case 3:
					m.Generating()
					m.Threads()
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := m.MineBlocks(ctx, 2, [20]byte{2}, 0); err != nil {
				t.Errorf("MineBlocks: %v", err)
				return
			}
		}
	})
	wg.Go(func() {
		time.Sleep(50 * time.Millisecond)
		m.Close()
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		buf := make([]byte, 1<<20)
		t.Fatalf("controls still running after 20 s (deadlock?):\n%s", buf[:runtime.Stack(buf, true)])
	}
	m.Close()
	if m.Generating() {
		t.Error("generating after Close")
	}
	if c.Best().Height < 10 {
		t.Errorf("height %d, want at least MineBlocks' 10 blocks", c.Best().Height)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after Close, %d before New:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
