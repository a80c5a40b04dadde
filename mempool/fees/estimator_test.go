package fees

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func txid(n int) chain.Hash {
	var h chain.Hash
	binary.LittleEndian.PutUint64(h[:], uint64(n))
	return h
}

// simulate runs blocks blocks in which every block sees 10 transactions at
// 20 base units per byte, mined in the next block, and 10 at 2 per byte,
// mined ten blocks after they came.
func simulate(e *Estimator, blocks int) {
	const size = 250
	n := 0
	waiting := map[int32][]chain.Hash{}
	for h := int32(1); h <= int32(blocks); h++ {
		e.BlockConnected(h, append(waiting[h], txid(-int(h)))) // with a coinbase nobody tracked
		delete(waiting, h)
		for range 10 {
			n++
			e.TxAdded(txid(n), h, 20*size, size, true)
			waiting[h+1] = append(waiting[h+1], txid(n))
			n++
			e.TxAdded(txid(n), h, 2*size, size, true)
			waiting[h+10] = append(waiting[h+10], txid(n))
		}
	}
}

// near compares fee rates that went through decayed sums.
func near(got, want float64) bool { return math.Abs(got-want) < want*1e-9 }

func TestEstimateSmartFee(t *testing.T) {
	e := New()
	if _, _, ok := e.EstimateSmartFee(2, false); ok {
		t.Fatal("an estimate with no data at all")
	}
	simulate(e, 3)
	if rate, _, ok := e.EstimateSmartFee(2, false); ok {
		t.Fatalf("an estimate of %v from 3 blocks: too short a history for 2-block targets", rate)
	}
	e = New()
	simulate(e, 300)
	for _, conservative := range []bool{false, true} {
		rate, blocks, ok := e.EstimateSmartFee(2, conservative)
		if !ok || blocks != 2 || !near(rate, 20_000) {
			t.Errorf("2 blocks (conservative %v): %v per kB for %d blocks, ok %v; want 20,000", conservative, rate, blocks, ok)
		}
		// Target 1 is answered for 2, as Core answers it.
		if _, blocks, _ := e.EstimateSmartFee(1, conservative); blocks != 2 {
			t.Errorf("target 1 answered for %d blocks", blocks)
		}
	}
	// Within 24 blocks the cheap transactions confirm too: a lower rate.
	if rate, _, ok := e.EstimateSmartFee(24, false); !ok || !near(rate, 2000) {
		t.Errorf("24 blocks: %v per kB, ok %v; want 2,000", rate, ok)
	}
	for _, target := range []int{0, MaxTarget + 1} {
		if _, blocks, ok := e.EstimateSmartFee(target, false); ok || blocks != 0 {
			t.Errorf("target %d estimated, for %d blocks", target, blocks)
		}
	}

	// Too few transactions for any bucket, over a history long enough for
	// the target: no rate, but Core's "blocks" is the target it tried.
	e = New()
	for h := int32(1); h <= 40; h++ {
		e.BlockConnected(h, []chain.Hash{txid(int(h) - 1)})
		if h%5 == 0 {
			e.TxAdded(txid(int(h)), h, 20*250, 250, true)
		}
	}
	if rate, blocks, ok := e.EstimateSmartFee(6, false); ok || blocks != 6 {
		t.Errorf("sparse history: %v for %d blocks, ok %v; want no rate, for 6 blocks", rate, blocks, ok)
	}
}

func TestEstimateRawFee(t *testing.T) {
	e := New()
	simulate(e, 300)
	rate, res := e.EstimateRawFee(2, 0.95, Short)
	if !near(rate, 20_000) || res.Pass.Start > 20_000 || res.Pass.End < 20_000 || res.Pass.WithinTarget <= 0 || res.Scale != 1 || res.Decay != shortDecay {
		t.Errorf("short, 2 blocks: %v %+v", rate, res)
	}
	// The cheap bucket fails at 2 blocks and is reported so.
	if res.Fail.End < 2000 || res.Fail.Start > 2000 || res.Fail.WithinTarget != 0 {
		t.Errorf("fail bucket %+v", res.Fail)
	}
	thin := New()
	simulate(thin, 2) // 10 confirmations: under 0.5 a block over the decay's window
	if rate, res := thin.EstimateRawFee(2, 0.95, Short); rate != -1 || res.Pass != (Bucket{}) {
		t.Errorf("too little data gave %v %+v", rate, res)
	}
	if rate, _ := e.EstimateRawFee(MaxTarget+1, 0.95, Long); rate != -1 {
		t.Error("a target past the horizon estimated")
	}
}

func TestRemovedCountsAsFailure(t *testing.T) {
	e := New()
	simulate(e, 300)
	// Transactions at a third rate that leave the mempool unmined after
	// waiting: that rate does not confirm in time.
	for h := int32(301); h <= 400; h++ {
		e.BlockConnected(h, nil)
		for i := range 20 {
			id := txid(1_000_000 + int(h)*100 + i)
			e.TxAdded(id, h, 50*250, 250, true)
			if h > 301 {
				e.TxRemoved(txid(1_000_000 + int(h-1)*100 + i))
			}
		}
	}
	rate, res := e.EstimateRawFee(1, 0.95, Short)
	if rate != -1 && rate < 50_000 {
		t.Errorf("a rate whose transactions all left unmined passed: %v %+v", rate, res)
	}
}

func TestSaveAndLoad(t *testing.T) {
	e := New()
	simulate(e, 300)
	want, _, _ := e.EstimateSmartFee(2, false)
	path := filepath.Join(t.TempDir(), "fee_estimates.dat")
	if err := e.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded := New()
	if err := loaded.Load(path); err != nil {
		t.Fatal(err)
	}
	if got, blocks, ok := loaded.EstimateSmartFee(2, false); !ok || got != want || blocks != 2 {
		t.Errorf("after a restart: %v for %d blocks (ok %v), before %v", got, blocks, ok, want)
	}
	if got := loaded.Encode(); string(got) != string(e.Encode()) {
		t.Error("a loaded history encodes differently")
	}

	data := e.Encode()
	for name, damage := range map[string]func([]byte) []byte{
		"truncated":     func(b []byte) []byte { return b[:len(b)/2] },
		"bit flipped":   func(b []byte) []byte { b[100] ^= 1; return b },
		"empty":         func([]byte) []byte { return nil },
		"other magic":   func(b []byte) []byte { b[0] = 'X'; return b },
		"trailing data": func(b []byte) []byte { return append(b, 0) },
	} {
		b := damage(append([]byte(nil), data...))
		if err := New().Decode(b); !errors.Is(err, ErrDamagedFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzDecode: fee_estimates.dat is read from disk; damage must be refused
// with ErrDamagedFile, never panic, and what decodes must estimate without
// NaN and encode back to the same bytes. The fuzzer mutates the body and the
// checksum is made to match, so that the fields' checks are what is tested.
func FuzzDecode(f *testing.F) {
	e := New()
	simulate(e, 40)
	body := func(b []byte) []byte { return b[:len(b)-sha256.Size] }
	f.Add(body(e.Encode()))
	f.Add(body(New().Encode()))
	f.Add([]byte("QFEE"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		b := append(body[:len(body):len(body)], sum[:]...)
		d := New()
		if err := d.Decode(b); err != nil {
			if !errors.Is(err, ErrDamagedFile) {
				t.Fatalf("error not ErrDamagedFile: %v", err)
			}
			return
		}
		if rate, _, ok := d.EstimateSmartFee(6, true); ok && (math.IsNaN(rate) || rate <= 0) {
			t.Fatalf("estimate %v", rate)
		}
		if string(d.Encode()) != string(b) {
			t.Fatal("decoded history encodes differently")
		}
	})
}

// The running total of waiting transactions must count what Core's loop
// over every slot counts.
func TestUnconfirmedTotals(t *testing.T) {
	e := New()
	simulate(e, 60)
	for _, s := range e.stats {
		for b := range s.buckets {
			var sum float64
			for _, slot := range s.unconfTxs {
				sum += slot[b]
			}
			if sum != s.unconfTotal[b] {
				t.Fatalf("bucket %d: total %v, slots sum to %v", b, s.unconfTotal[b], sum)
			}
		}
	}
}

// TestDeferredDecay: decays deferred over a run of blocks and applied as one
// factor give what decaying at every block gives, for a count made before
// the run and one made within it.
func TestDeferredDecay(t *testing.T) {
	s := New().stats[Medium]
	const rate = 20_000
	b := bucketIndex(s.buckets, rate)
	s.record(1, rate)
	for i := range 300 {
		s.updateMovingAverages()
		if i == 150 {
			s.record(1, rate) // settles the first 151 decays
		}
	}
	if s.pendingDecays != 149 {
		t.Fatalf("%d decays pending, want 149", s.pendingDecays)
	}
	s.settle()
	want := math.Pow(s.decay, 300) + math.Pow(s.decay, 149)
	if got := s.txCtAvg[b]; !near(got, want) {
		t.Fatalf("decayed count %v, want %v", got, want)
	}
	if got := s.feerateAvg[b]; !near(got, rate*want) {
		t.Fatalf("decayed fee-rate sum %v, want %v", got, rate*want)
	}
	if s.pendingDecays != 0 {
		t.Fatalf("%d decays pending after settling", s.pendingDecays)
	}
}

// eagerly decays every average at every block, as Core does; the stream of
// events is applied to it and to an estimator left to defer its decays.
type eagerly struct{ *Estimator }

func (e eagerly) BlockConnected(height int32, txids []chain.Hash) {
	e.Estimator.BlockConnected(height, txids)
	for _, s := range e.stats {
		s.settle()
	}
}

// TestDeferredDecayMatchesPerBlock: over a long random run of transactions
// confirmed, left unmined, and runs of empty blocks, with estimates asked
// and the history saved and loaded between them, the deferred decay answers
// what Core's decay at every block answers, and holds the same averages,
// within float noise; the decays pending at a load are not applied to the
// history loaded.
func TestDeferredDecayMatchesPerBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	deferred, core := New(), eagerly{New()}
	waiting := map[int32][]chain.Hash{}
	var mempool []chain.Hash
	n, loads, answered := 0, 0, 0
	for h := int32(1); h <= 3000; h++ {
		if rng.IntN(50) == 0 {
			// A run of blocks the estimator watched nothing confirm in.
			for range rng.IntN(300) {
				deferred.BlockConnected(h, nil)
				core.BlockConnected(h, nil)
				h++
			}
		}
		deferred.BlockConnected(h, waiting[h])
		core.BlockConnected(h, waiting[h])
		delete(waiting, h)
		for range rng.IntN(30) {
			n++
			size := 150 + rng.IntN(1000)
			fee := uint64(size) * uint64(1+rng.IntN(200))
			deferred.TxAdded(txid(n), h, fee, size, true)
			core.TxAdded(txid(n), h, fee, size, true)
			if rng.IntN(10) == 0 {
				mempool = append(mempool, txid(n))
				continue
			}
			at := h + 1 + int32(rng.ExpFloat64()*float64(fee)/float64(size)/20)
			waiting[at] = append(waiting[at], txid(n))
		}
		if len(mempool) > 0 && rng.IntN(5) == 0 {
			i := rng.IntN(len(mempool))
			deferred.TxRemoved(mempool[i])
			core.TxRemoved(mempool[i])
			mempool = slices.Delete(mempool, i, i+1)
		}
		if rng.IntN(20) == 0 {
			target, conservative := 1+rng.IntN(MaxTarget), rng.IntN(2) == 0
			got, gotTarget, gotOK := deferred.EstimateSmartFee(target, conservative)
			want, wantTarget, wantOK := core.EstimateSmartFee(target, conservative)
			if gotOK != wantOK || gotTarget != wantTarget || gotOK && !near(got, want) {
				t.Fatalf("height %d, target %d: %v for %d blocks (ok %v) deferred, %v for %d (ok %v) decayed at every block",
					h, target, got, gotTarget, gotOK, want, wantTarget, wantOK)
			}
			if gotOK {
				answered++
			}
			horizon := Horizon(rng.IntN(3))
			target = 1 + rng.IntN(deferred.HighestTarget(horizon))
			gotRaw, _ := deferred.EstimateRawFee(target, successPct, horizon)
			wantRaw, _ := core.EstimateRawFee(target, successPct, horizon)
			if (gotRaw < 0) != (wantRaw < 0) || wantRaw >= 0 && !near(gotRaw, wantRaw) {
				t.Fatalf("height %d, %v horizon, target %d: raw %v deferred, %v decayed at every block", h, horizon, target, gotRaw, wantRaw)
			}
		}
		if rng.IntN(500) == 0 {
			loads++
			// An estimator with decays of its own pending loads the
			// history: they are not applied to it.
			loaded := New()
			for b := range int32(50) {
				loaded.BlockConnected(b+1, nil)
			}
			saved := deferred.Encode()
			if err := loaded.Decode(saved); err != nil {
				t.Fatal(err)
			}
			if string(loaded.Encode()) != string(saved) {
				t.Fatalf("height %d: a history loaded over pending decays encodes differently", h)
			}
			requireSameAverages(t, loaded, core.Estimator)
		}
	}
	if loads == 0 || answered == 0 {
		t.Fatalf("the run loaded %d histories and estimated %d times: nothing compared", loads, answered)
	}
	requireSameAverages(t, deferred, core.Estimator)
}

// requireSameAverages fails unless a and b hold the same averages within
// float noise, settling them first.
func requireSameAverages(t *testing.T, a, b *Estimator) {
	t.Helper()
	for i := range a.stats {
		sa, sb := a.stats[i], b.stats[i]
		sa.settle()
		sb.settle()
		rows := func(s *confirmStats) [][]float64 {
			return append(append([][]float64{s.txCtAvg, s.feerateAvg}, s.confAvg...), s.failAvg...)
		}
		ra, rb := rows(sa), rows(sb)
		for r := range ra {
			for c := range ra[r] {
				if x, y := ra[r][c], rb[r][c]; math.Abs(x-y) > 1e-9*math.Max(math.Abs(x), math.Abs(y)) {
					t.Fatalf("horizon %v, row %d, bucket %d: %v deferred, %v decayed at every block", Horizon(i), r, c, x, y)
				}
			}
		}
	}
}

// The estimator is safe for concurrent use: HighestTarget as a history is
// loaded, which replaces the horizons (a race the race detector sees).
func TestHighestTargetWhileLoading(t *testing.T) {
	e := New()
	simulate(e, 40)
	saved := e.Encode()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			if err := e.Decode(saved); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { <-done }()
	for range 100 {
		if got := e.HighestTarget(Long); got != MaxTarget {
			t.Fatalf("long horizon's highest target %d, want %d", got, MaxTarget)
		}
	}
}
