package pow

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"time"
)

// KernelTiming is one kernel's rate as ChooseKernel measured it.
type KernelTiming struct {
	Kernel string
	// Rate is nonces per second on one core, the best of its timed rounds.
	Rate float64
}

// chosenKernel is the kernel searches run unless a Searcher overrides it: the
// first of kernels() until ChooseKernel has timed them.
var chosenKernel atomic.Pointer[kernel]

func init() {
	k := kernels()[0]
	chosenKernel.Store(&k)
}

// kernelRounds is how many times ChooseKernel times each kernel, alternating
// between them: on a shared machine one round may be preempted, the best of
// several is the kernel's own rate.
const kernelRounds = 5

// ChooseKernel times each kernel the CPU supports on the calling goroutine, for
// about budget in all, makes the fastest the one searches use from then on, and
// returns the timings, fastest first. Which kernel wins depends on the CPU (a
// SHA-NI unit against wide vector lanes), which no feature flag tells; hence the
// measurement. If ctx ends first (mining stopped meanwhile), it returns ctx's
// error within one timing slot and leaves the choice as it was.
func ChooseKernel(ctx context.Context, budget time.Duration) ([]KernelTiming, error) {
	ks := kernels()
	if len(ks) > 1 {
		ks = ks[:len(ks)-1] // the portable kernel is only the fallback
	}
	hs := newHeaderState(&[80]byte{0: 1})
	slot := budget / time.Duration(kernelRounds*len(ks))
	best := make([]float64, len(ks))
	for range kernelRounds {
		for i, k := range ks {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			const batch = 4096
			var n uint32
			start := time.Now()
			for time.Since(start) < slot {
				// Target top word 0: a candidate is a 1 in 2^32 event, and
				// counts as a full batch here all the same.
				k.scan(hs, n, batch, 0)
				n += batch
			}
			best[i] = max(best[i], float64(n)/time.Since(start).Seconds())
		}
	}
	timings := make([]KernelTiming, len(ks))
	for i, k := range ks {
		timings[i] = KernelTiming{Kernel: k.name, Rate: best[i]}
	}
	slices.SortStableFunc(timings, func(a, b KernelTiming) int { return cmp.Compare(b.Rate, a.Rate) })
	for _, k := range ks {
		if k.name == timings[0].Kernel {
			chosenKernel.Store(&k)
		}
	}
	return timings, nil
}
