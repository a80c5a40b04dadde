package pow

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// impossible is a target no hash meets in practice (only an all-zero hash would),
// for searches that must run until exhausted or cancelled.
var impossible [32]byte

// searchers returns a one-worker Searcher per kernel the CPU runs.
func searchers() map[string]*Searcher {
	m := map[string]*Searcher{}
	for _, k := range kernels() {
		m[k.name] = &Searcher{Workers: 1, kernel: &k}
	}
	return m
}

// checkFound verifies a search result against crypto/sha256 and big-number math.
func checkFound(t *testing.T, header [80]byte, target *[32]byte, res SearchResult) {
	t.Helper()
	if !res.Found {
		t.Fatalf("no nonce found after %d hashes", res.Hashes)
	}
	binary.LittleEndian.PutUint32(header[76:], res.Nonce)
	first := sha256.Sum256(header[:])
	want := sha256.Sum256(first[:])
	if res.Hash != want {
		t.Fatalf("nonce %#x: reported hash %x, crypto/sha256 says %x", res.Nonce, res.Hash, want)
	}
	if !HashMeetsTarget(&want, HashToBig(target)) {
		t.Fatalf("nonce %#x: hash %x does not meet target %x", res.Nonce, want, *target)
	}
	if res.Hashes == 0 {
		t.Fatal("found a nonce after 0 hashes")
	}
}

func TestSearchFinds(t *testing.T) {
	rng := testRand(t)
	// The regtest limit meets half of all hashes; the other two about one in 2^12
	// and 2^16, so that workers must pass candidates that fail the exact check.
	targets := []*big.Int{
		mustTarget(t, 0x207fffff),
		new(big.Int).Rsh(mustTarget(t, 0x207fffff), 11),
		mustTarget(t, 0x1f00ffff),
	}
	for name, s := range searchers() {
		t.Run(name, func(t *testing.T) {
			for _, workers := range []int{1, 2, 3} {
				for _, tg := range targets {
					header := randHeader(rng)
					target := TargetBytes(tg)
					s := Searcher{Workers: workers, kernel: s.kernel}
					res := s.Search(context.Background(), &header, &target)
					checkFound(t, header, &target, res)
				}
			}
		})
	}
}

// TestChooseKernel times the kernels: every one the CPU runs (the portable one
// only where there is no other) must be timed at a positive rate, fastest first,
// and the fastest must become the one searches use.
func TestChooseKernel(t *testing.T) {
	before := chosenKernel.Load()
	t.Cleanup(func() { chosenKernel.Store(before) })
	if got, want := SearchKernel(), kernels()[0].name; got != want {
		t.Errorf("SearchKernel() before timing = %q, want the first supported, %q", got, want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if timings, err := ChooseKernel(ctx, time.Hour); !errors.Is(err, context.Canceled) || timings != nil || SearchKernel() != kernels()[0].name {
		t.Errorf("ChooseKernel cancelled: %v, %v, kernel %q; want the error, no timings, the choice unchanged", timings, err, SearchKernel())
	}
	timings, err := ChooseKernel(t.Context(), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range kernels() {
		if k.name != "generic" || len(kernels()) == 1 {
			want = append(want, k.name)
		}
	}
	var got []string
	for i, tm := range timings {
		got = append(got, tm.Kernel)
		if tm.Rate <= 0 || i > 0 && tm.Rate > timings[i-1].Rate {
			t.Errorf("timings not positive and fastest first: %+v", timings)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("timed kernels %v, want %v", got, want)
	}
	if SearchKernel() != timings[0].Kernel {
		t.Errorf("SearchKernel() = %q after timing, want the fastest, %q", SearchKernel(), timings[0].Kernel)
	}
	t.Logf("timings: %+v", timings)
	if runtime.GOARCH == "amd64" && SearchKernel() == "generic" {
		t.Log("no SHA-NI on this CPU: only the portable kernel is tested")
	}
}

func TestSearchPackageFunc(t *testing.T) {
	header := randHeader(testRand(t))
	target := TargetBytes(mustTarget(t, 0x1f00ffff))
	res := Search(context.Background(), &header, &target, 0)
	checkFound(t, header, &target, res)
}

func mustTarget(t *testing.T, bits uint32) *big.Int {
	t.Helper()
	tg, err := Target(bits, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestSearchNearTarget runs searches over a few batches of nonces whose smallest
// hash is h, against targets at h and one away from it in the lowest and highest
// 32-bit words: the kernels' early-out looks at the highest word only, so the exact
// comparison after it must decide the cases where the top words are equal.
func TestSearchNearTarget(t *testing.T) {
	rng := testRand(t)
	one := big.NewInt(1)
	top := new(big.Int).Lsh(one, 224)
	for name, s := range searchers() {
		t.Run(name, func(t *testing.T) {
			for range 20 {
				header := randHeader(rng)
				first := rng.Uint32() &^ 7
				const count = 12 // three batches of four
				var best *big.Int
				var bestNonce uint32
				for i := range uint32(count) {
					h := refHash(header, first+i)
					if v := HashToBig(&h); best == nil || v.Cmp(best) < 0 {
						best, bestNonce = v, first+i
					}
				}
				for _, c := range []struct {
					delta *big.Int
					found bool
				}{
					{new(big.Int), true},
					{one, true},
					{new(big.Int).Neg(one), false},
					{top, true},
					{new(big.Int).Neg(top), false},
				} {
					tg := new(big.Int).Add(best, c.delta)
					target := TargetBytes(tg)
					res := s.SearchRange(context.Background(), &header, &target, first, count)
					if res.Found != c.found {
						t.Fatalf("header %x best %x target %x: found %v, want %v", header, best, tg, res.Found, c.found)
					}
					if res.Found {
						checkFound(t, header, &target, res)
						if res.Nonce != bestNonce {
							t.Fatalf("found nonce %#x, want the only one that meets the target, %#x", res.Nonce, bestNonce)
						}
					} else if res.Hashes != count {
						t.Fatalf("exhausted the range after %d hashes, want %d", res.Hashes, count)
					}
				}
			}
		})
	}
}

// TestSearchExhausts searches ranges no nonce in which meets the target: each
// nonce must be hashed exactly once, with the range clipped at the end of the
// nonce space.
func TestSearchExhausts(t *testing.T) {
	for name, s := range searchers() {
		t.Run(name, func(t *testing.T) {
			header := randHeader(testRand(t))
			for _, c := range []struct {
				first         uint32
				count, hashes uint64
				workers       int
			}{
				{0, 0, 0, 1},
				{5, 1, 1, 1},
				{1000, 3*maxChunk + 7, 3*maxChunk + 7, 3},
				{1000, 3*maxChunk + 7, 3*maxChunk + 7, 1},
				{NonceSpace - 10, 100, 10, 2},
				{NonceSpace - 1, NonceSpace, 1, 2},
			} {
				var progress atomic.Uint64
				s := Searcher{Workers: c.workers, kernel: s.kernel, Progress: func(n uint64) { progress.Add(n) }}
				res := s.SearchRange(context.Background(), &header, &impossible, c.first, c.count)
				if res.Found || res.Hashes != c.hashes || progress.Load() != c.hashes {
					t.Errorf("range %#x+%d, %d workers: found %v, %d hashes, %d reported as progress; want none, %d",
						c.first, c.count, c.workers, res.Found, res.Hashes, progress.Load(), c.hashes)
				}
			}
		})
	}
}

// TestSearchCancel cancels long searches while they run: Search must return,
// with every worker goroutine gone, and the progress reports must add up to the
// hashes it returns. How fast it returns is a figure for BenchmarkSearchCancel,
// not a timing assertion that a loaded machine could break.
func TestSearchCancel(t *testing.T) {
	header := randHeader(testRand(t))
	for name, s := range searchers() {
		t.Run(name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			for _, workers := range []int{1, 3, 2 * runtime.NumCPU()} {
				s := Searcher{Workers: workers, kernel: s.kernel}
				d := cancelSearch(t, &s, &header)
				waitGoroutines(t, base)
				t.Logf("%d workers: returned %v after cancel", workers, d)
			}
		})
	}
}

// BenchmarkSearchCancel reports how long a running search takes to return once
// its context is cancelled (the miner's goal: within 50 ms).
func BenchmarkSearchCancel(b *testing.B) {
	header := randHeader(testRand(b))
	s := Searcher{Workers: runtime.NumCPU()}
	var worst, total time.Duration
	for b.Loop() {
		d := cancelSearch(b, &s, &header)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-to-stop")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

// cancelSearch starts a search that finds nothing, cancels it once it is well
// under way, checks its result and returns how long after the cancel it returned.
func cancelSearch(t testing.TB, s *Searcher, header *[80]byte) time.Duration {
	t.Helper()
	var progress atomic.Uint64
	s.Progress = func(n uint64) { progress.Add(n) }
	ctx, cancel := context.WithCancel(context.Background())
	type ret struct {
		res SearchResult
		at  time.Time
	}
	out := make(chan ret, 1)
	go func() {
		res := s.Search(ctx, header, &impossible)
		out <- ret{res, time.Now()}
	}()
	for progress.Load() < 4*maxChunk {
		time.Sleep(time.Millisecond)
	}
	cancelled := time.Now()
	cancel()
	var r ret
	select {
	case r = <-out:
	case <-time.After(5 * time.Second):
		t.Fatalf("%d workers: Search still running 5 s after cancel", s.Workers)
	}
	if r.res.Found || !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("%d workers: found %v, ctx.Err %v", s.Workers, r.res.Found, ctx.Err())
	}
	if r.res.Hashes == 0 || r.res.Hashes != progress.Load() {
		t.Errorf("%d workers: %d hashes, %d reported as progress", s.Workers, r.res.Hashes, progress.Load())
	}
	return r.at.Sub(cancelled)
}

// waitGoroutines waits for the goroutine count to drop back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still running, %d before the search", runtime.NumGoroutine(), base)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSearchDeadline(t *testing.T) {
	header := randHeader(testRand(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := Search(ctx, &header, &impossible, 2)
	// Generous: TestSearchCancel checks the latency; this checks that a deadline
	// stops a search as a cancel does.
	if d := time.Since(start); d > time.Second {
		t.Errorf("Search with a 20ms deadline took %v", d)
	}
	if res.Found || res.Hashes == 0 || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("found %v after %d hashes, ctx.Err %v", res.Found, res.Hashes, ctx.Err())
	}
}

func TestSearchCancelledBeforeStart(t *testing.T) {
	header := randHeader(testRand(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := Search(ctx, &header, &impossible, 4); res.Found || res.Hashes != 0 {
		t.Errorf("cancelled search: found %v after %d hashes", res.Found, res.Hashes)
	}
}

var benchHeader = func() (h [80]byte) {
	for i := range h {
		h[i] = byte(i*37 + 11)
	}
	return h
}()

// benchSearch measures SearchRange over b.N nonces that meet no target. Besides
// the wall-clock rate it reports nonces per CPU-second: on a machine shared with
// other work, that is the rate of a core while it runs the search, and with
// several workers it shows whether they slow each other down.
func benchSearch(b *testing.B, s *Searcher) {
	cpu0 := cpuTime()
	res := s.SearchRange(context.Background(), &benchHeader, &impossible, 0, uint64(b.N))
	cpu := cpuTime() - cpu0
	if res.Hashes != uint64(b.N) {
		b.Fatalf("%d hashes, want %d", res.Hashes, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mnonces/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds()/1e6, "Mnonces/cpu-s")
	}
}

func BenchmarkSearch1Core(b *testing.B)  { benchSearch(b, &Searcher{Workers: 1}) }
func BenchmarkSearch2Cores(b *testing.B) { benchSearch(b, &Searcher{Workers: 2}) }

// BenchmarkSearchKernels runs the whole search with each kernel on one core and on
// all of them, for the per-kernel figures against the probe's limits.
func BenchmarkSearchKernels(b *testing.B) {
	for _, k := range kernels() {
		for _, workers := range []int{1, runtime.NumCPU()} {
			b.Run(fmt.Sprintf("%s/%dcores", k.name, workers), func(b *testing.B) {
				benchSearch(b, &Searcher{Workers: workers, kernel: &k})
			})
		}
	}
}

// BenchmarkKernel measures each kernel on one core, without the search around it.
func BenchmarkKernel(b *testing.B) {
	const batch = 1024
	hs := newHeaderState(&benchHeader)
	for _, k := range kernels() {
		b.Run(k.name, func(b *testing.B) {
			var nonce uint32
			cpu0 := cpuTime()
			for b.Loop() {
				// Target top word 0: a candidate is a 1 in 2^32 event, ignored here.
				k.scan(hs, nonce, batch, 0)
				nonce += batch
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds()/1e6, "Mnonces/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N)*batch/cpu.Seconds()/1e6, "Mnonces/cpu-s")
			}
		})
	}
}
