package miner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// tipPayee is the address the tip's coinbase pays to.
func tipPayee(t *testing.T, c *blockchain.Chain) [chain.PubKeyHashSize]byte {
	t.Helper()
	b, err := c.BlockByHash(c.Best().Hash)
	if err != nil {
		t.Fatal(err)
	}
	return b.Txs[0].Outputs[0].PubKeyHash
}

// TestRuntimeControl drives the loop as setgenerate and setminingaddress do:
// no start without an address, start, a new thread count and a new address
// while it runs, stop (after which no block comes), and no start once closed.
func TestRuntimeControl(t *testing.T) {
	c := chaintest.OpenChain(t, chain.RegtestParams)
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Threads: 1, MinBlockInterval: time.Millisecond, Logger: quietLog})
	defer m.Close()
	if err := m.SetGenerate(true, 0); !errors.Is(err, ErrNoPayTo) || m.Generating() {
		t.Fatalf("start without an address: %v, generating %v", err, m.Generating())
	}
	a, b := [20]byte{0xa}, [20]byte{0xb}
	m.SetPayTo(a)
	if err := m.SetGenerate(true, 0); err != nil || !m.Generating() || m.Threads() != 1 {
		t.Fatalf("start: %v, generating %v, threads %d", err, m.Generating(), m.Threads())
	}
	waitFor(t, func() bool { return c.Best().Height >= 3 })
	if got := tipPayee(t, c); got != a {
		t.Fatalf("mined to %x, want %x", got, a)
	}
	if err := m.SetGenerate(true, 2); err != nil || !m.Generating() || m.Threads() != 2 {
		t.Fatalf("new thread count: %v, generating %v, threads %d", err, m.Generating(), m.Threads())
	}
	m.SetPayTo(b)
	h := c.Best().Height
	// A block whose template predates SetPayTo may still land; the next ones pay b.
	waitFor(t, func() bool { return c.Best().Height >= h+2 && tipPayee(t, c) == b })
	if err := m.SetGenerate(false, 0); err != nil || m.Generating() || m.Threads() != 2 {
		t.Fatalf("stop: %v, generating %v, threads %d", err, m.Generating(), m.Threads())
	}
	h = c.Best().Height
	time.Sleep(100 * time.Millisecond)
	if c.Best().Height != h {
		t.Fatalf("blocks mined after SetGenerate(false): height %d, then %d", h, c.Best().Height)
	}
	m.Close()
	if err := m.SetGenerate(true, 0); !errors.Is(err, ErrClosed) || m.Generating() {
		t.Fatalf("start after Close: %v, generating %v", err, m.Generating())
	}
}

// TestRegtestNeverTooNew is the regtest runaway: mining as fast as regtest
// allows, each block's time (past the median of the last eleven) ran ahead of
// the clock until the node refused every block as more than two hours in the
// future. The chain here starts 20 s short of that limit, so an unguarded
// miner crosses it within some hundred blocks. Paced (the regtest default) or
// not, the loop must never submit a block the chain refuses, and
// generatetoaddress must still work after.
func TestRegtestNeverTooNew(t *testing.T) {
	for _, c := range []struct {
		name     string
		interval time.Duration
	}{{"paced", 0}, {"unpaced", time.Nanosecond}} {
		t.Run(c.name, func(t *testing.T) {
			ch := chaintest.OpenChain(t, chain.RegtestParams)
			g := chaintest.New(chain.RegtestParams)
			parent := chain.RegtestParams.GenesisHash
			start := time.Now().Unix() + chain.MaxFutureBlockTime - 20
			for i := range chain.MedianTimeBlocks {
				b := g.BuildBlock(parent, func(b *chain.Block) { b.Header.Time = uint32(start + int64(i)) })
				if _, err := ch.ProcessBlock(b); err != nil {
					t.Fatal(err)
				}
				parent = b.Hash()
			}
			var mu sync.Mutex
			var rejectedBy []error
			var submittedAt []time.Time
			submit := func(b *chain.Block) error {
				_, err := ch.ProcessBlock(b)
				mu.Lock()
				defer mu.Unlock()
				submittedAt = append(submittedAt, time.Now())
				if err != nil {
					rejectedBy = append(rejectedBy, err)
				}
				return err
			}
			m := New(Config{Chain: ch, Template: coinbaseOnly(ch), Submit: submit, Threads: 1, MinBlockInterval: c.interval, Logger: quietLog})
			defer m.Close()
			m.SetPayTo([20]byte{1})
			if err := m.SetGenerate(true, 0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			if err := m.SetGenerate(false, 0); err != nil {
				t.Fatal(err)
			}
			// The loop has stopped: nothing appends to the slices until MineBlocks.
			mu.Lock()
			rejected, submitted := rejectedBy, submittedAt
			mu.Unlock()
			if len(rejected) > 0 {
				t.Fatalf("%d of %d mined blocks rejected, first: %v", len(rejected), len(submitted), rejected[0])
			}
			if len(submitted) == 0 {
				t.Fatal("no block mined")
			}
			if c.interval == 0 {
				for i := 1; i < len(submitted); i++ {
					if d := submitted[i].Sub(submitted[i-1]); d < RegtestBlockInterval {
						t.Fatalf("blocks %d and %d mined %v apart, want at least %v", i-1, i, d, RegtestBlockInterval)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := m.MineBlocks(ctx, 2, [20]byte{2}, 0); err != nil {
				t.Fatalf("generatetoaddress after %d mined blocks: %v", len(submitted), err)
			}
			tip, err := ch.BlockByHash(ch.Best().Hash)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d blocks mined, tip time %+ds from the clock", len(submitted), int64(tip.Header.Time)-time.Now().Unix())
		})
	}
}

// BenchmarkSetGenerate measures how long setgenerate takes to act: from
// SetGenerate(true) to the first hash counted, and SetGenerate(false) until the
// loop has stopped (goal: each within 100 ms).
func BenchmarkSetGenerate(b *testing.B) {
	c, err := blockchain.Open(blockchain.Config{Params: chain.MainParams, Dir: b.TempDir(), Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Logger: quietLog})
	defer m.Close()
	m.SetPayTo([20]byte{})
	m.chooseKernel(context.Background())
	var startTotal, stopTotal, worst time.Duration
	for b.Loop() {
		before := m.TotalHashes()
		t0 := time.Now()
		if err := m.SetGenerate(true, 0); err != nil {
			b.Fatal(err)
		}
		for m.TotalHashes() == before {
			time.Sleep(100 * time.Microsecond)
		}
		started := time.Since(t0)
		t1 := time.Now()
		if err := m.SetGenerate(false, 0); err != nil {
			b.Fatal(err)
		}
		stopped := time.Since(t1)
		startTotal += started
		stopTotal += stopped
		worst = max(worst, started, stopped)
	}
	b.ReportMetric(float64(startTotal.Microseconds())/float64(b.N)/1000, "ms-to-start")
	b.ReportMetric(float64(stopTotal.Microseconds())/float64(b.N)/1000, "ms-to-stop")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

// TestLoopWaitsForSync: while the node catches up with the network the loop
// mines nothing (a block on an old tip is a fork no one wants); once caught
// up it mines, and generatetoaddress, asked for explicitly, never waits.
func TestLoopWaitsForSync(t *testing.T) {
	c := chaintest.OpenChain(t, chain.RegtestParams)
	var syncing atomic.Bool
	syncing.Store(true)
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Threads: 1, MinBlockInterval: time.Millisecond,
		InitialBlockDownload: syncing.Load, Logger: quietLog})
	defer m.Close()
	if _, err := m.MineBlocks(t.Context(), 1, [20]byte{1}, 0); err != nil {
		t.Fatalf("generatetoaddress while syncing: %v", err)
	}
	m.SetPayTo([20]byte{2})
	if err := m.SetGenerate(true, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * syncPoll)
	if h := c.Best().Height; h != 1 {
		t.Fatalf("height %d while syncing, want 1 (generatetoaddress's block only)", h)
	}
	syncing.Store(false)
	waitFor(t, func() bool { return c.Best().Height >= 3 })
}

// TestStopDuringKernelChoice: setgenerate false right after the first
// setgenerate true must not wait out the fraction of a second the kernels are
// timed for; a choice cut short is made by the next search instead.
func TestStopDuringKernelChoice(t *testing.T) {
	kernelChoice.Lock()
	kernelChoice.done = false
	kernelChoice.Unlock()
	m := New(Config{Chain: chaintest.OpenChain(t, chain.RegtestParams), Logger: quietLog})
	defer m.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m.chooseKernel(ctx)
	if kernelChoice.done {
		t.Fatal("kernel choice made under a cancelled context")
	}
	m.chooseKernel(t.Context())
	if !kernelChoice.done {
		t.Fatal("no kernel choice made")
	}
}
