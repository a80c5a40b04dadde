package wallet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

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

// TestMessageVector pins the format of docs/signed-message.md: a signature
// made today must verify in every later build, and the other way round.
func TestMessageVector(t *testing.T) {
	const (
		message = "Quarry message test vector"
		address = "rqry1q0xcqpzrky6eff2g52qdye53xkk9jxkvrk6wcc4"
		hash    = "f6e9a0612baac258d61b3ac25f9dfda7b99e935d84120089899b604217e58111"
		sig     = "IL+KLqNCZX2GlDS2Vi0sJ/WD5o7rby2Dfx9cW2eBoj2JFUu/OeSSSZ1pN6F/t55vLhb80zrB+yLH3XhC7T2eVKo="
	)
	key := secp256k1.PrivKeyFromBytes(bytes.Repeat([]byte{1}, 32))
	if got := chain.RegtestParams.EncodeAddress(keyHash(key)); got != address {
		t.Fatalf("address %s, want %s", got, address)
	}
	if h := MessageHash(message); hex.EncodeToString(h[:]) != hash {
		t.Errorf("message hash %x, want %s", h, hash)
	}
	if got := SignMessage(key, message); got != sig {
		t.Errorf("signature %s, want %s", got, sig)
	}
	if err := VerifyMessage(chain.RegtestParams, address, sig, message); err != nil {
		t.Errorf("the vector does not verify: %v", err)
	}
	if err := VerifyMessage(chain.MainParams, address, sig, message); err == nil {
		t.Error("a regtest address verifies on main")
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
