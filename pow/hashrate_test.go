package pow

import (
	"math"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 250_000_000)} }

func assertRate(t *testing.T, r *HashRate, want float64) {
	t.Helper()
	if got := r.Rate(); math.Abs(got-want) > 1e-9*math.Max(1, want) {
		t.Fatalf("rate %v, want %v", got, want)
	}
}

func TestHashRateSteady(t *testing.T) {
	clk := newFakeClock()
	r := NewHashRate(10*time.Second, clk.now)
	assertRate(t, r, 0)
	// 1000 hashes every 100 ms: 10,000 per second, whatever the window holds.
	for i := range 300 {
		r.Add(1000)
		clk.advance(100 * time.Millisecond)
		if i >= 10 { // past the first second, which is averaged over a full second
			assertRate(t, r, 10_000)
		}
	}
	if r.Total() != 300_000 {
		t.Fatalf("total %d, want 300000", r.Total())
	}
}

func TestHashRateYoungMeter(t *testing.T) {
	clk := newFakeClock()
	r := NewHashRate(time.Minute, clk.now)
	r.Add(500)
	assertRate(t, r, 500) // less than a second old: averaged over one second
	clk.advance(4 * time.Second)
	r.Add(1500)
	assertRate(t, r, 500) // 2000 in 4 s, not in the whole window
}

func TestHashRateWindowSlides(t *testing.T) {
	clk := newFakeClock()
	r := NewHashRate(10*time.Second, clk.now)
	for range 20 {
		r.Add(2000)
		clk.advance(time.Second)
	}
	assertRate(t, r, 2000)
	// The miner stops: the rate decays as the window slides past its work.
	clk.advance(5 * time.Second)
	got := r.Rate()
	if got <= 0 || got >= 2000 {
		t.Fatalf("rate %v 5 s after stopping, want between 0 and 2000", got)
	}
	clk.advance(11 * time.Second)
	assertRate(t, r, 0)
	// A gap far longer than the window clears every bucket.
	r.Add(100)
	clk.advance(time.Hour)
	assertRate(t, r, 0)
	r.Add(3000)
	clk.advance(1500 * time.Millisecond)
	// The window's buckets now span the 9 seconds before the current one and the
	// half second of it that has passed.
	assertRate(t, r, 3000/9.5)
}

func TestHashRateReset(t *testing.T) {
	clk := newFakeClock()
	r := NewHashRate(0, clk.now) // default window
	for range 120 {
		r.Add(100)
		clk.advance(time.Second)
	}
	assertRate(t, r, 100)
	r.Reset()
	if r.Total() != 0 {
		t.Fatalf("total %d after reset", r.Total())
	}
	assertRate(t, r, 0)
	clk.advance(2 * time.Second)
	r.Add(4000)
	assertRate(t, r, 2000)
}

func TestHashRateClockBack(t *testing.T) {
	clk := newFakeClock()
	r := NewHashRate(10*time.Second, clk.now)
	clk.advance(3 * time.Second)
	r.Add(300)
	clk.advance(-time.Hour) // a clock set back must not lose or misplace hashes
	r.Add(300)
	if r.Total() != 600 || r.Rate() <= 0 {
		t.Fatalf("total %d rate %v after the clock went back", r.Total(), r.Rate())
	}
}

func TestHashRateConcurrent(t *testing.T) {
	r := NewHashRate(time.Minute, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				r.Add(3)
				r.Rate()
			}
		})
	}
	wg.Wait()
	if r.Total() != 12_000 {
		t.Fatalf("total %d, want 12000", r.Total())
	}
}

// TestHashRateFedBySearch wires a meter to a search, as the miner does.
func TestHashRateFedBySearch(t *testing.T) {
	r := NewHashRate(time.Minute, nil)
	header := randHeader(testRand(t))
	s := Searcher{Workers: 2, Progress: r.Add}
	res := s.SearchRange(t.Context(), &header, &impossible, 0, 3*maxChunk)
	if r.Total() != res.Hashes || res.Hashes != 3*maxChunk || r.Rate() <= 0 {
		t.Fatalf("meter total %d rate %v; search hashes %d", r.Total(), r.Rate(), res.Hashes)
	}
}
