//go:build unix

package testnet

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// BenchmarkInitialSync measures initial block download between two node
// processes. Node 0 holds a regtest chain of 5,000 blocks carrying 100,000
// one-input, two-output transactions, each paying to keys of its own; node 1
// starts empty and is linked to it. The chain is first connected in-process
// into node 0's store, which gives the connect rate of these very blocks on
// this machine with nothing else running; the sync is then timed from the
// link until node 1 has the tip. Reported: both rates in blocks per second
// and their ratio, sync-vs-connect.
//
// Run: go test ./testnet -run '^$' -bench InitialSync -benchtime 1x
// (QUARRY_SYNC_BLOCKS and QUARRY_SYNC_TXS make the chain smaller.)
func BenchmarkInitialSync(b *testing.B) {
	if testing.Short() {
		b.Skip("runs node processes")
	}
	blocks, txs := envInt("QUARRY_SYNC_BLOCKS", 5000), envInt("QUARRY_SYNC_TXS", 100_000)
	built := buildSyncChain(blocks, txs)
	dir0 := filepath.Join(b.TempDir(), "node0")
	c, err := chain.Open(chain.Config{Params: chain.RegtestParams, Dir: filepath.Join(dir0, "regtest", "chain"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, blk := range built {
		if _, err := c.ProcessBlock(blk); err != nil {
			b.Fatalf("connect block %s: %v", blk.Hash(), err)
		}
	}
	connect := time.Since(start)
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}

	var sync time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tn := New(b, Options{Nodes: 2, Topology: Isolated, LogLevel: "warn",
			Dir: filepath.Join(b.TempDir(), strconv.Itoa(i)),
			Spec: func(i int) NodeSpec {
				if i == 0 {
					return NodeSpec{Dir: dir0}
				}
				return NodeSpec{}
			}})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		b.StartTimer()
		start := time.Now()
		if err := tn.Reconnect(ctx, 1, 0); err != nil {
			b.Fatal(err)
		}
		if err := tn.WaitForHeight(ctx, int64(len(built)), tn.Node(1)); err != nil {
			b.Fatal(err)
		}
		sync += time.Since(start)
		b.StopTimer()
		if err := tn.Close(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	connectRate := float64(len(built)) / connect.Seconds()
	syncRate := float64(len(built)*b.N) / sync.Seconds()
	b.ReportMetric(connectRate, "connect-blocks/s")
	b.ReportMetric(syncRate, "sync-blocks/s")
	b.ReportMetric(syncRate/connectRate, "sync-vs-connect")
	var carried int
	for _, blk := range built {
		carried += len(blk.Txs) - 1
	}
	b.ReportMetric(float64(carried), "txs")
}

// buildSyncChain builds a regtest chain of the given number of blocks after
// genesis carrying txs transactions spread evenly over the blocks after the
// first coinbase matures. Each transaction spends the oldest output not yet
// spent into two halves (less a fee) paying to the next keys of a ring of
// 4,096, so the address index sees many keys, each more than once.
func buildSyncChain(blocks, txs int) []*chain.Block {
	g := chaintest.New(chain.RegtestParams)
	maturity := int(chain.RegtestParams.CoinbaseMaturity)
	built := g.Chain(chain.RegtestParams.GenesisHash, min(blocks, maturity+1))
	const keys = 4096
	payTo := g.KeyRing(keys)
	// The first coinbase funds everything: fanned out into 4,096 outputs by the
	// first transaction, then each output spent into two, so the queue of
	// outputs to spend only grows.
	fan := make([]chain.TxOut, keys)
	for i := range fan {
		fan[i] = chain.TxOut{Value: chain.RegtestParams.Subsidy(1) / uint64(len(fan)), PubKeyHash: payTo()}
	}
	pending := []*chain.Tx{g.SpendTo([]chain.OutPoint{g.Coinbase(built[0].Hash())}, fan...)}
	var queue []chain.OutPoint
	const fee = 1000
	spread := blocks - len(built)
	for i := range spread {
		count := (i+1)*txs/spread - i*txs/spread
		for len(pending) < count && len(queue) > 0 {
			op := queue[0]
			queue = queue[1:]
			prev, _ := g.Output(op)
			half := (prev.Value - fee) / 2
			pending = append(pending, g.SpendTo([]chain.OutPoint{op},
				chain.TxOut{Value: half, PubKeyHash: payTo()},
				chain.TxOut{Value: prev.Value - fee - half, PubKeyHash: payTo()}))
		}
		blk := g.NextBlock(built[len(built)-1].Hash(), pending...)
		built = append(built, blk)
		for _, tx := range pending {
			id := tx.TxID()
			for idx := range tx.Outputs {
				queue = append(queue, chain.OutPoint{TxID: id, Index: uint32(idx)})
			}
		}
		pending = nil
	}
	return built
}

// envInt reads a positive count from the environment, or returns def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
