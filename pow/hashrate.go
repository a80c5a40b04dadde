package pow

import (
	"sync"
	"time"
)

// HashRate measures hashes per second over a sliding window, for getmininginfo's
// hashespersec and the metrics. It counts into one bucket per second and forgets
// buckets older than the window, so the figure follows the miner within a window's
// time when it speeds up, slows down or stops. It is safe for concurrent use; Add
// fits Searcher.Progress.
type HashRate struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets []uint64  // hashes per second, a ring indexed by second mod len
	head    int64     // the second (since origin) of the newest bucket
	origin  time.Time // second 0, and the start of measuring
	total   uint64
}

// DefaultHashRateWindow is the window of NewHashRate(0, nil).
const DefaultHashRateWindow = time.Minute

// NewHashRate returns a meter averaging over window (rounded up to whole seconds;
// 0 or less means DefaultHashRateWindow). now is the clock; nil means time.Now.
func NewHashRate(window time.Duration, now func() time.Time) *HashRate {
	if window <= 0 {
		window = DefaultHashRateWindow
	}
	if now == nil {
		now = time.Now
	}
	secs := int((window + time.Second - 1) / time.Second)
	return &HashRate{now: now, buckets: make([]uint64, secs), origin: now()}
}

// advance moves the newest bucket up to the current second, clearing the buckets
// it passes, and returns the time since origin.
func (r *HashRate) advance() time.Duration {
	el := r.now().Sub(r.origin)
	if el < 0 { // a clock that went back: count into the newest bucket
		return time.Duration(r.head) * time.Second
	}
	sec := int64(el / time.Second)
	for n := 0; r.head < sec && n < len(r.buckets); n++ {
		r.head++
		r.buckets[r.head%int64(len(r.buckets))] = 0
	}
	r.head = max(r.head, sec)
	return el
}

// Add records n more hashes done now.
func (r *HashRate) Add(n uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance()
	r.buckets[r.head%int64(len(r.buckets))] += n
	r.total += n
}

// Rate returns the hashes per second over the window up to now. Until a window has
// passed since the meter was made or reset, it averages over the time since then
// (at least a second, so that the first few hashes do not read as a huge rate).
func (r *HashRate) Rate() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	el := r.advance()
	var sum uint64
	for _, b := range r.buckets {
		sum += b
	}
	// The buckets cover the full seconds of the window before the newest and the
	// part of the newest second that has passed.
	span := el - time.Duration(r.head+1-int64(len(r.buckets)))*time.Second
	span = max(min(span, el), time.Second)
	return float64(sum) / span.Seconds()
}

// Total returns the hashes recorded since the meter was made or reset.
func (r *HashRate) Total() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Reset forgets all hashes and starts measuring anew, as when mining starts.
func (r *HashRate) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.buckets)
	r.head, r.total, r.origin = 0, 0, r.now()
}
