package fees

import "testing"

// BenchmarkEstimateSmartFee: one estimatesmartfee over a full history.
func BenchmarkEstimateSmartFee(b *testing.B) {
	e := New()
	simulate(e, 1100)
	b.ResetTimer()
	for b.Loop() {
		if _, _, ok := e.EstimateSmartFee(6, true); !ok {
			b.Fatal("no estimate")
		}
	}
}

// BenchmarkBlockConnected: an empty block, which every block of an initial
// sync is to the estimator (its mempool is empty). The averages' decay is
// deferred to the next read, so a run of them costs next to nothing.
func BenchmarkBlockConnected(b *testing.B) {
	e := New()
	simulate(e, 1100)
	height := e.bestSeen
	for b.Loop() {
		height++
		e.BlockConnected(height, nil)
	}
}
