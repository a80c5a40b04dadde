package wallet

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// ChangePassphrase re-encrypts the wallet file under passphrase, with a new
// salt. The file is replaced atomically: a crash leaves the old file or the
// new, never half of one.
func (w *Wallet) ChangePassphrase(passphrase []byte) error {
	if len(passphrase) == 0 {
		return errors.New("the wallet passphrase is empty")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.file
	f.KDF.Salt = make([]byte, saltSize)
	if _, err := rand.Read(f.KDF.Salt); err != nil {
		return fmt.Errorf("drawing a salt: %w", err)
	}
	key, check := fileKeys(passphrase, &f.KDF)
	f.KeyCheck = check
	if err := f.seal(key, w.plaintext); err != nil {
		return err
	}
	if err := w.write(&f); err != nil {
		return err
	}
	w.key = key
	return nil
}
