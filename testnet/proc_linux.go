package testnet

import "syscall"

// sysProcAttr puts the node in its own process group, and has the kernel kill
// it when the process that started it dies, so a test binary that panics or
// times out leaves no node running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
