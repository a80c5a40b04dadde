package chain

import "testing"

// highS is chaintest.HighS. This package's own tests cannot import chaintest,
// which imports chain, so the external test package hands it over
// (chaintest_test.go) before any test runs.
var highS func(t testing.TB, der []byte) []byte

// UseTestHelpers gives this package's tests the helpers of chaintest.
func UseTestHelpers(highSignature func(t testing.TB, der []byte) []byte) {
	highS = highSignature
}
