package wallet

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestSignAndVerifyMessage(t *testing.T) {
	key := testKey(1)
	addr := chain.RegtestParams.EncodeAddress(keyHash(key))
	sig := SignMessage(key, "pay the quarry")
	if err := VerifyMessage(chain.RegtestParams, addr, sig, "pay the quarry"); err != nil {
		t.Fatal(err)
	}
	other := chain.RegtestParams.EncodeAddress(keyHash(testKey(2)))
	for name, err := range map[string]error{
		"other message": VerifyMessage(chain.RegtestParams, addr, sig, "pay the quarry!"),
		"other address": VerifyMessage(chain.RegtestParams, other, sig, "pay the quarry"),
		"not base64":    VerifyMessage(chain.RegtestParams, addr, "!!", "pay the quarry"),
		"truncated":     VerifyMessage(chain.RegtestParams, addr, sig[:20], "pay the quarry"),
	} {
		if !errors.Is(err, ErrBadMessageSignature) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The tag keeps a message hash from being the plain double SHA-256.
	if MessageHash("") == MessageHash("x") {
		t.Error("message hash ignores the message")
	}
}

func TestChangePassphrase(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	mnemonic := w.Mnemonic()
	if err := w.ChangePassphrase([]byte("a new passphrase")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := Open(path, chain.RegtestParams, []byte(testPassphrase)); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("the old passphrase still opens the file: %v", err)
	}
	w, err := Open(path, chain.RegtestParams, []byte("a new passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Mnemonic() != mnemonic {
		t.Error("the mnemonic changed with the passphrase")
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp*")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}
