package rpc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/quarrychain/quarry/chain/atomicfile"
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
	if err := atomicfile.Write(path, []byte(cookieUser+":"+password), 0o600); err != nil {
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

// ReadCookie reads the user and password from a cookie file written by the node,
// for clients; the file's format is the server's to define.
func ReadCookie(path string) (user, password string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("rpc: read cookie file (is the node running with that data directory and network?): %w", err)
	}
	user, password, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok {
		return "", "", fmt.Errorf("rpc: cookie file %s is malformed", path)
	}
	return user, password, nil
}
