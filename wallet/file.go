package wallet

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockWallet takes an exclusive lock on path+".lock" without waiting. The
// lock is on a file of its own because saving replaces the wallet file by
// rename: a lock on the old inode would not stop a process that opens the new
// one. The lock file stays after Close; removing it would let two processes
// hold locks on different inodes of the same name.
func lockWallet(path string) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking wallet file %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("wallet file %s is %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("locking wallet file %s: %w", path, err)
	}
	return f, nil
}

// unlock releases a lock taken by lockWallet; closing the descriptor drops
// the flock.
func unlock(f *os.File) error {
	if err := f.Close(); err != nil {
		return fmt.Errorf("releasing wallet lock: %w", err)
	}
	return nil
}
