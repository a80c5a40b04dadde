//go:build !unix

package chaintest

import "time"

// ProcessCPU is the CPU time the process has used so far; false here, where
// it is not known.
func ProcessCPU() (time.Duration, bool) { return 0, false }
