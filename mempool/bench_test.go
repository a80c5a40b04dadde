package mempool

import (
	"crypto/sha256"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// BenchmarkVerifySingleCore is the reference for the acceptance benchmarks:
// ECDSA verifications over secp256k1, keys and signatures already parsed.
// It cycles through a thousand random keys, messages and signatures, as a
// pool meets them, rather than verifying one signature with every cache hot.
// Run it with -cpu 1.
func BenchmarkVerifySingleCore(b *testing.B) {
	type sigCase struct {
		pub *secp256k1.PublicKey
		msg [32]byte
		sig *ecdsa.Signature
	}
	cases := make([]sigCase, 1024)
	for i := range cases {
		key, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			b.Fatal(err)
		}
		var seed [32]byte
		for j := range seed {
			seed[j] = byte(rand.Uint32())
		}
		cases[i] = sigCase{pub: key.PubKey(), msg: sha256.Sum256(seed[:])}
		cases[i].sig = ecdsa.Sign(key, cases[i].msg[:])
	}
	cpu := startCPU()
	for i := 0; b.Loop(); i++ {
		c := &cases[i%len(cases)]
		if !c.sig.Verify(c.msg[:], c.pub) {
			b.Fatal("signature does not verify")
		}
	}
	cpu.report(b)
}

// cpuMeter reports the process's CPU time per operation next to the wall
// time: on a machine busy with other work, the wall time says little, while
// the CPU time still compares acceptance with verification.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := chaintest.ProcessCPU()
	return cpuMeter{t, ok}
}

func (m cpuMeter) report(b *testing.B) {
	if t, ok := chaintest.ProcessCPU(); ok && m.ok && b.N > 0 {
		b.ReportMetric(float64(t-m.start)/float64(b.N), "cpu-ns/op")
	}
}

// acceptFixture is a chain with n confirmed outputs and, for each, a signed
// one-input, one-output transaction spending it, not yet seen by any pool.
func acceptFixture(b *testing.B, n int) (*harness, []*chain.Tx) {
	b.Helper()
	h := newHarness(b, Config{})
	// One fan-out per block, each well below the ~35,000 outputs at which
	// the chain's Badger transaction for the block gets too big.
	const perFanOut = 25_000
	var ops []chain.OutPoint
	for i := 0; len(ops) < n; i++ {
		k := min(perFanOut, n-len(ops))
		cb := h.g.Coinbase(h.base[i+1].Hash())
		values := make([]uint64, k)
		for j := range values {
			values[j] = h.value(cb) / uint64(k)
		}
		fan := h.g.Spend([]chain.OutPoint{cb}, values...)
		h.mine(fan)
		id := fan.TxID()
		for j := range k {
			ops = append(ops, chain.OutPoint{TxID: id, Index: uint32(j)})
		}
	}
	txs := make([]*chain.Tx, n)
	for i, op := range ops {
		txs[i] = h.spend([]chain.OutPoint{op}, 1000, 1)
	}
	return h, txs
}

// BenchmarkAccept1 accepts transactions spending confirmed outputs from one
// goroutine; with -cpu 1 its rate is to be compared with
// BenchmarkVerifySingleCore's.
func BenchmarkAccept1(b *testing.B) {
	h, txs := acceptFixture(b, b.N)
	b.ResetTimer()
	cpu := startCPU()
	for _, tx := range txs {
		if _, err := h.pool.Accept(tx, LocalPeer); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkAcceptParallel is BenchmarkAccept1 with one submitter per
// GOMAXPROCS: signatures are verified outside the pool lock, so two
// submitters on two cores should get close to twice the rate.
func BenchmarkAcceptParallel(b *testing.B) {
	h, txs := acceptFixture(b, b.N)
	var next atomic.Int64
	b.ResetTimer()
	cpu := startCPU()
	defer cpu.report(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tx := txs[next.Add(1)-1]
			if _, err := h.pool.Accept(tx, LocalPeer); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTemplate50k builds a block template from a pool of 50,000
// transactions, half of them in chains of two to five.
func BenchmarkTemplate50k(b *testing.B) {
	h := newHarness(b, Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	fee := func(size int64) uint64 { return uint64(size) * (1 + rng.Uint64N(50)) }
	for n := 0; n < 50_000; {
		size := int64(150 + rng.IntN(200))
		e := synth(h.pool, fee(size), size)
		n++
		if rng.IntN(2) == 0 {
			for k := 1 + rng.IntN(4); k > 0 && n < 50_000; k-- {
				size := int64(150 + rng.IntN(200))
				e = synth(h.pool, fee(size), size, e)
				n++
			}
		}
	}
	var tmpl *Template
	for b.Loop() {
		var err error
		if tmpl, err = h.pool.BlockTemplate(h.g.PKH, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(tmpl.Txs)), "txs/block")
}
