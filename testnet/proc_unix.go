//go:build unix

package testnet

import (
	"errors"
	"os"
	"syscall"
)

// terminate and kill signal the node's whole process group, which it leads,
// so nothing it started outlives it.
func terminate(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

func kill(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

func signalGroup(p *os.Process, sig syscall.Signal) error {
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone
	}
	return err
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
