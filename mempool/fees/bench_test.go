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
