package wallet

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// unsignedFixture builds an unsigned send from a real wallet's coins.
func unsignedFixture(t testing.TB) (*Wallet, *Unsigned) {
	t.Helper()
	_, w := createTestWallet(t, chain.RegtestParams)
	t.Cleanup(func() { w.Close() })
	recv, err := w.NewAddress(Receive)
	if err != nil {
		t.Fatal(err)
	}
	change, err := w.NewAddress(Change)
	if err != nil {
		t.Fatal(err)
	}
	coins := []UTXO{
		{OutPoint: chain.OutPoint{TxID: sha256.Sum256([]byte("u1"))}, Value: 3 * chain.Coin, PubKeyHash: recv.PubKeyHash, Confirmations: 5},
		{OutPoint: chain.OutPoint{TxID: sha256.Sum256([]byte("u2"))}, Value: 2 * chain.Coin, PubKeyHash: recv.PubKeyHash, Confirmations: 5},
	}
	s, err := BuildSend(&SendRequest{UTXOs: coins, CoinbaseMaturity: 100, Payments: []Payment{{To: [20]byte{9}, Amount: 4 * chain.Coin}},
		FeeRate: 3, Change: change.PubKeyHash, Unsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	u := &Unsigned{Network: "regtest", Tx: s.Tx}
	for _, sp := range s.Spent {
		u.Inputs = append(u.Inputs, UnsignedInput{OutPoint: sp.OutPoint, Value: sp.Value, Address: recv.Address, Path: recv.Path})
	}
	u.Change = []UnsignedChange{{Vout: uint32(s.ChangeIndex), Path: change.Path}}
	return w, u
}

func TestUnsignedRoundTripAndSign(t *testing.T) {
	w, u := unsignedFixture(t)
	if u.Complete() {
		t.Fatal("an unsigned transaction says it is complete")
	}
	data, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeUnsigned(data, chain.RegtestParams)
	if err != nil {
		t.Fatal(err)
	}
	fee := got.Fee()
	if err := w.Sign(got); err != nil {
		t.Fatal(err)
	}
	spent, _ := got.Spent(chain.RegtestParams)
	prev := make([]chain.UtxoEntry, len(spent))
	for i, s := range spent {
		prev[i] = chain.UtxoEntry{Value: s.Value, PubKeyHash: s.PubKeyHash}
	}
	if err := chain.VerifyTxSignatures(got.Tx, prev, nil); err != nil || !got.Complete() {
		t.Fatalf("signed transaction: %v", err)
	}
	if size := uint64(got.Tx.SerializeSize()); fee < 3*size {
		t.Errorf("fee %d under 3/byte for the signed %d bytes", fee, size)
	}

	// A file that lies about a key path or the change is refused unsigned.
	_, u = unsignedFixture(t)
	u.Inputs[0].Path = strings.Replace(u.Inputs[0].Path, "/0/0", "/0/1", 1)
	if err := w.Sign(u); err == nil || !strings.Contains(err.Error(), "does not pay to") {
		t.Errorf("a wrong input path: %v", err)
	}
	_, u = unsignedFixture(t)
	u.Change[0].Path = strings.Replace(u.Change[0].Path, "/1/0", "/1/5", 1)
	if err := w.Sign(u); err == nil || !strings.Contains(err.Error(), "does not pay the key") {
		t.Errorf("a wrong change path: %v", err)
	}
	if u.Complete() {
		t.Error("a refused file was signed")
	}
}

// A file whose fee is past what nodes relay by default is refused unsigned,
// though its values add up.
func TestSignRefusesAbsurdFee(t *testing.T) {
	w, u := unsignedFixture(t)
	recv, _ := w.Key(Receive, 0)
	change, _ := w.Key(Change, 0)
	for i := range u.Inputs {
		u.Inputs[i].Address, u.Inputs[i].Path = recv.Address, recv.Path
	}
	out := &u.Tx.Outputs[u.Change[0].Vout]
	out.PubKeyHash, u.Change[0].Path = change.PubKeyHash, change.Path
	out.Value -= chain.Coin / 2
	if err := w.Sign(u); err == nil || !strings.Contains(err.Error(), "base units per byte") || u.Complete() {
		t.Fatalf("a fee of %d signed: %v", u.Fee(), err)
	}
	out.Value += chain.Coin / 2
	if err := w.Sign(u); err != nil {
		t.Fatalf("the same file at its own fee: %v", err)
	}
}

// A compromised online machine can name as change a key of ours that no
// wallet of the seed watches: the signer refuses it, and follows the change
// it did sign so the next file's window starts there.
func TestSignRefusesUnwatchedChange(t *testing.T) {
	const gap = 20 // GapLimit
	w, _ := unsignedFixture(t)
	redirect := func(b Branch, index uint32) *Unsigned {
		t.Helper()
		_, u := unsignedFixture(t)
		k, err := w.Key(b, index)
		if err != nil {
			t.Fatal(err)
		}
		// Inputs of w too, so that only the change can be refused.
		recv, _ := w.Key(Receive, 0)
		for i := range u.Inputs {
			u.Inputs[i].Address, u.Inputs[i].Path = recv.Address, recv.Path
		}
		u.Tx.Outputs[u.Change[0].Vout].PubKeyHash = k.PubKeyHash
		u.Change[0].Path = k.Path
		return u
	}
	for name, u := range map[string]*Unsigned{
		"past the gap limit": redirect(Change, 1+gap),
		"far past":           redirect(Change, 1<<31-1),
		"receive branch":     redirect(Receive, 0),
	} {
		if err := w.Sign(u); err == nil || u.Complete() {
			t.Errorf("%s: %v", name, err)
		}
	}
	u := redirect(Change, gap)
	if err := w.Sign(u); err != nil || !u.Complete() {
		t.Fatalf("change within the gap limit: %v", err)
	}
	if next := w.NextIndex(Change); next != gap+1 {
		t.Errorf("after signing change %d the counter is %d", gap, next)
	}
	if err := w.Sign(redirect(Change, 2*gap)); err != nil {
		t.Errorf("change within the gap of the last signed: %v", err)
	}
}

func TestDecodeUnsignedRefuses(t *testing.T) {
	_, u := unsignedFixture(t)
	good, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(string) string{
		"other network":  func(s string) string { return strings.Replace(s, `"regtest"`, `"main"`, 1) },
		"newer version":  func(s string) string { return strings.Replace(s, `"version": 1`, `"version": 2`, 1) },
		"fee misstated":  func(s string) string { return strings.Replace(s, `"fee": `, `"fee": 1`, 1) },
		"unknown field":  func(s string) string { return strings.Replace(s, `"version"`, `"extra": 1, "version"`, 1) },
		"not json":       func(string) string { return "{" },
		"value inflated": func(s string) string { return strings.Replace(s, `"value": 300000000`, `"value": 300000001`, 1) },
	} {
		if _, err := DecodeUnsigned([]byte(edit(string(good))), chain.RegtestParams); !errors.Is(err, ErrBadUnsigned) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzDecodeUnsigned: the file comes from another machine; anything must be
// refused or give a file whose values add up, never panic.
func FuzzDecodeUnsigned(f *testing.F) {
	_, u := unsignedFixture(f)
	good, err := u.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"network":"regtest","tx":"","inputs":[],"change":[],"fee":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := DecodeUnsigned(data, chain.RegtestParams)
		if err != nil {
			if !errors.Is(err, ErrBadUnsigned) {
				t.Fatalf("error not ErrBadUnsigned: %v", err)
			}
			return
		}
		if _, err := u.Encode(); err != nil {
			t.Fatal(err)
		}
		if len(u.Inputs) != len(u.Tx.Inputs) {
			t.Fatal("inputs and their descriptions differ")
		}
	})
}

// A watch-only wallet made from a signing wallet's xpub has the same
// addresses, no private key, and cannot sign.
func TestWatchOnly(t *testing.T) {
	signer, u := unsignedFixture(t)
	path := filepath.Join(t.TempDir(), "watch.json")
	w, err := CreateWatchOnly(path, chain.RegtestParams, []byte("watch"), signer.XPub(), WithKDF(testKDF))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if w, err = Open(path, chain.RegtestParams, []byte("watch")); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.WatchOnly() || w.Mnemonic() != "" || w.XPub() != signer.XPub() {
		t.Fatalf("watch-only %v, mnemonic %q, xpub %s", w.WatchOnly(), w.Mnemonic(), w.XPub())
	}
	for _, b := range []Branch{Receive, Change} {
		mine, err := signer.Key(b, 4)
		if err != nil {
			t.Fatal(err)
		}
		watched, err := w.Key(b, 4)
		if err != nil {
			t.Fatal(err)
		}
		if watched.Address != mine.Address || watched.Path != mine.Path || watched.PrivKey != nil {
			t.Errorf("%s key 4: %s %s, the signer's %s %s", b, watched.Address, watched.Path, mine.Address, mine.Path)
		}
	}
	recv, err := w.NewAddress(Receive)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.PrivateKey(recv.PubKeyHash); ok {
		t.Error("a watch-only wallet gave a private key")
	}
	if err := w.Sign(u); !errors.Is(err, ErrWatchOnly) {
		t.Errorf("watch-only Sign: %v", err)
	}
	for _, bad := range []string{"nonsense", signer.XPub()[:len(signer.XPub())-1] + "x"} {
		if _, err := CreateWatchOnly(filepath.Join(t.TempDir(), "w.json"), chain.RegtestParams, []byte("p"), bad, WithKDF(testKDF)); err == nil {
			t.Errorf("watch-only wallet made from %q", bad)
		}
	}
	if _, err := CreateWatchOnly(filepath.Join(t.TempDir(), "w.json"), chain.MainParams, []byte("p"), signer.XPub(), WithKDF(testKDF)); err == nil {
		t.Error("a regtest xpub made a main watch-only wallet")
	}
}
