package wallet

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// testKDF makes argon2id nearly free, so tests spend no time stretching.
var testKDF = KDFParams{Time: 1, Memory: 64, Threads: 1}

const testPassphrase = "correct horse battery staple"

// lockHelperEnv makes the test binary hold a wallet lock, as a second process.
const lockHelperEnv = "QUARRY_WALLET_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		os.Exit(holdLock(path))
	}
	os.Exit(m.Run())
}

// holdLock locks the wallet at path, says so on stdout, and keeps the lock
// until stdin closes.
func holdLock(path string) int {
	lock, err := lockWallet(path)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := unlock(lock); err != nil {
		return 1
	}
	return 0
}

func createTestWallet(t testing.TB, p *chain.Params) (string, *Wallet) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wallet.json")
	w, err := Create(path, p, []byte(testPassphrase), trezorVectors[1].mnemonic, "", WithKDF(testKDF))
	if err != nil {
		t.Fatal(err)
	}
	return path, w
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCreateOpenRoundTrip(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	created := w.Created()
	if time.Since(created) > time.Minute || created.After(time.Now()) {
		t.Errorf("Created() = %v, not now", created)
	}
	r0, err := w.NewAddress(Receive)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := w.NewAddress(Receive)
	if err != nil {
		t.Fatal(err)
	}
	c0, err := w.NewAddress(Change)
	if err != nil {
		t.Fatal(err)
	}
	if r0.Index != 0 || r1.Index != 1 || c0.Index != 0 || c0.Branch != Change {
		t.Errorf("indexes %d %d %d/%s, want 0 1 0/change", r0.Index, r1.Index, c0.Index, c0.Branch)
	}
	if !strings.HasPrefix(r0.Address, "rqry1") || r0.Path != "m/84'/1'/0'/0/0" {
		t.Errorf("regtest key 0: %s at %s", r0.Address, r0.Path)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("wallet file mode %o, want 600", mode)
	}
	raw := readBytes(t, path)
	if bytes.Contains(raw, []byte("legal winner thank")) {
		t.Error("the file shows the mnemonic in the clear")
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"version": 1.0, "network": "regtest", "cipher": "xchacha20poly1305", "next_receive": 2.0, "next_change": 1.0} {
		if fields[k] != want {
			t.Errorf("file field %s = %v, want %v", k, fields[k], want)
		}
	}
	if kdf, _ := fields["kdf"].(map[string]any); kdf["name"] != "argon2id" || kdf["memory"] != 64.0 {
		t.Errorf("file kdf = %v", fields["kdf"])
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"wallet.json", "wallet.json.lock"}; !reflect.DeepEqual(names, want) {
		t.Errorf("directory holds %v, want %v (no temporary files left)", names, want)
	}

	w, err = Open(path, chain.RegtestParams, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Mnemonic() != trezorVectors[1].mnemonic || !w.Created().Equal(created) || w.Path() != path || w.Params() != chain.RegtestParams {
		t.Errorf("reopened wallet: mnemonic %q created %v path %s network %s", w.Mnemonic(), w.Created(), w.Path(), w.Params().Name)
	}
	if w.NextIndex(Receive) != 2 || w.NextIndex(Change) != 1 {
		t.Errorf("counters %d/%d after reopening, want 2/1", w.NextIndex(Receive), w.NextIndex(Change))
	}
	keys, err := w.Keys()
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, k := range keys {
		addrs = append(addrs, k.Address)
	}
	if want := []string{r0.Address, r1.Address, c0.Address}; !reflect.DeepEqual(addrs, want) {
		t.Errorf("Keys() = %v, want %v", addrs, want)
	}
	if k, ok := w.PrivateKey(c0.PubKeyHash); !ok || !k.Key.Equals(&c0.PrivKey.Key) {
		t.Error("PrivateKey does not find the change key given out")
	}
	later, err := w.Key(Receive, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.PrivateKey(later.PubKeyHash); ok {
		t.Error("PrivateKey finds a key never given out")
	}
	r2, err := w.NewAddress(Receive)
	if err != nil || r2.Index != 2 {
		t.Errorf("NewAddress after reopening: %v, %v", r2, err)
	}
	if _, ok := w.PrivateKey(r2.PubKeyHash); !ok {
		t.Error("PrivateKey does not find a key given out after the first lookup")
	}
}

func TestSeedPassphraseIsKept(t *testing.T) {
	v := trezorVectors[2]
	path := filepath.Join(t.TempDir(), "w")
	w, err := Create(path, chain.MainParams, []byte("pw"), v.mnemonic, "TREZOR", WithKDF(testKDF))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err = Open(path, chain.MainParams, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	got, err := w.Key(Receive, 0)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := Seed(v.mnemonic, "TREZOR")
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAccountKeys(seed, chain.MainParams)
	if err != nil {
		t.Fatal(err)
	}
	want, err := a.Key(Receive, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != want.Address {
		t.Errorf("reopened wallet derives %s, the mnemonic with passphrase TREZOR gives %s", got.Address, want.Address)
	}
}

func TestCreateRefusals(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	w.Close()
	before := readBytes(t, path)
	_, err := Create(path, chain.RegtestParams, []byte("x"), trezorVectors[0].mnemonic, "", WithKDF(testKDF))
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), path+" already exists") {
		t.Errorf("Create over an existing file: %v", err)
	}
	if !bytes.Equal(before, readBytes(t, path)) {
		t.Error("Create changed an existing file")
	}

	dir := t.TempDir()
	for _, tt := range []struct {
		name     string
		mnemonic string
		kdf      KDFParams
		want     error
	}{
		{"bad mnemonic", "abandon abandon", testKDF, ErrInvalidMnemonic},
		{"zero time", trezorVectors[0].mnemonic, KDFParams{Time: 0, Memory: 64, Threads: 1}, nil},
		{"no threads", trezorVectors[0].mnemonic, KDFParams{Time: 1, Memory: 64, Threads: 0}, nil},
		{"too much memory", trezorVectors[0].mnemonic, KDFParams{Time: 1, Memory: 2 << 20, Threads: 1}, nil},
		{"too little memory", trezorVectors[0].mnemonic, KDFParams{Time: 1, Memory: 8, Threads: 4}, nil},
	} {
		p := filepath.Join(dir, tt.name)
		_, err := Create(p, chain.RegtestParams, []byte("x"), tt.mnemonic, "", WithKDF(tt.kdf))
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: Create error %v, want %v", tt.name, err, tt.want)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Create left a file: %v", tt.name, err)
		}
	}
	if _, err := Create(filepath.Join(dir, "missing", "w"), chain.RegtestParams, []byte("x"), trezorVectors[0].mnemonic, "", WithKDF(testKDF)); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

func TestWrongPassphraseChangesNothing(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	w.Close()
	before := readBytes(t, path)
	for _, pass := range []string{"", "Correct horse battery staple", testPassphrase + " "} {
		_, err := Open(path, chain.RegtestParams, []byte(pass))
		if !errors.Is(err, ErrWrongPassphrase) || err.Error() != "wallet file "+path+": wrong passphrase" {
			t.Errorf("passphrase %q: %v", pass, err)
		}
	}
	if !bytes.Equal(before, readBytes(t, path)) {
		t.Error("a wrong passphrase changed the file")
	}
	w, err := Open(path, chain.RegtestParams, []byte(testPassphrase))
	if err != nil {
		t.Fatalf("the right passphrase after wrong ones: %v", err)
	}
	w.Close()
}

func TestWrongNetwork(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	w.Close()
	_, err := Open(path, chain.TestnetParams, []byte(testPassphrase))
	if !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("opening a regtest wallet as testnet: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "regtest") || !strings.Contains(msg, "testnet") {
		t.Errorf("error %q does not name both networks", msg)
	}
}

// editFile decodes a valid wallet file, lets edit change it, and encodes it.
func editFile(t *testing.T, valid []byte, edit func(f map[string]any)) []byte {
	t.Helper()
	var f map[string]any
	if err := json.Unmarshal(valid, &f); err != nil {
		t.Fatal(err)
	}
	edit(f)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDamagedFiles(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	w.Close()
	valid := readBytes(t, path)
	flipCiphertext := func(f map[string]any) {
		ct, err := base64.StdEncoding.DecodeString(f["ciphertext"].(string))
		if err != nil {
			t.Fatal(err)
		}
		ct[len(ct)/2] ^= 1
		f["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
	}
	tests := []struct {
		name   string
		data   []byte
		params *chain.Params
		want   error  // the error class
		reason string // part of the message
	}{
		{"empty", nil, nil, ErrDamaged, "not a wallet file"},
		{"truncated", valid[:len(valid)/2], nil, ErrDamaged, "not a wallet file"},
		{"truncated by one", valid[:len(valid)-2], nil, ErrDamaged, "not a wallet file"},
		{"garbage", []byte("\x00\xff\x13garbage"), nil, ErrDamaged, "not a wallet file"},
		{"null", []byte("null"), nil, ErrDamaged, "no format version"},
		{"array", []byte("[1,2]"), nil, ErrDamaged, "not a wallet file"},
		{"trailing data", append(bytes.Clone(valid), "{}"...), nil, ErrDamaged, "after top-level value"},
		{"too large", append(bytes.Clone(valid), bytes.Repeat([]byte(" "), maxFileSize)...), nil, ErrDamaged, "far more than"},
		{"ciphertext flipped", editFile(t, valid, flipCiphertext), nil, ErrDamaged, "fails authentication"},
		{"next_receive changed", editFile(t, valid, func(f map[string]any) { f["next_receive"] = 3 }), nil, ErrDamaged, "fails authentication"},
		{"next_change raised", editFile(t, valid, func(f map[string]any) { f["next_change"] = 7 }), nil, ErrDamaged, "fails authentication"},
		{"created changed", editFile(t, valid, func(f map[string]any) { f["created"] = "2020-01-01T00:00:00Z" }), nil, ErrDamaged, "fails authentication"},
		{"network relabelled", editFile(t, valid, func(f map[string]any) { f["network"] = "testnet" }), chain.TestnetParams, ErrDamaged, "fails authentication"},
		{"nonce changed", editFile(t, valid, func(f map[string]any) { f["nonce"] = strings.Repeat("A", 32) }), nil, ErrDamaged, "fails authentication"},
		{"unknown field", editFile(t, valid, func(f map[string]any) { f["extra"] = 1 }), nil, ErrDamaged, `unknown field "extra"`},
		{"missing kdf", editFile(t, valid, func(f map[string]any) { delete(f, "kdf") }), nil, ErrDamaged, "key derivation"},
		{"scrypt", editFile(t, valid, func(f map[string]any) { f["kdf"].(map[string]any)["name"] = "scrypt" }), nil, ErrDamaged, `key derivation "scrypt"`},
		{"huge memory", editFile(t, valid, func(f map[string]any) { f["kdf"].(map[string]any)["memory"] = 1 << 30 }), nil, ErrDamaged, "argon2id memory"},
		{"threads over 255", editFile(t, valid, func(f map[string]any) { f["kdf"].(map[string]any)["threads"] = 256 }), nil, ErrDamaged, "not a version 1"},
		{"short salt", editFile(t, valid, func(f map[string]any) { f["kdf"].(map[string]any)["salt"] = "AAAA" }), nil, ErrDamaged, "salt is 3 bytes"},
		{"salt not base64", editFile(t, valid, func(f map[string]any) { f["kdf"].(map[string]any)["salt"] = "!!" }), nil, ErrDamaged, "not a version 1"},
		{"other cipher", editFile(t, valid, func(f map[string]any) { f["cipher"] = "aes-256-gcm" }), nil, ErrDamaged, `cipher "aes-256-gcm"`},
		{"short ciphertext", editFile(t, valid, func(f map[string]any) { f["ciphertext"] = "AAAA" }), nil, ErrDamaged, "too short"},
		{"bad time", editFile(t, valid, func(f map[string]any) { f["created"] = "yesterday" }), nil, ErrDamaged, "creation time"},
		{"unknown network", editFile(t, valid, func(f map[string]any) { f["network"] = "signet" }), nil, ErrDamaged, `unknown network "signet"`},
		{"counter too high", editFile(t, valid, func(f map[string]any) { f["next_receive"] = 1<<31 + 1 }), nil, ErrDamaged, "past the last address index"},
		{"negative counter", editFile(t, valid, func(f map[string]any) { f["next_receive"] = -1 }), nil, ErrDamaged, "not a version 1"},
		{"version 0", editFile(t, valid, func(f map[string]any) { f["version"] = 0 }), nil, ErrDamaged, "format version 0 does not exist"},
		{"version as text", editFile(t, valid, func(f map[string]any) { f["version"] = "1" }), nil, ErrDamaged, "not a wallet file"},
		{"version 2", editFile(t, valid, func(f map[string]any) { f["version"] = 2; f["new_field"] = true }), nil, ErrUnsupportedVersion, "version 2 (this program reads version 1)"},
		// The check value cannot tell an altered check value from a wrong
		// passphrase; the passphrase is the likelier cause.
		{"key check altered", editFile(t, valid, func(f map[string]any) { f["key_check"] = strings.Repeat("A", 43) + "=" }), nil, ErrWrongPassphrase, "wrong passphrase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			p := tt.params
			if p == nil {
				p = chain.RegtestParams
			}
			w, err := Open(path, p, []byte(testPassphrase))
			if err == nil {
				w.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q, want %v containing %q", err, tt.want, tt.reason)
			}
			if tt.want == ErrDamaged && !strings.HasPrefix(err.Error(), "wallet file "+path+" is damaged: ") {
				t.Errorf("error %q does not say the file is damaged", err)
			}
			if !bytes.Equal(readBytes(t, path), tt.data) {
				t.Error("Open changed the damaged file")
			}
		})
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, chain.RegtestParams, []byte(testPassphrase)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening a missing file: %v", err)
	}
}

func TestOpenMissingFileLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "typo.json"), chain.RegtestParams, []byte(testPassphrase)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening a missing file: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("opening a missing file left %v", entries)
	}
}

func TestInUseInThisProcess(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	_, err := Open(path, chain.RegtestParams, []byte(testPassphrase))
	if !errors.Is(err, ErrInUse) || err.Error() != "wallet file "+path+" is in use by another process" {
		t.Errorf("second Open: %v", err)
	}
	_, err = Create(path, chain.RegtestParams, []byte(testPassphrase), trezorVectors[0].mnemonic, "", WithKDF(testKDF))
	if !errors.Is(err, ErrInUse) {
		t.Errorf("Create over an open wallet: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = Open(path, chain.RegtestParams, []byte(testPassphrase))
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	w.Close()
}

func TestInUseByAnotherProcess(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	w.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("helper process said %q, %v", line, err)
	}
	_, err = Open(path, chain.RegtestParams, []byte(testPassphrase))
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "is in use by another process") {
		t.Errorf("Open while another process holds the wallet: %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	w, err = Open(path, chain.RegtestParams, []byte(testPassphrase))
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	w.Close()
}

func TestAdvanceTo(t *testing.T) {
	path, w := createTestWallet(t, chain.RegtestParams)
	if err := w.AdvanceTo(Receive, 20); err != nil {
		t.Fatal(err)
	}
	if err := w.AdvanceTo(Receive, 5); err != nil {
		t.Fatal(err)
	}
	if err := w.AdvanceTo(Change, 3); err != nil {
		t.Fatal(err)
	}
	if err := w.AdvanceTo(Change, 1<<31+1); err == nil {
		t.Error("AdvanceTo past the last index succeeded")
	}
	if err := w.AdvanceTo(Branch(5), 1); err == nil {
		t.Error("AdvanceTo on branch 5 succeeded")
	}
	w.Close()
	w, err := Open(path, chain.RegtestParams, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.NextIndex(Receive) != 20 || w.NextIndex(Change) != 3 {
		t.Errorf("counters %d/%d, want 20/3", w.NextIndex(Receive), w.NextIndex(Change))
	}
	keys, err := w.Keys()
	if err != nil || len(keys) != 23 {
		t.Errorf("Keys() gave %d keys, %v; want 23", len(keys), err)
	}
}

func TestConcurrentNewAddress(t *testing.T) {
	_, w := createTestWallet(t, chain.RegtestParams)
	defer w.Close()
	const n = 8
	var wg sync.WaitGroup
	indexes := make(chan uint32, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := w.NewAddress(Receive)
			if err != nil {
				t.Error(err)
				return
			}
			indexes <- k.Index
		}()
	}
	wg.Wait()
	close(indexes)
	seen := map[uint32]bool{}
	for i := range indexes {
		if seen[i] {
			t.Errorf("index %d given out twice", i)
		}
		seen[i] = true
	}
	if w.NextIndex(Receive) != n {
		t.Errorf("counter %d, want %d", w.NextIndex(Receive), n)
	}
}

func TestClosedWallet(t *testing.T) {
	_, w := createTestWallet(t, chain.RegtestParams)
	k, err := w.NewAddress(Receive)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.NewAddress(Receive); !errors.Is(err, ErrClosed) {
		t.Errorf("NewAddress after Close: %v", err)
	}
	if err := w.AdvanceTo(Receive, 9); !errors.Is(err, ErrClosed) {
		t.Errorf("AdvanceTo after Close: %v", err)
	}
	if _, err := w.Key(Receive, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Key after Close: %v", err)
	}
	if _, err := w.Keys(); !errors.Is(err, ErrClosed) {
		t.Errorf("Keys after Close: %v", err)
	}
	if _, ok := w.PrivateKey(k.PubKeyHash); ok {
		t.Error("PrivateKey after Close found a key")
	}
}

// FuzzDecodeFile feeds the keystore decoder arbitrary bytes: it must never
// panic, and whatever it accepts must survive encoding and decoding again
// unchanged, associated data included. Seeds are in testdata/fuzz.
func FuzzDecodeFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		wf, err := decodeFile(data)
		if err != nil {
			if wf != nil {
				t.Fatal("decodeFile returned a file with an error")
			}
			return
		}
		enc, err := wf.encode()
		if err != nil {
			t.Fatalf("encoding a decoded file: %v", err)
		}
		again, err := decodeFile(enc)
		if err != nil {
			t.Fatalf("decoding a re-encoded file: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(wf, again) || !bytes.Equal(wf.aad(), again.aad()) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v", wf, again)
		}
	})
}

// BenchmarkDefaultKDF measures what every unlock costs.
func BenchmarkDefaultKDF(b *testing.B) {
	k := &fileKDF{Name: kdfName, Time: DefaultKDF.Time, Memory: DefaultKDF.Memory, Threads: DefaultKDF.Threads, Salt: make([]byte, saltSize)}
	for b.Loop() {
		fileKeys([]byte(testPassphrase), k)
	}
}
