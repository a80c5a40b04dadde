// Package atomicfile replaces small files so that a crash at any moment leaves
// either the old file or the new one, never a mix or a half-written file: the
// node's cookie, mempool, identity and ban list, and the wallet's keystore all
// go through it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, with mode perm: it writes a temporary file in
// the same directory (rename is atomic only within a file system), flushes it,
// renames it over path, and flushes the directory so that the rename itself
// survives a power cut. On error the temporary file is removed and path is
// left as it was.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
