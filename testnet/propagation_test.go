//go:build unix

package testnet

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// BenchmarkBlockPropagation mines blocks one at a time on one node of a
// 10-node testnet (regtest, each node linked to three others in a ring with
// chords) and reports how long each takes to reach every node, p50 and p99.
// Run: go test ./testnet -run '^$' -bench BlockPropagation -benchtime 100x
func BenchmarkBlockPropagation(b *testing.B) {
	if testing.Short() {
		b.Skip("runs 10 node processes")
	}
	const nodes = 10
	chords := func(n int) []Edge {
		var edges []Edge
		for i := range n {
			edges = append(edges, Edge{i, (i + 1) % n})
			if i%2 == 0 {
				edges = append(edges, Edge{i, (i + n/2) % n})
			}
		}
		return edges
	}
	tn := New(b, Options{Nodes: nodes, Topology: chords, LogLevel: "warn"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	miner := tn.Node(0)
	// Warm up: gossipsub forms its meshes on heartbeats after the links come
	// up; blocks before that reach some nodes only through the periodic status
	// exchange. Measure the steady state.
	for range 3 {
		var warm []string
		if err := miner.Call(ctx, "generatetoaddress", []any{1, e2eAddress(chain.RegtestParams)}, &warm); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := tn.WaitForTip(ctx, 3); err != nil {
		b.Fatal(err)
	}
	var delays []time.Duration
	for b.Loop() {
		var hashes []string
		start := time.Now()
		if err := miner.Call(ctx, "generatetoaddress", []any{1, e2eAddress(chain.RegtestParams)}, &hashes); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var slowest time.Duration
		for _, n := range tn.Nodes()[1:] {
			wg.Go(func() {
				for ctx.Err() == nil {
					var tip string
					if err := n.Call(ctx, "getbestblockhash", nil, &tip); err == nil && tip == hashes[0] {
						mu.Lock()
						slowest = max(slowest, time.Since(start))
						mu.Unlock()
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		delays = append(delays, slowest)
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(delays[len(delays)-1].Microseconds())/1000, "max-ms")
}
