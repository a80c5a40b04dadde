package testnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"time"
)

// killWait bounds the wait for a process after SIGKILL, which only a process
// stuck in the kernel survives.
const killWait = 10 * time.Second

// MaxCloseTime bounds Network.Close with the default stop timeout: each node
// is asked to stop, given DefaultStopTimeout, then killed and waited for.
const MaxCloseTime = DefaultStopTimeout + killWait

// process is one run of a node binary. Its one goroutine waits for the exit,
// so every process is reaped however the node ends.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result; read only after done is closed
	// asked is set before the harness signals the process, so that an exit
	// nobody asked for can be told from one that was.
	asked atomic.Bool
}

// startProcess runs bin with its standard output and error appended to logPath
// (the file is handed to the child, so no goroutine copies the output), in its
// own process group, so that a Ctrl-C at a terminal reaches only the harness,
// which then stops the nodes in order.
func startProcess(bin string, args, env []string, logPath, banner string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	if _, err := logFile.WriteString(banner); err != nil {
		return nil, fmt.Errorf("write %s: %w", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to timeout for a clean exit, then kills. It
// fails when the node had already exited on its own, did not stop in time, or
// exited with an error, all of which a test should hear about.
func (p *process) stop(ctx context.Context, timeout time.Duration) error {
	if p.exited() && !p.asked.Load() {
		return fmt.Errorf("exited on its own earlier: %v", p.exitErr())
	}
	p.asked.Store(true)
	if err := terminate(p.cmd.Process); err != nil && !p.exited() {
		return fmt.Errorf("send SIGTERM: %w", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		if err := p.exitErr(); err != nil {
			return fmt.Errorf("exited uncleanly after SIGTERM: %w", err)
		}
		return nil
	case <-timer.C:
		return errors.Join(fmt.Errorf("still running %v after SIGTERM, killed", timeout), p.kill())
	case <-ctx.Done():
		return errors.Join(fmt.Errorf("waiting for exit after SIGTERM: %w; killed", ctx.Err()), p.kill())
	}
}

// kill sends SIGKILL to the process group and waits for the exit.
func (p *process) kill() error {
	p.asked.Store(true)
	if err := kill(p.cmd.Process); err != nil && !p.exited() {
		return fmt.Errorf("send SIGKILL: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("pid %d still running %v after SIGKILL", p.pid(), killWait)
	}
}

// exitErr is the exit status once the process is done.
func (p *process) exitErr() error {
	<-p.done
	return p.err
}
