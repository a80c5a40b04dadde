package blockchain_test

import (
	"encoding/binary"
	"runtime"
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// The bytes the cache counts per entry cover what a map of that many entries
// really takes on the heap, at any fill of the map's table.
func TestUtxoCacheSizeIsReal(t *testing.T) {
	for _, n := range []int{100_000, 115_000, 150_000, 200_000, 230_000} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := blockchain.NewCacheMapForTest()
		for i := range n {
			var op chain.OutPoint
			binary.LittleEndian.PutUint64(op.TxID[:], uint64(i)*0x9e3779b97f4a7c15)
			blockchain.CacheMapAdd(m, op)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		t.Logf("%d entries: %.1f bytes each", n, perEntry)
		if perEntry > blockchain.CacheEntryBytes {
			t.Errorf("%d entries take %.1f bytes each, the cache counts %d", n, perEntry, blockchain.CacheEntryBytes)
		}
		runtime.KeepAlive(m)
	}
}

// A reorganisation whose fork point is below the last flush, and a crash
// (no flush at stop) right after it: the restart replays from the flushed
// block back to the fork and forward to the new tip, and ends with the state of
// a chain that only saw the winning branch. Once with a cache so small that it
// flushes after every block, once with a flush only before the reorg.
func TestReorgAcrossFlushAndReplay(t *testing.T) {
	for _, cacheBytes := range []int64{1, 0} {
		t.Run("", func(t *testing.T) {
			dir := t.TempDir()
			open := func() *blockchain.Chain {
				c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, DBCacheBytes: cacheBytes})
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			c := open()
			g := chaintest.New(chain.RegtestParams)
			base := matureBase(t, c, g)
			fork := base[len(base)-1].Hash()
			cb := g.Coinbase(base[0].Hash())
			a := []*chain.Block{g.NextBlock(fork, g.SpendAll(cb, 1000))}
			a = append(a, g.Chain(a[0].Hash(), 4)...)
			chaintest.MustProcess(t, c, a...)
			if err := c.FlushChainState(); err != nil {
				t.Fatal(err)
			}
			b := []*chain.Block{g.NextBlock(fork, g.SpendAll(cb, 5000), g.SpendAll(g.Coinbase(base[1].Hash()), 1000))}
			b = append(b, g.Chain(b[0].Hash(), 5)...)
			chaintest.MustProcess(t, c, b...)
			if err := c.Abandon(); err != nil {
				t.Fatal(err)
			}
			c = open()
			defer c.Close()
			requireSameState(t, c, append(slices.Clone(base), b...))
		})
	}
}
