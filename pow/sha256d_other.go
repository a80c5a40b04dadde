//go:build (!amd64 && !arm64) || purego

package pow

// archKernels lists the kernels this CPU can run besides the portable one: none
// without assembly for this architecture.
func archKernels() []kernel { return nil }
