//go:build !unix

package testnet

import (
	"os"
	"syscall"
)

// Without Unix signals a node can only be killed; it then recovers its chain
// from the database's last committed state at the next start.

func sysProcAttr() *syscall.SysProcAttr { return nil }

func terminate(p *os.Process) error { return p.Kill() }

func kill(p *os.Process) error { return p.Kill() }

// processAlive cannot be told cheaply here, so stale build directories are kept.
func processAlive(int) bool { return true }
