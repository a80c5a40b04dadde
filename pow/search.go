package pow

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// NonceSpace is the number of distinct nonces of a header.
const NonceSpace = 1 << 32

// Workers claim nonces in chunks, and check for cancellation and report progress
// between chunks. A chunk must take well under the 50 ms a cancelled search may
// keep running, yet long enough that claiming it costs nothing next to hashing
// it. The rate varies a hundredfold between kernels, and more under the race
// detector or with more workers than CPUs, so each worker sizes its chunks to
// take about chunkTime of wall-clock time.
const (
	chunkTime = time.Millisecond
	minChunk  = 1 << 8
	maxChunk  = 1 << 16
)

// SearchResult is the outcome of a nonce search.
type SearchResult struct {
	// Nonce, when Found, is a nonce whose header hash meets the target.
	Nonce uint32
	// Hash is the block hash (SHA-256d, internal byte order) of the header with Nonce.
	Hash [32]byte
	// Found tells whether Nonce and Hash are set. If not, the range was exhausted
	// or the search was cancelled: the context's Err tells which.
	Found bool
	// Hashes is how many nonces were tried, by all workers together.
	Hashes uint64
}

// Searcher runs nonce searches. The zero value is ready to use: one worker per CPU,
// no progress reports. A search only reads the Searcher, so one may run several
// searches at once.
type Searcher struct {
	// Workers is how many goroutines hash in parallel; 0 or less means runtime.NumCPU().
	Workers int
	// Progress, if set, is called with the number of hashes tried after each batch
	// of some thousands, from every worker goroutine concurrently, so that a
	// hash-rate meter (see HashRate.Add) or counter sees live figures during a
	// long search. It must be safe for concurrent use and return quickly.
	Progress func(hashes uint64)

	// kernel, if set, replaces the fastest kernel the CPU supports (for tests and
	// benchmarks of each kernel).
	kernel *kernel
}

// kernel is one implementation of the inner loop. scan hashes nonce, nonce+1, ...,
// nonce+n-1 of the header h and returns the index of the first whose hash may meet
// a target whose most significant 32 bits are ttop: its top 32 bits (see topWord)
// are at most ttop. It returns n if no hash may. The caller then compares the
// candidate's full hash exactly, which keeps kernels free of 256-bit arithmetic.
type kernel struct {
	name string
	scan func(h *headerState, nonce, n, ttop uint32) uint32
}

var genericKernel = kernel{name: "generic", scan: (*headerState).scanGeneric}

// kernels lists the kernels the CPU can run, the portable one last.
func kernels() []kernel { return append(archKernels(), genericKernel) }

// SearchKernel names the hashing code searches run on this CPU: "shani" (x86 SHA
// extensions), "avx512" (16 lanes), "hybrid" (both at once), "avx2" (8 lanes), "sha2" (ARMv8 SHA-2
// instructions) or "generic" (portable Go, many times slower), for the miner's
// log and metrics. It is the first the CPU supports in that order until
// ChooseKernel has timed them.
func SearchKernel() string { return chosenKernel.Load().name }

// Search looks for a nonce whose header hash meets target among all 2^32 nonces
// of header, with the given number of workers (0 or less: one per CPU). See
// Searcher.SearchRange.
func Search(ctx context.Context, header *[80]byte, target *[32]byte, workers int) SearchResult {
	s := Searcher{Workers: workers}
	return s.SearchRange(ctx, header, target, 0, NonceSpace)
}

// Search looks for a nonce whose header hash meets target among all 2^32 nonces
// of header. See SearchRange.
func (s *Searcher) Search(ctx context.Context, header *[80]byte, target *[32]byte) SearchResult {
	return s.SearchRange(ctx, header, target, 0, NonceSpace)
}

// SearchRange looks for a nonce in [first, first+count) whose header hash, read as
// a little-endian 256-bit number, is at most target (the 32-byte little-endian form
// that TargetBytes returns). The nonce bytes of header (76..80) are ignored; put
// the result's Nonce there to get the block. The range ends at the end of the
// nonce space if count reaches past it.
//
// The workers claim disjoint chunks of the range in turn, so they share the work
// evenly however fast each runs. When one finds a nonce, or ctx is done, all stop
// within a few milliseconds, and SearchRange returns after every worker has.
// If several workers find a nonce at once, which one is returned is unspecified.
func (s *Searcher) SearchRange(ctx context.Context, header *[80]byte, target *[32]byte, first uint32, count uint64) SearchResult {
	k := *chosenKernel.Load()
	if s.kernel != nil {
		k = *s.kernel
	}
	workers := s.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	sr := &search{
		ctx:      ctx,
		header:   newHeaderState(header),
		target:   *target,
		ttop:     binary.LittleEndian.Uint32(target[28:]),
		end:      uint64(first) + min(count, NonceSpace-uint64(first)),
		scan:     k.scan,
		progress: s.Progress,
	}
	sr.next.Store(uint64(first))

	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(sr.work)
	}
	sr.work()
	wg.Wait()

	res := SearchResult{Hashes: sr.hashes.Load()}
	if w := sr.winner.Load(); w != nil {
		res.Nonce, res.Hash, res.Found = w.nonce, w.hash, true
	}
	return res
}

// search is the state the workers of one SearchRange share.
type search struct {
	ctx      context.Context
	header   *headerState
	target   [32]byte // a copy: the caller may reuse its array while workers run
	ttop     uint32
	end      uint64
	scan     func(h *headerState, nonce, n, ttop uint32) uint32
	progress func(uint64)

	next   atomic.Uint64 // first nonce of the next unclaimed chunk
	hashes atomic.Uint64
	stop   atomic.Bool // set by the worker that finds a nonce
	winner atomic.Pointer[found]
}

type found struct {
	nonce uint32
	hash  [32]byte
}

// work claims and searches chunks until the range is exhausted, a nonce is found
// or the context is done.
func (sr *search) work() {
	done := sr.ctx.Done()
	var tried uint64
	defer func() { sr.hashes.Add(tried) }()
	size := uint64(minChunk)
	for !sr.stop.Load() {
		select {
		case <-done:
			return
		default:
		}
		lo := sr.next.Add(size) - size
		if lo >= sr.end {
			return
		}
		start := time.Now()
		n, ok := sr.chunk(uint32(lo), uint32(min(size, sr.end-lo)))
		switch d := time.Since(start); {
		case d < chunkTime/2 && size < maxChunk:
			size *= 2
		case d > 2*chunkTime && size > minChunk:
			size /= 2
		}
		tried += uint64(n)
		if sr.progress != nil {
			sr.progress(uint64(n))
		}
		if ok {
			sr.stop.Store(true)
			return
		}
	}
}

// chunk searches n nonces from nonce on and returns how many it hashed and
// whether it found one that meets the target.
func (sr *search) chunk(nonce, n uint32) (uint32, bool) {
	for i := uint32(0); i < n; {
		i += sr.scan(sr.header, nonce+i, n-i, sr.ttop)
		if i == n {
			break
		}
		// A candidate: its top word is at most the target's; compare all of it.
		cand := nonce + i
		i++
		h := sr.header.hash(cand)
		if meetsTarget(&h, &sr.target) {
			sr.winner.CompareAndSwap(nil, &found{nonce: cand, hash: h})
			return i, true
		}
	}
	return n, false
}
