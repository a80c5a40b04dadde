package fees

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
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
