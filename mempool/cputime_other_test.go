//go:build !unix

package mempool

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
