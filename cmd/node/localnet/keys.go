package localnet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// keyReader delivers single key presses from a file, a terminal in raw mode
// (no line editing, no echo, Ctrl-C a key rather than a signal) until close
// puts the terminal back as it was.
type keyReader struct {
	keys    chan rune
	file    *os.File // a non-blocking duplicate of the input, so close ends a pending read
	fd      int      // the input's own descriptor
	raw     *term.State
	stopped chan struct{}
}

// openKeys starts reading keys from in. A terminal is switched to raw mode;
// the caller must call close on every way out, or the user's shell is left
// without echo.
func openKeys(in *os.File) (*keyReader, error) {
	fd := int(in.Fd())
	dup, err := syscall.Dup(fd)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	// Non-blocking, the duplicate goes through Go's poller, so closing it
	// wakes the reader instead of leaving it blocked in read(2) forever.
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil, fmt.Errorf("keys: %w", err)
	}
	k := &keyReader{keys: make(chan rune, 16), file: os.NewFile(uintptr(dup), in.Name()), fd: fd, stopped: make(chan struct{})}
	if term.IsTerminal(fd) {
		if k.raw, err = term.MakeRaw(fd); err != nil {
			k.file.Close()
			return nil, fmt.Errorf("keys: %w", err)
		}
	}
	go k.read()
	return k, nil
}

func (k *keyReader) read() {
	defer close(k.stopped)
	defer close(k.keys)
	buf := make([]byte, 64)
	for {
		n, err := k.file.Read(buf)
		for _, b := range buf[:n] {
			if b == 0x1b {
				continue // escape sequences (arrow keys) carry no key of ours
			}
			k.keys <- rune(b)
		}
		if err != nil {
			return // closed, or the end of a non-terminal input: no more keys
		}
	}
}

// isRaw reports whether output needs "\r\n" for a new line.
func (k *keyReader) isRaw() bool { return k != nil && k.raw != nil }

// close stops the reader and restores the terminal. It may be called more
// than once.
func (k *keyReader) close() error {
	if k == nil {
		return nil
	}
	closeErr := k.file.Close()
	if errors.Is(closeErr, os.ErrClosed) {
		return nil
	}
	// The reader may be waiting to hand over a key nobody takes any more.
	for range k.keys {
	}
	<-k.stopped
	// The open file is shared with the shell: leave it blocking, as found.
	errs := []error{closeErr, syscall.SetNonblock(k.fd, false)}
	if k.raw != nil {
		errs = append(errs, term.Restore(k.fd, k.raw))
	}
	return errors.Join(errs...)
}

// rawWriter ends lines with "\r\n", which a terminal in raw mode needs to
// return to the first column.
type rawWriter struct{ w io.Writer }

func (r rawWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, strings.ReplaceAll(string(p), "\n", "\r\n")); err != nil {
		return 0, err
	}
	return len(p), nil
}
