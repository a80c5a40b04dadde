package miner

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// coinbaseOnly is a template source without a mempool: a coinbase on the tip.
func coinbaseOnly(c *blockchain.Chain) func([chain.PubKeyHashSize]byte) (*chain.Block, error) {
	return func(payTo [chain.PubKeyHashSize]byte) (*chain.Block, error) {
		best := c.Best()
		height := best.Height + 1
		cb := chain.NewCoinbase(height, 0, []byte("test"), c.Params().Subsidy(height), payTo)
		b := &chain.Block{
			Header: chain.Header{Version: 1, PrevBlock: best.Hash, Bits: best.NextBits,
				Time: uint32(max(time.Now().Unix(), best.MedianTime+1))},
			Txs: []*chain.Tx{cb},
		}
		b.Header.MerkleRoot = chain.MerkleRoot(b.WitnessHashes())
		return b, nil
	}
}

func submitTo(c *blockchain.Chain) func(*chain.Block) error {
	return func(b *chain.Block) error {
		_, err := c.ProcessBlock(b)
		return err
	}
}

func TestMineBlocksValidate(t *testing.T) {
	c := chaintest.OpenChain(t, chain.RegtestParams)
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Threads: 2, Logger: quietLog})
	hashes, err := m.MineBlocks(context.Background(), 20, [20]byte{7}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 20 || c.Best().Height != 20 || c.Best().Hash != hashes[19] {
		t.Fatalf("mined %d, tip at %d", len(hashes), c.Best().Height)
	}
	if err := c.VerifyUtxoSet(); err != nil {
		t.Fatal(err)
	}
}

func TestMaxTries(t *testing.T) {
	c := chaintest.OpenChain(t, chain.MainParams)
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Threads: 1, Logger: quietLog})
	_, err := m.MineBlocks(context.Background(), 1, [20]byte{}, 1000)
	if err != ErrMaxTries {
		t.Fatalf("err = %v, want ErrMaxTries", err)
	}
}

// A running search on an unreachable target stops, with every worker gone,
// soon after its context is cancelled.
func TestCancelStopsWorkers(t *testing.T) {
	c := chaintest.OpenChain(t, chain.MainParams)
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Threads: 2, Logger: quietLog})
	m.chooseKernel(t.Context()) // its timing goroutines are not the miner's
	before := runtime.NumGoroutine()
	m.SetPayTo([20]byte{})
	if err := m.SetGenerate(true, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return m.TotalHashes() > 0 })
	start := time.Now()
	if err := m.SetGenerate(false, 0); err != nil || m.Generating() {
		t.Fatalf("SetGenerate(false): %v, generating %v", err, m.Generating())
	}
	t.Logf("loop stopped %v after SetGenerate(false)", time.Since(start))
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left, %d before", n, before)
	}
}

// A new tip from elsewhere abandons the template being searched.
func TestTipChangeAbandonsTemplate(t *testing.T) {
	c := chaintest.OpenChain(t, chain.RegtestParams)
	var templates atomic.Int32
	var lastParent atomic.Value
	tmpl := func(payTo [chain.PubKeyHashSize]byte) (*chain.Block, error) {
		b, err := coinbaseOnly(c)(payTo)
		if err != nil {
			return nil, err
		}
		templates.Add(1)
		lastParent.Store(b.Header.PrevBlock)
		b.Header.Bits = 0x1d00ffff // unreachable: only a tip change ends the search
		return b, nil
	}
	m := New(Config{Chain: c, Template: tmpl, Submit: submitTo(c), Threads: 1, Logger: quietLog})
	m.SetPayTo([20]byte{})
	if err := m.SetGenerate(true, 0); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitFor(t, func() bool { return templates.Load() == 1 })

	g := chaintest.New(chain.RegtestParams)
	b := g.NextBlock(chain.RegtestParams.GenesisHash)
	if _, err := c.ProcessBlock(b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return templates.Load() >= 2 && lastParent.Load() == b.Hash() })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// On testnet the bits change at a retarget height and the mined blocks still
// validate. The first window starts at the genesis block, long ago, so it stays
// at the pow limit; the second, mined in seconds, must get harder.
func TestRetargetOnTestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("mines 61 testnet blocks")
	}
	c := chaintest.OpenChain(t, chain.TestnetParams)
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Threads: runtime.NumCPU(), Logger: quietLog})
	interval := int(chain.TestnetParams.RetargetInterval)
	if _, err := m.MineBlocks(context.Background(), 2*interval+1, [20]byte{1}, 0); err != nil {
		t.Fatal(err)
	}
	bitsAt := func(h int32) uint32 {
		hash, err := c.BlockHashByHeight(h)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := c.BlockInfo(hash)
		return info.Header.Bits
	}
	limit := chain.TestnetParams.PowLimitBits
	if bitsAt(int32(interval)) != limit || bitsAt(int32(2*interval-1)) != limit {
		t.Fatalf("first window bits %#x, want the limit %#x", bitsAt(int32(interval)), limit)
	}
	if got := bitsAt(int32(2 * interval)); got == limit {
		t.Fatal("bits did not change at the second retarget height")
	}
}

// TestCloseEndsSubscription checks that a closed miner hears no more tip
// changes from a chain that outlives it.
func TestCloseEndsSubscription(t *testing.T) {
	c := chaintest.OpenChain(t, chain.RegtestParams)
	m := New(Config{Chain: c, Template: coinbaseOnly(c), Submit: submitTo(c), Threads: 1, Logger: quietLog})
	tip, stop := m.watchTip()
	defer stop()
	m.Close()
	m.Close() // a second Close is harmless
	if _, err := m.MineBlocks(t.Context(), 1, [chain.PubKeyHashSize]byte{1}, 1<<20); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tip:
		t.Error("a closed miner was told of a new tip")
	default:
	}
}
