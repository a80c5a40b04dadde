//go:build unix

package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// BenchmarkInitialSync measures initial block download between two node
// processes. Node 0 holds a regtest chain of 5,000 blocks carrying 100,000
// one-input, two-output transactions, each paying to keys of its own; node 1
// starts empty and is linked to it. The chain is first connected in-process
// into node 0's store, which gives the connect rate of these very blocks on
// this machine with nothing else running. The sync is then timed from the
// link until node 1 has the tip, once checking every signature and once with
// --assumevalid set to the tip; right before and right after the first, the
// chain's signatures are verified on all cores alone, which gives the rate
// the signatures allow. Reported: the rates in blocks and transactions per
// second, sync-vs-connect, sync-vs-verify (the sync's transaction rate over
// the all-core verify rate), and the rates until node 1's indexes too reach
// the tip.
//
// Run: go test ./testnet -run '^$' -bench InitialSync -benchtime 1x
// (QUARRY_SYNC_BLOCKS and QUARRY_SYNC_TXS make the chain smaller;
// QUARRY_SYNC_PROFILE=DIR writes both nodes' CPU profiles of each sync
// there, as node<i>-sync-NN.pprof and node<i>-assumevalid-NN.pprof;
// QUARRY_SYNC_ARGS gives the syncing node more flags, such as
// "--txindex=0 --addrindex=0" to see what the indexes cost.)
func BenchmarkInitialSync(b *testing.B) {
	if testing.Short() {
		b.Skip("runs node processes")
	}
	blocks, txs := envInt("QUARRY_SYNC_BLOCKS", 5000), envInt("QUARRY_SYNC_TXS", 100_000)
	built := chaintest.PaymentChain(blocks, txs)
	var carried int
	for _, blk := range built {
		carried += len(blk.Txs) - 1
	}
	dir0 := filepath.Join(b.TempDir(), "node0")
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: filepath.Join(dir0, "regtest", "chain"),
		IndexDir: filepath.Join(dir0, "regtest", "indexes"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Indexers: []blockchain.Indexer{indexers.NewTxIndex(), indexers.NewAddrIndex()}})
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

	tip := built[len(built)-1].Hash().String()
	var synced, assumed, syncIndexed, assumedIndexed, verified time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The signatures are verified alone right before and right after
		// the sync that checks them, so that on a shared machine the ratio
		// of the two rates compares them under about the same load.
		b.StopTimer()
		verified += verifyAllCores(b, built)
		tipTime, indexed := timeSync(b, dir0, len(built), filepath.Join(b.TempDir(), strconv.Itoa(i)), "sync")
		synced, syncIndexed = synced+tipTime, syncIndexed+indexed
		verified += verifyAllCores(b, built)
		tipTime, indexed = timeSync(b, dir0, len(built), filepath.Join(b.TempDir(), strconv.Itoa(i)+"av"), "assumevalid", "--assumevalid", tip)
		assumed, assumedIndexed = assumed+tipTime, assumedIndexed+indexed
	}
	verifyRate := float64(2*carried*b.N) / verified.Seconds()
	connectRate := float64(len(built)) / connect.Seconds()
	syncRate := float64(len(built)*b.N) / synced.Seconds()
	syncTxRate := float64(carried*b.N) / synced.Seconds()
	b.ReportMetric(connectRate, "connect-blocks/s")
	b.ReportMetric(syncRate, "sync-blocks/s")
	b.ReportMetric(syncRate/connectRate, "sync-vs-connect")
	b.ReportMetric(verifyRate, "all-core-verify-tx/s")
	b.ReportMetric(syncTxRate, "sync-tx/s")
	b.ReportMetric(syncTxRate/verifyRate, "sync-vs-verify")
	b.ReportMetric(float64(carried*b.N)/assumed.Seconds(), "assumevalid-sync-tx/s")
	// The indexes follow the chain in the background and may still be
	// catching up when the tip is reached.
	b.ReportMetric(float64(carried*b.N)/syncIndexed.Seconds(), "indexed-sync-tx/s")
	b.ReportMetric(float64(carried*b.N)/assumedIndexed.Seconds(), "indexed-assumevalid-sync-tx/s")
	b.ReportMetric(float64(carried), "txs")
}

// timeSync starts node 0 on dir0 and an empty node 1 with nodeArgs, links
// them and returns how long node 1 took to reach height, and to have its
// indexes (those on) there too. With
// QUARRY_SYNC_PROFILE set, both nodes' CPU profiles of the sync go into
// that directory, named after the run.
func timeSync(b *testing.B, dir0 string, height int, dir, run string, nodeArgs ...string) (tip, indexed time.Duration) {
	b.StopTimer()
	defer b.StopTimer()
	profileDir := os.Getenv("QUARRY_SYNC_PROFILE")
	var metrics []int
	if profileDir != "" {
		var err error
		if metrics, err = FreePorts(2); err != nil {
			b.Fatal(err)
		}
	}
	tn := New(b, Options{Nodes: 2, Topology: Isolated, LogLevel: "warn", Dir: dir,
		Spec: func(i int) NodeSpec {
			spec := NodeSpec{Args: append(slices.Clip(nodeArgs), strings.Fields(os.Getenv("QUARRY_SYNC_ARGS"))...)}
			if i == 0 {
				spec = NodeSpec{Dir: dir0}
			}
			if metrics != nil {
				spec.Args = append(slices.Clip(spec.Args), "--metrics-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(metrics[i])))
			}
			return spec
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var profiles []*cpuProfiler
	for i, port := range metrics {
		profiles = append(profiles, startCPUProfiler(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			filepath.Join(profileDir, fmt.Sprintf("node%d-%s", i, run))))
	}
	b.StartTimer()
	start := time.Now()
	if err := tn.Reconnect(ctx, 1, 0); err != nil {
		b.Fatal(err)
	}
	if err := tn.WaitForHeight(ctx, int64(height), tn.Node(1)); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	// The profiles end at the tip, while the indexes may catch up.
	profiled := make(chan error, 1)
	go func() {
		var errs []error
		for _, p := range profiles {
			errs = append(errs, p.stop())
		}
		profiled <- errors.Join(errs...)
	}()
	if err := waitIndexes(ctx, tn.Node(1), height); err != nil {
		b.Fatal(err)
	}
	indexed = time.Since(start)
	b.StopTimer()
	if err := <-profiled; err != nil {
		b.Fatal(err)
	}
	if err := tn.Close(ctx); err != nil {
		b.Fatal(err)
	}
	return took, indexed
}

// waitIndexes waits until every index node runs is at height.
func waitIndexes(ctx context.Context, node *Node, height int) error {
	return poll(ctx, fmt.Sprintf("indexes at height %d", height), func(ctx context.Context) (bool, string) {
		var info map[string]struct {
			BestBlockHeight int `json:"best_block_height"`
		}
		if err := node.Call(ctx, "getindexinfo", nil, &info); err != nil {
			return false, err.Error()
		}
		for _, ix := range info {
			if ix.BestBlockHeight < height {
				return false, fmt.Sprint(info)
			}
		}
		return true, ""
	})
}

// cpuProfiler takes a node's CPU profile from its /debug/pprof/profile
// endpoint in back-to-back pieces of profilePiece, so that the profile covers
// what is measured and not the node's start or stop: the pieces go to
// <prefix>-NN.pprof, and `go tool pprof BINARY <prefix>-*.pprof` merges them.
type cpuProfiler struct {
	cancel context.CancelFunc
	done   chan error
}

const profilePiece = time.Second

func startCPUProfiler(addr, prefix string) *cpuProfiler {
	ctx, cancel := context.WithCancel(context.Background())
	p := &cpuProfiler{cancel: cancel, done: make(chan error, 1)}
	go func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(profilePiece/time.Second))
		var err error
		for piece := 0; ctx.Err() == nil && err == nil; piece++ {
			err = fetchTo(url, fmt.Sprintf("%s-%02d.pprof", prefix, piece))
		}
		p.done <- err
	}()
	return p
}

// stop waits for the piece under way, which ends the profile.
func (p *cpuProfiler) stop() error {
	p.cancel()
	return <-p.done
}

// fetchTo writes what url answers to path.
func fetchTo(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// verifyAllCores checks every signature of blocks on all cores, with nothing
// else: the rate a sync checking every signature can at best reach.
func verifyAllCores(b *testing.B, blocks []*chain.Block) time.Duration {
	took, err := chaintest.VerifyAllCores(blocks)
	if err != nil {
		b.Fatal(err)
	}
	return took
}

// envInt reads a positive count from the environment, or returns def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
