package rpc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// cookieUser is the user name of the cookie credential, as in Core.
const cookieUser = "__cookie__"

// writeCookie writes "__cookie__:<hex of 32 random bytes>" to path and returns the
// password part. The file is written beside path and renamed into place, so that a
// client reading the cookie at any moment sees either the old one or the whole new
// one, never a prefix; mode 0600 because the cookie grants full control of the node.
func writeCookie(path string) (password string, err error) {
	var secret [32]byte
	rand.Read(secret[:]) // crypto/rand.Read never fails; it aborts the program instead
	password = hex.EncodeToString(secret[:])

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("rpc: create cookie directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("rpc: write cookie: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("rpc: write cookie: %w", err)
	}
	if _, err := tmp.WriteString(cookieUser + ":" + password); err != nil {
		tmp.Close()
		return "", fmt.Errorf("rpc: write cookie: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("rpc: write cookie: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("rpc: write cookie: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("rpc: write cookie: %w", err)
	}
	return password, nil
}

// removeCookie removes the cookie file, so that clients do not keep using a
// credential of a node that is gone.
func removeCookie(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rpc: remove cookie: %w", err)
	}
	return nil
}
