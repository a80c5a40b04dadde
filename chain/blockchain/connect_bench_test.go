package blockchain_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// nodeIndexes are the indexes a node runs by default: the benchmarks connect
// blocks while they follow, as on a node.
func nodeIndexes() []blockchain.Indexer {
	return []blockchain.Indexer{indexers.NewTxIndex(), indexers.NewAddrIndex()}
}

// sigCase is one signature as a block carries it: the signed message, the
// serialized key and the DER signature.
type sigCase struct {
	msg      [32]byte
	pub, sig []byte
}

// verifySigs verifies cases one after another on the calling goroutine, key and
// signature parsing included, as the chain does it.
func verifySigs(cases []sigCase) error {
	for i := range cases {
		c := &cases[i]
		k, err := secp256k1.ParsePubKey(c.pub)
		if err != nil {
			return err
		}
		s, err := ecdsa.ParseDERSignature(c.sig)
		if err != nil {
			return err
		}
		if !s.Verify(c.msg[:], k) {
			return fmt.Errorf("signature %d does not verify", i)
		}
	}
	return nil
}

// BenchmarkVerifySignature is the reference: one secp256k1 ECDSA verification on
// one core. It cycles through 2,000 distinct keys and messages, as a block's
// signatures are: verifying one signature over and over keeps its data in the
// CPU's caches and reads ~5% fast.
func BenchmarkVerifySignature(b *testing.B) {
	cases := make([]sigCase, 2000)
	for i := range cases {
		key, _ := secp256k1.GeneratePrivateKey()
		rand.Read(cases[i].msg[:])
		cases[i].pub = key.PubKey().SerializeCompressed()
		cases[i].sig = ecdsa.Sign(key, cases[i].msg[:]).Serialize()
	}
	i := 0
	for b.Loop() {
		if err := verifySigs(cases[i%len(cases) : i%len(cases)+1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

// connectFixture is a stored chain whose tip has 2,000 confirmed, mature outputs,
// and a block of 2,000 one-input, two-output transactions spending them.
type connectFixture struct {
	dir   string // closed Badger directory to copy per iteration
	block *chain.Block
	sigs  []sigCase // the block's signatures, for the single-core reference
}

func newConnectFixture(b *testing.B) connectFixture {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "template")
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, Indexers: nodeIndexes()})
	if err != nil {
		b.Fatal(err)
	}
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 101)
	// Every output pays to a key of its own, as in a real block: one key for
	// all would share the address index's entries and the key's parsing.
	outs := make([]chain.TxOut, 2000)
	for i := range outs {
		outs[i] = chain.TxOut{Value: chain.RegtestParams.Subsidy(1)/2000 - 10, PubKeyHash: g.NewKey()}
	}
	fan := g.SpendTo([]chain.OutPoint{g.Coinbase(base[0].Hash())}, outs...)
	fanBlock := g.NextBlock(base[100].Hash(), fan)
	chaintest.MustProcess(b, c, append(base, fanBlock)...)
	txs := make([]*chain.Tx, 2000)
	for i := range txs {
		op := chain.OutPoint{TxID: fan.TxID(), Index: uint32(i)}
		v := outs[i].Value
		txs[i] = g.SpendTo([]chain.OutPoint{op},
			chain.TxOut{Value: v / 2, PubKeyHash: g.NewKey()}, chain.TxOut{Value: v/2 - 500, PubKeyHash: g.NewKey()})
	}
	block := g.NextBlock(fanBlock.Hash(), txs...)
	c.Close()
	sigs := make([]sigCase, len(txs))
	for i, tx := range txs {
		sigs[i].msg = chain.NewSigHasher(tx, outs[i:i+1]).SigHash(0)
		sigs[i].pub, sigs[i].sig = tx.Inputs[0].Witness[0], tx.Inputs[0].Witness[1]
	}
	return connectFixture{dir: dir, block: block, sigs: sigs}
}

// copyDir copies the directory from, with its subdirectories, to to.
func copyDir(b *testing.B, from, to string) {
	b.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		b.Fatal(err)
	}
	os.MkdirAll(to, 0o700)
	for _, e := range entries {
		if e.IsDir() { // the index database, under the chain's
			copyDir(b, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
			continue
		}
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
//
// Each iteration also verifies the block's signatures without a chain: one
// after another on one core, the reference the issue holds the connect rate
// to, and on every core at once, what the machine's cores really give
// together. This machine's speed drifts by a third from one minute to the
// next, so all three are measured side by side and the connect rate is
// reported as ratios: "of-cores-x-verify" (over cores times the single-core
// rate) and "of-parallel-verify" (over the all-core rate).
func benchConnect(b *testing.B, warm bool) {
	fx := newConnectFixture(b)
	var connect, single, parallel time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		start := time.Now()
		if err := verifySigs(fx.sigs); err != nil {
			b.Fatal(err)
		}
		single += time.Since(start)
		start = time.Now()
		if err := verifySigsParallel(fx.sigs); err != nil {
			b.Fatal(err)
		}
		parallel += time.Since(start)
		dir := filepath.Join(b.TempDir(), strconv.Itoa(i))
		copyDir(b, fx.dir, dir)
		cache := chain.NewSigCache(blockchain.DefaultSigCacheSize)
		c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog, SigCache: cache, Indexers: nodeIndexes()})
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
		start = time.Now()
		res, err := c.ProcessBlock(fx.block)
		connect += time.Since(start)
		b.StopTimer()
		if err != nil || !res.MainChain {
			b.Fatalf("connect: %+v %v", res, err)
		}
		c.Close()
	}
	cores := float64(runtime.GOMAXPROCS(0))
	sigs := float64(len(fx.sigs) * b.N)
	b.ReportMetric(sigs/connect.Seconds(), "sigs/s")
	b.ReportMetric(sigs/single.Seconds(), "1-core-verifies/s")
	b.ReportMetric(sigs/parallel.Seconds(), "all-core-verifies/s")
	b.ReportMetric(single.Seconds()/(cores*connect.Seconds()), "of-cores-x-verify")
	b.ReportMetric(parallel.Seconds()/connect.Seconds(), "of-parallel-verify")
}

// verifySigsParallel verifies cases on every core, each taking the next
// signature not yet taken, and returns the first failure.
func verifySigsParallel(cases []sigCase) error {
	var next atomic.Int64
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(cases) && errs[w] == nil; i = int(next.Add(1)) - 1 {
				errs[w] = verifySigs(cases[i : i+1])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
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
// every 50 ms. It also reports the mean time ProcessBlock took per block, over
// all of them and over the last tenth, when the store is largest and its
// compactions compete with the signature checks for the cores, its ratio to
// the first tenth, and the slowest connect (which would show a block waiting
// for a flush of the UTXO cache). It runs with the soft memory limit a node
// sets for the chain and the default 256 MiB cache (SoftMemoryLimit) unless
// GOMEMLIMIT says otherwise. Run it alone:
// go test ./chain/blockchain -run X -bench Connect1000 -benchtime 1x
// (QUARRY_BENCH_BLOCKS=N connects N blocks instead of 1,000).
func BenchmarkConnect1000Blocks(b *testing.B) {
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(blockchain.SoftMemoryLimit(blockchain.DefaultDBCacheMiB << 20)))
	}
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
	var connecting, firstTenth, lastTenth, slowest time.Duration
	for range b.N {
		c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: b.TempDir(), Logger: quietLog, Indexers: nodeIndexes()})
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
		chaintest.MustProcess(b, c, append(base, prevBlock)...)
		// Outputs pay to a ring of keys, each key once per block, as a block of
		// 2,000 payments between different people would; the ring is bounded
		// so the generator's own memory stays out of the figure.
		payTo := g.KeyRing(2*perBlock + 1)
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
					prev := ptx.Outputs[idx]
					tx := &chain.Tx{Version: 1, Inputs: []chain.TxIn{{PrevOut: chain.OutPoint{TxID: id, Index: uint32(idx)}}},
						Outputs: []chain.TxOut{{Value: prev.Value - 300, PubKeyHash: payTo()}, {Value: 100, PubKeyHash: payTo()}}}
					chain.SignInput(tx, chain.NewSigHasher(tx, []chain.TxOut{prev}), 0, g.KeyFor(prev.PubKeyHash))
					txs = append(txs, tx)
				}
			}
			height++
			tm++
			cb := chain.NewCoinbase(height, 0, nil, chain.RegtestParams.Subsidy(height)+uint64(len(txs))*200, g.PKH)
			blk := &chain.Block{Header: chain.Header{Version: 1, PrevBlock: parent, Time: tm, Bits: chain.RegtestParams.PowLimitBits}, Txs: append([]*chain.Tx{cb}, txs...)}
			g.Solve(blk)
			start := time.Now()
			chaintest.MustProcess(b, c, blk)
			took := time.Since(start)
			connecting += took
			slowest = max(slowest, took)
			if n < max(blocks/10, 1) {
				firstTenth += took
			}
			if n >= blocks-max(blocks/10, 1) {
				lastTenth += took
			}
			parent, prevTxs = blk.Hash(), txs
		}
		c.Close()
	}
	b.ReportMetric(connecting.Seconds()*1000/float64(blocks*b.N), "ms/connect")
	b.ReportMetric(firstTenth.Seconds()*1000/float64(max(blocks/10, 1)*b.N), "ms/connect-first-tenth")
	b.ReportMetric(lastTenth.Seconds()*1000/float64(max(blocks/10, 1)*b.N), "ms/connect-last-tenth")
	b.ReportMetric(lastTenth.Seconds()/firstTenth.Seconds(), "last-vs-first-tenth")
	b.ReportMetric(slowest.Seconds()*1000, "ms-slowest-connect")
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

// BenchmarkConnectSmallBlocks connects, in-process, the chain the initial
// sync benchmark syncs between nodes (chaintest.PaymentChain: blocks of 20
// one-input, two-output transactions), checking every signature, with the
// node's indexes following ("indexes") or none ("bare"). Such blocks show
// the fixed cost of a block: the figures are the connect's transaction rate,
// the all-core verify rate of the same signatures (measured right before and
// right after), their ratio, and the milliseconds a block takes to connect
// and its signatures to verify, and the share of the cores' time the
// connect used (cpu-use; what it falls short of the verify's, verify-cpu-use,
// the cores it left idle waiting). The blocks go one ProcessBlock each
// ("single"), in ProcessBlocks batches of p2p.MaxBlocksPerRequest, 16 (one
// answer, "runs16"), or of 64, the most sync hands over at once (four
// answers, "runs64"); each batch connects as one pipelined run. QUARRY_BENCH_SMALL_BLOCKS and
// QUARRY_BENCH_SMALL_TXS set the chain's size (2,000 blocks, 40,000
// transactions by default).
func BenchmarkConnectSmallBlocks(b *testing.B) {
	blocks, txs := 2000, 40_000
	if n, err := strconv.Atoi(os.Getenv("QUARRY_BENCH_SMALL_BLOCKS")); err == nil && n > 0 {
		blocks = n
	}
	if n, err := strconv.Atoi(os.Getenv("QUARRY_BENCH_SMALL_TXS")); err == nil && n > 0 {
		txs = n
	}
	built := chaintest.PaymentChain(blocks, txs)
	var carried int
	for _, blk := range built {
		carried += len(blk.Txs) - 1
	}
	type variant struct {
		name     string
		indexers func() []blockchain.Indexer
		batch    int
	}
	var variants []variant
	for _, ix := range []variant{{"indexes", nodeIndexes, 0}, {"bare", func() []blockchain.Indexer { return nil }, 0}} {
		for _, batch := range []int{1, 16, 64} {
			name := "single"
			if batch > 1 {
				name = fmt.Sprintf("runs%d", batch)
			}
			variants = append(variants, variant{ix.name + "/" + name, ix.indexers, batch})
		}
	}
	for _, run := range variants {
		b.Run(run.name, func(b *testing.B) {
			var connect, verified time.Duration
			var cpu, verifyCPU time.Duration
			var cpuKnown bool
			verify := func() {
				before, _ := chaintest.ProcessCPU()
				took, err := chaintest.VerifyAllCores(built)
				if err != nil {
					b.Fatal(err)
				}
				after, _ := chaintest.ProcessCPU()
				verified, verifyCPU = verified+took, verifyCPU+after-before
			}
			for range b.N {
				verify()
				// Labelled, with the goroutines the chain starts, so that a
				// CPU profile can be narrowed to it: -tagfocus phase=connect.
				pprof.Do(context.Background(), pprof.Labels("phase", "connect"), func(context.Context) {
					c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: b.TempDir(), Logger: quietLog, Indexers: run.indexers()})
					if err != nil {
						b.Fatal(err)
					}
					cpuBefore, _ := chaintest.ProcessCPU()
					start := time.Now()
					for from := 0; from < len(built); from += run.batch {
						for i, o := range c.ProcessBlocks(built[from:min(from+run.batch, len(built))]) {
							if o.Err != nil || !o.MainChain {
								b.Fatalf("process block %d: %+v", from+i, o)
							}
						}
					}
					connect += time.Since(start)
					cpuAfter, ok := chaintest.ProcessCPU()
					cpu, cpuKnown = cpu+cpuAfter-cpuBefore, ok
					if err := c.Close(); err != nil {
						b.Fatal(err)
					}
				})
				verify()
			}
			connectRate := float64(carried*b.N) / connect.Seconds()
			verifyRate := float64(2*carried*b.N) / verified.Seconds()
			b.ReportMetric(connectRate, "connect-tx/s")
			b.ReportMetric(verifyRate, "all-core-verify-tx/s")
			b.ReportMetric(connectRate/verifyRate, "connect-vs-verify")
			b.ReportMetric(connect.Seconds()*1000/float64(len(built)*b.N), "ms/block")
			b.ReportMetric(verified.Seconds()*1000/float64(2*len(built)*b.N), "verify-ms/block")
			if cpuKnown {
				cores := float64(runtime.GOMAXPROCS(0))
				b.ReportMetric(cpu.Seconds()/(connect.Seconds()*cores), "cpu-use")
				b.ReportMetric(verifyCPU.Seconds()/(verified.Seconds()*cores), "verify-cpu-use")
			}
		})
	}
}
