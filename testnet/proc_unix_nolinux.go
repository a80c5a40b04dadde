//go:build unix && !linux

package testnet

import "syscall"

// sysProcAttr puts the node in its own process group. These systems have no
// parent-death signal, so only the harness's own cleanup stops the nodes.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
