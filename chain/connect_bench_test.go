package chain_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// BenchmarkVerifySignature is the reference: one secp256k1 ECDSA verification on
// one core, key parsing included, as the chain does it. It cycles through 2,000
// distinct keys and messages, as a block's signatures are: verifying one
// signature over and over keeps its data in the CPU's caches and reads ~5% fast.
func BenchmarkVerifySignature(b *testing.B) {
	type sigCase struct {
		msg      [32]byte
		pub, sig []byte
	}
	cases := make([]sigCase, 2000)
	for i := range cases {
		key, _ := secp256k1.GeneratePrivateKey()
		rand.Read(cases[i].msg[:])
		cases[i].pub = key.PubKey().SerializeCompressed()
		cases[i].sig = ecdsa.Sign(key, cases[i].msg[:]).Serialize()
	}
	i := 0
	for b.Loop() {
		c := &cases[i%len(cases)]
		i++
		k, err := secp256k1.ParsePubKey(c.pub)
		if err != nil {
			b.Fatal(err)
		}
		s, err := ecdsa.ParseDERSignature(c.sig)
		if err != nil || !s.Verify(c.msg[:], k) {
			b.Fatal("verify failed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

// connectFixture is a stored chain whose tip has 2,000 confirmed, mature outputs,
// and a block of 2,000 one-input, two-output transactions spending them.
type connectFixture struct {
	dir   string // closed Badger directory to copy per iteration
	block *chain.Block
}

func newConnectFixture(b *testing.B) connectFixture {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "template")
	c, err := chain.Open(chain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 101)
	values := make([]uint64, 2000)
	for i := range values {
		values[i] = chain.RegtestParams.Subsidy(1)/2000 - 10
	}
	fan := g.Spend([]chain.OutPoint{g.Coinbase(base[0].Hash())}, values...)
	fanBlock := g.NextBlock(base[100].Hash(), fan)
	mustProcess(b, c, append(base, fanBlock)...)
	txs := make([]*chain.Tx, 2000)
	for i := range txs {
		op := chain.OutPoint{TxID: fan.TxID(), Index: uint32(i)}
		txs[i] = g.Spend([]chain.OutPoint{op}, values[i]/2, values[i]/2-500)
	}
	block := g.NextBlock(fanBlock.Hash(), txs...)
	c.Close()
	return connectFixture{dir: dir, block: block}
}

func copyDir(b *testing.B, from, to string) {
	b.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		b.Fatal(err)
	}
	os.MkdirAll(to, 0o700)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), raw, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// benchConnect connects the fixture block onto a fresh copy of the stored chain
// each iteration; warm pre-fills the signature cache as the mempool would.
func benchConnect(b *testing.B, warm bool) {
	fx := newConnectFixture(b)
	sigs := 0
	for _, tx := range fx.block.Txs[1:] {
		sigs += len(tx.Inputs)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), strconv.Itoa(i))
		copyDir(b, fx.dir, dir)
		cache := chain.NewSigCache(chain.DefaultSigCacheSize)
		c, err := chain.Open(chain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, SigCache: cache})
		if err != nil {
			b.Fatal(err)
		}
		if warm {
			for _, tx := range fx.block.Txs[1:] {
				_, prev, err := chain.CheckTxInputs(tx, c, c.Best().Height+1, chain.RegtestParams)
				if err != nil {
					b.Fatal(err)
				}
				if err := chain.VerifyTxSignatures(tx, prev, cache); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StartTimer()
		res, err := c.ProcessBlock(fx.block)
		b.StopTimer()
		if err != nil || !res.MainChain {
			b.Fatalf("connect: %+v %v", res, err)
		}
		c.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(sigs*b.N)/b.Elapsed().Seconds(), "sigs/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}

// BenchmarkConnectBlock2000 connects a block of 2,000 one-input, two-output
// transactions verifying every signature.
func BenchmarkConnectBlock2000(b *testing.B) { benchConnect(b, false) }

// BenchmarkConnectBlock2000Cached connects the same block with every signature
// already in the cache.
func BenchmarkConnectBlock2000Cached(b *testing.B) { benchConnect(b, true) }

// BenchmarkConnect1000Blocks connects 1,000 blocks of 2,000 transactions in a
// row, each spending outputs of the one before, and reports the process's peak
// resident memory: all of it (VmHWM, which counts the pages of Badger's
// memory-mapped value log the blocks were written to, which the kernel can
// drop at will) and the anonymous part (heap, memtables, caches), sampled
// every 50 ms. Run it alone, with the soft memory limit the node sets for the
// chain: GOMEMLIMIT=384MiB go test ./chain -run X -bench Connect1000 -benchtime 1x
// (QUARRY_BENCH_BLOCKS=N connects N blocks instead of 1,000).
func BenchmarkConnect1000Blocks(b *testing.B) {
	const perBlock = 2000
	blocks := 1000
	if n, err := strconv.Atoi(os.Getenv("QUARRY_BENCH_BLOCKS")); err == nil {
		blocks = n
	}
	var peakAnon atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			peakAnon.Store(max(peakAnon.Load(), procStatus(b, "RssAnon:")))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	for range b.N {
		c, err := chain.Open(chain.Config{Params: chain.RegtestParams, Dir: b.TempDir(), Logger: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		g := chaintest.New(chain.RegtestParams)
		base := g.Chain(chain.RegtestParams.GenesisHash, 101)
		values := make([]uint64, perBlock)
		for i := range values {
			values[i] = chain.RegtestParams.Subsidy(1)/perBlock - 10
		}
		fan := g.Spend([]chain.OutPoint{g.Coinbase(base[0].Hash())}, values...)
		prevBlock := g.NextBlock(base[100].Hash(), fan)
		mustProcess(b, c, append(base, prevBlock)...)
		key, pkh := g.Key, g.PKH
		prevTxs := []*chain.Tx{fan}
		parent, height, tm := prevBlock.Hash(), int32(102), prevBlock.Header.Time
		for n := 0; n < blocks; n++ {
			// Spend output 0 of each transaction of the previous block (the fan-out's
			// outputs for the first block).
			txs := make([]*chain.Tx, 0, perBlock)
			for _, ptx := range prevTxs {
				id := ptx.TxID()
				for idx := range ptx.Outputs {
					if len(txs) == perBlock || (len(prevTxs) > 1 && idx > 0) {
						break
					}
					v := ptx.Outputs[idx].Value
					tx := &chain.Tx{Version: 1, Inputs: []chain.TxIn{{PrevOut: chain.OutPoint{TxID: id, Index: uint32(idx)}}},
						Outputs: []chain.TxOut{{Value: v - 300, PubKeyHash: pkh}, {Value: 100, PubKeyHash: pkh}}}
					chain.SignInput(tx, chain.NewSigHasher(tx), 0, v, key)
					txs = append(txs, tx)
				}
			}
			height++
			tm++
			cb := chain.NewCoinbase(height, 0, nil, chain.RegtestParams.Subsidy(height)+uint64(len(txs))*200, pkh)
			blk := &chain.Block{Header: chain.Header{Version: 1, PrevBlock: parent, Time: tm, Bits: chain.RegtestParams.PowLimitBits}, Txs: append([]*chain.Tx{cb}, txs...)}
			g.Solve(blk)
			mustProcess(b, c, blk)
			parent, prevTxs = blk.Hash(), txs
		}
		c.Close()
	}
	b.ReportMetric(float64(procStatus(b, "VmHWM:"))/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(peakAnon.Load())/(1<<20), "peak-anon-MiB")
}

// procStatus reads one size field of /proc/self/status, in bytes.
func procStatus(b *testing.B, field string) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc: memory unknown")
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
