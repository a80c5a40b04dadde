//go:build unix

package chaintest

import (
	"syscall"
	"time"
)

// ProcessCPU is the CPU time, user and system, the process has used so far;
// false where the system does not say. A benchmark compares it with the wall
// time to tell the cores its work kept busy from those it left idle.
func ProcessCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
