package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMessagesPassphraseAndBackup(t *testing.T) {
	h := newHarness(t)
	mnemonic := h.create()
	addr := h.newAddress()
	sig := strings.TrimSpace(h.ok("signmessage", addr, "I own this"))
	mustContain(t, h.ok("verifymessage", addr, sig, "I own this"), "The signature is valid")
	mustContain(t, h.fail("verifymessage", addr, sig, "I own that"), "does not verify")
	mustContain(t, h.fail("signmessage", foreignAddress(), "x"), "not an address this wallet has given out")

	newFile := filepath.Join(h.home, "new-passphrase")
	if err := os.WriteFile(newFile, []byte("another passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.ok("passphrase", "--new-passphrase-file", newFile)
	mustContain(t, h.fail("backup"), "passphrase")
	h.env[passphraseEnv] = "another passphrase"
	mustContain(t, h.ok("backup"), mnemonic)
	if got := jsonOf[createJSON](t, h.ok("backup", "--json")); got.Mnemonic != mnemonic {
		t.Errorf("backup --json: %q", got.Mnemonic)
	}
}
