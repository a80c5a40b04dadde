package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/wallet"
)

// testKDF makes wallet files cheap to open; production files use
// wallet.DefaultKDF, which TestRunEntry exercises once.
var testKDF = wallet.KDFParams{Time: 1, Memory: 64, Threads: 1}

const testPassphrase = "correct horse battery staple"

// harness runs the program in process against a fake node, with a wallet
// file and a home directory of its own.
type harness struct {
	t      *testing.T
	node   *fakeNode
	home   string
	wallet string
	env    map[string]string
	// tty, when set, stands for a terminal on standard input.
	tty terminal
	// rpcTimeout, when set, replaces the production timeout of a call.
	rpcTimeout time.Duration
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	home := t.TempDir()
	return &harness{
		t:      t,
		node:   newFakeNode(t, chain.RegtestParams),
		home:   home,
		wallet: filepath.Join(home, "w", "wallet.json"),
		env:    map[string]string{"HOME": home, passphraseEnv: testPassphrase},
	}
}

// run runs the program with the harness's network, wallet and node flags
// before args.
func (h *harness) run(stdin string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	base := []string{"--network", "regtest", "--wallet", h.wallet, "--rpc-url", h.node.url, "--rpc-cookie", h.node.cookie}
	return h.runRaw(stdin, append(base, args...)...)
}

func (h *harness) runRaw(stdin string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &errOut, func(k string) string { return h.env[k] })
	a.kdf = testKDF
	a.tty = h.tty
	if h.rpcTimeout != 0 {
		a.http = &http.Client{Timeout: h.rpcTimeout}
	}
	code = a.main(args)
	return out.String(), errOut.String(), code
}

// ok runs a command that must succeed and returns its output.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	out, errOut, code := h.run("", args...)
	if code != 0 {
		h.t.Fatalf("wallet %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// fail runs a command that must fail with status 1 and one line on standard
// error, and returns that line.
func (h *harness) fail(args ...string) string {
	h.t.Helper()
	return h.failWith(exitFail, args...)
}

func (h *harness) failWith(status int, args ...string) string {
	h.t.Helper()
	out, errOut, code := h.run("", args...)
	if code != status {
		h.t.Fatalf("wallet %s: exit %d, want %d; stdout %q stderr %q", strings.Join(args, " "), code, status, out, errOut)
	}
	if !strings.HasPrefix(errOut, "wallet: ") || strings.Count(errOut, "\n") != 1 {
		h.t.Fatalf("wallet %s: stderr is not one line starting \"wallet: \": %q", strings.Join(args, " "), errOut)
	}
	return errOut
}

func mustContain(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%q does not contain %q", got, w)
		}
	}
}

type createJSON struct {
	Wallet   string `json:"wallet"`
	Network  string `json:"network"`
	Mnemonic string `json:"mnemonic"`
}

// create makes the harness's wallet and returns its mnemonic.
func (h *harness) create() string {
	h.t.Helper()
	return jsonOf[createJSON](h.t, h.ok("create", "--json")).Mnemonic
}

func (h *harness) newAddress() string {
	h.t.Helper()
	return strings.TrimSpace(h.ok("newaddress"))
}

// account derives the wallet's keys from its mnemonic, as a restore would.
func (h *harness) account(mnemonic string) *wallet.AccountKeys {
	h.t.Helper()
	seed, err := wallet.Seed(mnemonic, "")
	if err != nil {
		h.t.Fatal(err)
	}
	a, err := wallet.NewAccountKeys(seed, chain.RegtestParams)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) address(a *wallet.AccountKeys, b wallet.Branch, i uint32) string {
	h.t.Helper()
	k, err := a.Key(b, i)
	if err != nil {
		h.t.Fatal(err)
	}
	return k.Address
}

// foreignAddress is an address of the network no wallet here owns.
func foreignAddress() string {
	return chain.RegtestParams.EncodeAddress([chain.PubKeyHashSize]byte{1, 2, 3})
}

func TestHelpAndUsageErrors(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"balance", "-h"}} {
		out, errOut, code := h.runRaw("", args...)
		if code != 0 || out != usageText || errOut != "" {
			t.Errorf("wallet %v: exit %d, stderr %q, usage shown %v", args, code, errOut, out == usageText)
		}
	}
	// Every flag the program parses is in the usage text.
	for name, c := range commands() {
		// One set per command: commands share flags such as --fee-rate.
		fs := newFlagSet(name)
		new(options).register(fs)
		if c.flags != nil {
			c.flags(fs)
		}
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(usageText, "--"+f.Name) {
				t.Errorf("usage text does not mention --%s", f.Name)
			}
		})
	}
	for name := range commands() {
		if !strings.Contains(usageText, "\n  "+name) {
			t.Errorf("usage text does not list command %s", name)
		}
	}

	cases := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"balance", "--frob"}, "flag provided but not defined: -frob"},
		{[]string{"--network", "mainnet", "balance"}, `unknown network "mainnet"`},
		{[]string{"send", "x"}, "usage: wallet send ADDR AMOUNT"},
		{[]string{"balance", "extra"}, `balance takes no arguments, got "extra"`},
		{[]string{"send", foreignAddress(), "1", "--fee-rate"}, "flag needs an argument"},
		{[]string{"--network", "regtest", "send", foreignAddress(), "1", "--fee-rate", "0"}, "--fee-rate 0"},
		{[]string{"--rpc-password", "x", "balance"}, "--rpc-password needs --rpc-user"},
		{[]string{"--rpc-user", "u", "--rpc-cookie", "c", "balance"}, "either --rpc-cookie or --rpc-user"},
	}
	for _, c := range cases {
		out, errOut, code := h.runRaw("", c.args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "wallet: ") || !strings.Contains(errOut, c.want) {
			t.Errorf("wallet %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.args, code, out, errOut, c.want)
		}
	}
}

func TestParseFlagsAnywhere(t *testing.T) {
	var o options
	fs := newFlagSet("send")
	o.register(fs)
	var rate uint64
	fs.Uint64Var(&rate, "fee-rate", 2, "")
	args, err := parseFlags(fs, []string{"ADDR", "--json", "-1.5", "--fee-rate", "7", "--wallet=w", "--", "--x"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ADDR", "-1.5", "--x"}; strings.Join(args, " ") != strings.Join(want, " ") {
		t.Errorf("arguments %q, want %q", args, want)
	}
	if !o.json || rate != 7 || o.walletPath != "w" {
		t.Errorf("flags not parsed: %+v rate %d", o, rate)
	}
}

func TestCreateWithoutTerminal(t *testing.T) {
	h := newHarness(t)
	out := h.ok("create")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	mnemonic := lines[len(lines)-1]
	if _, err := wallet.CheckMnemonic(mnemonic); err != nil || len(strings.Fields(mnemonic)) != 24 {
		t.Fatalf("last line of create's output is not a 24-word mnemonic (%v): %q", err, out)
	}
	mustContain(t, out, "Created wallet "+h.wallet+" (regtest)")
	info, err := os.Stat(h.wallet)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("wallet file mode %v, want 0600", info.Mode().Perm())
	}
	// The first address is the mnemonic's first receive key.
	if got, want := h.newAddress(), h.address(h.account(mnemonic), wallet.Receive, 0); got != want {
		t.Errorf("first address %s, want %s", got, want)
	}
	mustContain(t, h.fail("create"), "already exists")

	// --json gives the mnemonic too, for scripts.
	h.wallet = filepath.Join(h.home, "second.json")
	c := jsonOf[createJSON](t, h.ok("create", "--json"))
	if c.Wallet != h.wallet || c.Network != "regtest" || len(strings.Fields(c.Mnemonic)) != 24 || c.Mnemonic == mnemonic {
		t.Errorf("create --json: %+v", c)
	}
}

func TestPassphraseSources(t *testing.T) {
	h := newHarness(t)
	delete(h.env, passphraseEnv)
	msg := h.fail("create")
	mustContain(t, msg, "--passphrase-file", passphraseEnv, "not a terminal")
	if _, err := os.Stat(h.wallet); err == nil {
		t.Fatal("create without a passphrase wrote a wallet file")
	}

	// One trailing newline is dropped, and only one.
	file := filepath.Join(h.home, "pass")
	if err := os.WriteFile(file, []byte(testPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.ok("create", "--passphrase-file", file)
	h.env[passphraseEnv] = testPassphrase
	h.ok("newaddress")
	if err := os.WriteFile(file, []byte(testPassphrase+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The flag wins over the environment.
	mustContain(t, h.fail("newaddress", "--passphrase-file", file), "wrong passphrase")

	h.env[passphraseEnv] = "not it"
	msg = h.fail("balance")
	mustContain(t, msg, "wrong passphrase", h.wallet)
	if h.node.count("getblockchaininfo") != 0 {
		t.Error("the node was called before the wallet was unlocked")
	}

	h.wallet = filepath.Join(h.home, "empty.json")
	if err := os.WriteFile(file, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustContain(t, h.fail("create", "--passphrase-file", file), "passphrase is empty")
}

func TestMissingWallet(t *testing.T) {
	h := newHarness(t)
	delete(h.env, passphraseEnv)
	mustContain(t, h.fail("balance"), "no wallet file "+h.wallet, "wallet create")
}

func TestDefaultLocations(t *testing.T) {
	h := newHarness(t)
	if _, errOut, code := h.runRaw("", "--network", "testnet", "create"); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	dir := filepath.Join(h.home, ".quarry", "testnet")
	if _, err := os.Stat(filepath.Join(dir, "wallet.json")); err != nil {
		t.Fatalf("no wallet at the default location: %v", err)
	}
	// The default cookie is the network's, where the node writes it.
	_, errOut, _ := h.runRaw("", "--network", "testnet", "balance")
	mustContain(t, errOut, filepath.Join(dir, ".cookie"))
	// The default URL has the network's RPC port.
	if err := os.WriteFile(filepath.Join(dir, ".cookie"), []byte("__cookie__:x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, _ = h.runRaw("", "--network", "testnet", "balance")
	mustContain(t, errOut, "http://127.0.0.1:18432")

	delete(h.env, "HOME")
	_, errOut, _ = h.runRaw("", "--network", "testnet", "balance")
	mustContain(t, errOut, "HOME is not set", "--wallet FILE")
}

func TestUnreachableNode(t *testing.T) {
	h := newHarness(t)
	h.create()
	msg := h.fail("--rpc-url", "http://127.0.0.1:1", "balance")
	mustContain(t, msg, "cannot reach node at http://127.0.0.1:1", "is the node running on that network and port?")
}

func TestNodeOnOtherNetwork(t *testing.T) {
	h := newHarness(t)
	h.create()
	h.node.setParams(chain.TestnetParams)
	mustContain(t, h.fail("balance"), `node at `+h.node.url+` is on network "testnet", the wallet on "regtest"`)
}

func TestWrongCredentials(t *testing.T) {
	h := newHarness(t)
	h.create()
	mustContain(t, h.fail("--rpc-cookie", "", "--rpc-user", "u", "--rpc-password", "p", "balance"), "refused the credentials")
}

func TestAddresses(t *testing.T) {
	h := newHarness(t)
	h.create()
	a0, a1 := h.newAddress(), h.newAddress()
	if a0 == a1 {
		t.Fatal("newaddress gave the same address twice")
	}
	nj := jsonOf[addressJSON](t, h.ok("newaddress", "--json"))
	if nj.Branch != "receive" || nj.Index != 2 || nj.Path != "m/84'/1'/0'/0/2" || !strings.HasPrefix(nj.Address, "rqry1") {
		t.Errorf("newaddress --json: %+v", nj)
	}
	h.node.pay(a1, 123_456_789, 1)

	list := jsonOf[[]addressJSON](t, h.ok("addresses", "--json"))
	if len(list) != 3 || list[0].Address != a0 || list[1].Address != a1 {
		t.Fatalf("addresses: %+v", list)
	}
	for i, want := range []string{"0.00000000", "1.23456790", "0.00000000"} {
		if string(list[i].Balance) != want || list[i].Index != uint32(i) || list[i].Branch != "receive" {
			t.Errorf("address %d: %+v, want balance %s", i, list[i], want)
		}
	}
	offline := h.ok("--rpc-url", "http://127.0.0.1:1", "addresses", "--offline")
	mustContain(t, offline, a0, a1, "m/84'/1'/0'/0/1")
	if strings.Contains(offline, "BALANCE") {
		t.Error("addresses --offline shows balances")
	}
	human := h.ok("addresses")
	mustContain(t, human, "BALANCE", "1.23456790")
}

type balanceJSON struct {
	Confirmed, Unconfirmed, Immature, Total json.Number
}

func TestBalance(t *testing.T) {
	h := newHarness(t)
	h.create()
	addr := h.newAddress()
	h.node.pay(addr, 100_000_000, 1) // exact to the base unit
	h.node.mineTo(addr, 50*chain.Coin)
	h.node.blocks(98) // the coinbase has 99 confirmations: one short
	h.node.payUnconfirmed(addr, 30_000_000)
	h.node.payUnconfirmed(foreignAddress(), 7) // someone else's

	raw := h.ok("balance", "--json")
	for _, field := range []string{`"confirmed": 1.00000001`, `"unconfirmed": 0.30000000`, `"immature": 50.00000000`, `"total": 51.30000001`} {
		mustContain(t, raw, field)
	}
	// The wallet asks the node's address index, never for the whole mempool.
	if n := h.node.count("getrawmempool"); n != 0 {
		t.Errorf("getrawmempool called %d times", n)
	}
	human := h.ok("balance")
	mustContain(t, human, "confirmed    1.00000001 QRY", "unconfirmed  0.30000000 QRY", "immature     50.00000000 QRY", "total        51.30000001 QRY")

	h.node.blocks(1) // the coinbase matures
	b := jsonOf[balanceJSON](t, h.ok("balance", "--json"))
	if b.Confirmed != "51.00000001" || b.Immature != "0.00000000" {
		t.Errorf("after maturity: %+v", b)
	}
}

type sendJSON struct {
	TxID     chain.Hash `json:"txid"`
	Payments []struct {
		To     string      `json:"to"`
		Amount json.Number `json:"amount"`
	} `json:"payments"`
	Fee           json.Number `json:"fee"`
	FeeRate       uint64      `json:"fee_rate"`
	FeeRateSource string      `json:"fee_rate_source"`
	Size          int         `json:"size"`
	Change        json.Number `json:"change"`
	ChangeAddress string      `json:"change_address"`
}

func TestSend(t *testing.T) {
	h := newHarness(t)
	mnemonic := h.create()
	addr := h.newAddress()
	h.node.pay(addr, 1*chain.Coin, 2*chain.Coin)
	to := foreignAddress()

	s := jsonOf[sendJSON](t, h.ok("send", to, "1.5", "--fee-rate", "3", "--json"))
	pool := h.node.mempoolTxs()
	if len(pool) != 1 || pool[0].TxID() != s.TxID {
		t.Fatalf("mempool %v, sent %s", pool, s.TxID)
	}
	tx := pool[0]
	changeAddr := h.address(h.account(mnemonic), wallet.Change, 0)
	if len(s.Payments) != 1 || s.Payments[0].To != to || s.Payments[0].Amount != "1.50000000" || s.FeeRate != 3 || s.FeeRateSource != "--fee-rate" || s.Size != tx.SerializeSize() || s.ChangeAddress != changeAddr {
		t.Errorf("send --json: %+v", s)
	}
	fee, err := wallet.ParseAmount(string(s.Fee))
	if err != nil {
		t.Fatal(err)
	}
	change, _ := wallet.ParseAmount(string(s.Change))
	in := h.node.inputValue(tx)
	if in != 2*chain.Coin || fee < 3*uint64(tx.SerializeSize()) || in-150_000_000-fee != change {
		t.Errorf("inputs %d, fee %d for %d bytes at 3/byte, change %d", in, fee, tx.SerializeSize(), change)
	}
	paid := map[string]uint64{}
	for _, out := range tx.Outputs {
		paid[chain.RegtestParams.EncodeAddress(out.PubKeyHash)] += out.Value
	}
	if paid[to] != 150_000_000 || paid[changeAddr] != change || len(paid) != 2 {
		t.Errorf("outputs %v", paid)
	}
	if _, err := os.Stat(wallet.PendingSendsFor(h.wallet).Path()); err != nil {
		t.Errorf("no pending record: %v", err)
	}

	// The spent output is not counted, the change is unconfirmed, and a
	// second send cannot spend the same output: it may spend the confirmed
	// output and the wallet's own unconfirmed change, no more.
	b := jsonOf[balanceJSON](t, h.ok("balance", "--json"))
	if b.Confirmed != "1.00000000" || b.Unconfirmed != s.Change {
		t.Errorf("balance after send: %+v", b)
	}
	msg := h.fail("send", to, "1.6")
	mustContain(t, msg, "insufficient funds", "have "+wallet.FormatAmount(chain.Coin+change)+" QRY", "2.00000000 QRY more cannot be spent now")
	if len(h.node.mempoolTxs()) != 1 {
		t.Error("a second send reached the node")
	}

	h.node.mine()
	b = jsonOf[balanceJSON](t, h.ok("balance", "--json"))
	if string(b.Confirmed) != wallet.FormatAmount(chain.Coin+change) || b.Unconfirmed != "0.00000000" {
		t.Errorf("balance after the block: %+v", b)
	}
	if _, err := os.Stat(wallet.PendingSendsFor(h.wallet).Path()); !os.IsNotExist(err) {
		t.Errorf("pending record kept after confirmation: %v", err)
	}

	// Human output names the txid, fee and change.
	out := h.ok("send", to, "0.25")
	mustContain(t, out, "Sent 0.25000000 QRY to "+to, "base units/byte", "change ", "txid "+h.node.mempoolTxs()[0].TxID().String())
}

func TestSendWithoutChange(t *testing.T) {
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), 100_000_000)
	// All but 500 base units, about the fee of a one-input, one-output
	// transaction at 2 per byte: change would cost more than it is worth.
	s := jsonOf[sendJSON](t, h.ok("send", foreignAddress(), "0.99999500", "--json"))
	if s.ChangeAddress != "" || s.Change != "0.00000000" || s.Fee != "0.00000500" {
		t.Errorf("send: %+v", s)
	}
	list := jsonOf[[]addressJSON](t, h.ok("addresses", "--json", "--offline"))
	if len(list) != 1 {
		t.Errorf("a send without change gave out a change address: %+v", list)
	}
}

func TestSendRefusals(t *testing.T) {
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), 100_000_000)
	h.node.mineTo(h.newAddress(), 50*chain.Coin) // immature

	msg := h.fail("send", foreignAddress(), "2")
	mustContain(t, msg, "insufficient funds: need 2.0000", "have 1.00000000 QRY", "(missing 1.0000", "50.00000000 QRY more cannot be spent now")
	if len(h.node.mempoolTxs()) != 0 || h.node.count("sendrawtransaction") != 0 {
		t.Error("a refused send reached the node")
	}
	if list := jsonOf[[]addressJSON](t, h.ok("addresses", "--json", "--offline")); len(list) != 2 {
		t.Errorf("a refused send gave out a change address: %d addresses", len(list))
	}

	// Mistakes in the arguments are refused before the passphrase is needed.
	delete(h.env, passphraseEnv)
	mainAddr := chain.MainParams.EncodeAddress([chain.PubKeyHashSize]byte{1})
	good := foreignAddress()
	bad := good[:len(good)-1] + string("qpzry9x8gf2tvdw0s3jn54khce6mua7l"[(strings.IndexByte("qpzry9x8gf2tvdw0s3jn54khce6mua7l", good[len(good)-1])+1)%32])
	cases := []struct {
		addr, amount, want string
	}{
		{good, "1.123456789", `invalid amount "1.123456789": more than 8 decimal places`},
		{good, "-1", `invalid amount "-1": negative`},
		{good, "0", `invalid amount "0": the amount must be more than zero`},
		{good, "0.00000000", "more than zero"},
		{good, "abc", `invalid amount "abc"`},
		{good, "21000000.00000001", "more than the 21000000.00000000 QRY"},
		{mainAddr, "1", "it is a main address, this is regtest"},
		{bad, "1", `invalid address "` + bad + `"`},
		{"nonsense", "1", "invalid address"},
	}
	for _, c := range cases {
		mustContain(t, h.fail("send", c.addr, c.amount), c.want)
	}
}

func TestSendRefusedByNode(t *testing.T) {
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), 100_000_000)
	h.node.setRefuse(&rpc.Error{Code: rpc.CodeVerifyRejected, Message: "min relay fee not met"})
	mustContain(t, h.fail("send", foreignAddress(), "0.5"), "the node refused the transaction: min relay fee not met (rpc error -26)")
	if _, err := os.Stat(wallet.PendingSendsFor(h.wallet).Path()); !os.IsNotExist(err) {
		t.Errorf("a refused send is kept as pending: %v", err)
	}
	h.node.setRefuse(nil)
	h.ok("send", foreignAddress(), "0.5")
}

// A send that fell out of the node's mempool is handed to it again by the
// next command; one the node refuses again stays until abandoned.
func TestSendRebroadcastAndAbandon(t *testing.T) {
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), 100_000_000)
	s := jsonOf[sendJSON](t, h.ok("send", foreignAddress(), "0.5", "--json"))
	h.node.evict()
	out, errOut, code := h.run("", "balance", "--json")
	if code != 0 {
		t.Fatal(errOut)
	}
	mustContain(t, errOut, s.TxID.String()+" had fallen out of the node's mempool; handed to the node again")
	if pool := h.node.mempoolTxs(); len(pool) != 1 || pool[0].TxID() != s.TxID {
		t.Fatalf("mempool after the rebroadcast: %v", pool)
	}
	if b := jsonOf[balanceJSON](t, out); b.Confirmed != "0.00000000" || b.Unconfirmed != s.Change {
		t.Errorf("balance after the rebroadcast: %+v", b)
	}

	h.node.evict()
	h.node.refuse = rpc.Errorf(rpc.CodeVerifyRejected, "mempool min fee not met")
	_, errOut, _ = h.run("", "balance", "--json")
	mustContain(t, errOut, "refuses it again", "wallet abandon "+s.TxID.String())
	h.node.refuse = nil
	mustContain(t, h.ok("abandon", s.TxID.String()), "Abandoned "+s.TxID.String())
	if _, err := os.Stat(wallet.PendingSendsFor(h.wallet).Path()); !os.IsNotExist(err) {
		t.Errorf("an abandoned send is kept as pending: %v", err)
	}
	if b := jsonOf[balanceJSON](t, h.ok("balance", "--json")); b.Confirmed != "1.00000000" {
		t.Errorf("balance after abandon: %+v", b)
	}
	mustContain(t, h.fail("abandon", s.TxID.String()), "not eligible for abandonment")
	h.ok("send", foreignAddress(), "0.5")
	mustContain(t, h.fail("abandon", h.node.mempoolTxs()[0].TxID().String()), "waits in the node's mempool")
}

func TestSendAnswerLost(t *testing.T) {
	// The node took the transaction but its answer never came: the wallet
	// cannot know, so it keeps the send as pending and finds it in the
	// mempool next time.
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), 100_000_000)
	h.node.setSendDelay(500 * time.Millisecond)
	h.rpcTimeout = 100 * time.Millisecond
	mustContain(t, h.fail("send", foreignAddress(), "0.5"), "may or may not have reached the node", "counts it as sent")
	h.node.setSendDelay(0)
	h.rpcTimeout = 0
	if _, err := os.Stat(wallet.PendingSendsFor(h.wallet).Path()); err != nil {
		t.Errorf("the send is not kept as pending: %v", err)
	}
	if b := jsonOf[balanceJSON](t, h.ok("balance", "--json")); b.Confirmed != "0.00000000" || b.Unconfirmed == "0.00000000" {
		t.Errorf("balance: %+v", b)
	}
}

func TestSpendFoundInMempool(t *testing.T) {
	// Another copy of the wallet sent from the same outputs: this copy has no
	// pending record but sees the spend in the mempool.
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), 100_000_000)
	h.ok("send", foreignAddress(), "0.5")
	if err := os.Remove(wallet.PendingSendsFor(h.wallet).Path()); err != nil {
		t.Fatal(err)
	}
	b := jsonOf[balanceJSON](t, h.ok("balance", "--json"))
	if b.Confirmed != "0.00000000" || b.Unconfirmed == "0.00000000" {
		t.Errorf("balance: %+v", b)
	}
	mustContain(t, h.fail("send", foreignAddress(), "0.1"), "insufficient funds")
}

func TestDamagedPendingFile(t *testing.T) {
	h := newHarness(t)
	h.create()
	if err := os.WriteFile(wallet.PendingSendsFor(h.wallet).Path(), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustContain(t, h.fail("balance"), "damaged", "safe to delete")
}

type unspentTestJSON struct {
	TxID          chain.Hash  `json:"txid"`
	Vout          uint32      `json:"vout"`
	Address       string      `json:"address"`
	Amount        json.Number `json:"amount"`
	Confirmations int64       `json:"confirmations"`
	Coinbase      bool        `json:"coinbase"`
	Spendable     bool        `json:"spendable"`
}

func TestListUnspent(t *testing.T) {
	h := newHarness(t)
	h.create()
	addr := h.newAddress()
	paid := h.node.pay(addr, 5, 6)
	old := h.node.mineTo(addr, 50*chain.Coin)
	h.node.blocks(150)
	young := h.node.mineTo(addr, 25*chain.Coin)
	incoming := h.node.payUnconfirmed(addr, 7)

	list := jsonOf[[]unspentTestJSON](t, h.ok("listunspent", "--json"))
	want := []unspentTestJSON{
		{paid, 0, addr, "0.00000005", 153, false, true},
		{paid, 1, addr, "0.00000006", 153, false, true},
		{old, 0, addr, "50.00000000", 152, true, true},
		{young, 0, addr, "25.00000000", 1, true, false},
		{incoming, 0, addr, "0.00000007", 0, false, false},
	}
	if len(list) != len(want) {
		t.Fatalf("listunspent: %+v", list)
	}
	for i := range want {
		if list[i] != want[i] {
			t.Errorf("output %d: %+v, want %+v", i, list[i], want[i])
		}
	}
	human := h.ok("listunspent")
	mustContain(t, human, young.String()+":0", "immature coinbase: spendable in 99 blocks", "unconfirmed")
}

type historyTestJSON struct {
	TxID          chain.Hash  `json:"txid"`
	Amount        json.Number `json:"amount"`
	Fee           json.Number `json:"fee"`
	Confirmations int64       `json:"confirmations"`
	Time          int64       `json:"time"`
	Coinbase      bool        `json:"coinbase"`
}

func TestHistory(t *testing.T) {
	h := newHarness(t)
	h.create()
	addr := h.newAddress()
	received := h.node.pay(addr, 2*chain.Coin)
	coinbase := h.node.mineTo(addr, 50*chain.Coin)
	s := jsonOf[sendJSON](t, h.ok("send", foreignAddress(), "0.5", "--json"))
	h.node.mine()
	s2 := jsonOf[sendJSON](t, h.ok("send", foreignAddress(), "0.25", "--json"))
	incoming := h.node.payUnconfirmed(addr, 1000)

	list := jsonOf[[]historyTestJSON](t, h.ok("history", "--json"))
	if len(list) != 5 {
		t.Fatalf("history: %+v", list)
	}
	fee, _ := wallet.ParseAmount(string(s.Fee))
	fee2, _ := wallet.ParseAmount(string(s2.Fee))
	want := []struct {
		txid   chain.Hash
		amount string
		fee    json.Number
		conf   int64
	}{
		{received, "2.00000000", "", 3},
		{coinbase, "50.00000000", "", 2},
		{s.TxID, "-" + wallet.FormatAmount(50_000_000+fee), s.Fee, 1},
		{s2.TxID, "-" + wallet.FormatAmount(25_000_000+fee2), s2.Fee, 0},
		{incoming, "0.00001000", "", 0},
	}
	for i, w := range want {
		got := list[i]
		if got.TxID != w.txid || string(got.Amount) != w.amount || got.Fee != w.fee || got.Confirmations != w.conf {
			t.Errorf("entry %d: %+v, want %+v", i, got, w)
		}
	}
	if !list[1].Coinbase || list[0].Time != fakeBlockTime+600 || list[3].Time == 0 || list[4].Time != 0 {
		t.Errorf("coinbase or times: %+v", list)
	}
	human := h.ok("history")
	mustContain(t, human, "+2.00000000", "coinbase", "-"+wallet.FormatAmount(50_000_000+fee), s.TxID.String())
}

func TestRestoreGapLimit(t *testing.T) {
	h := newHarness(t)
	mnemonic := h.create()
	acct := h.account(mnemonic)
	// Used: receive 0, 5 and 24 (within 20 of 5), change 3. Receive 45 is
	// past 20 unused after 24, so a restore does not look that far.
	for _, i := range []uint32{0, 5, 24, 45} {
		h.node.pay(h.address(acct, wallet.Receive, i), chain.Coin)
	}
	h.node.pay(h.address(acct, wallet.Change, 3), 7)

	h.wallet = filepath.Join(h.home, "restored.json")
	out, errOut, code := h.run(strings.ToUpper(mnemonic)+"\n", "restore", "--json")
	if code != 0 {
		t.Fatal(errOut)
	}
	r := jsonOf[struct {
		Wallet  string `json:"wallet"`
		Network string `json:"network"`
		Receive uint32 `json:"receive_addresses"`
		Change  uint32 `json:"change_addresses"`
	}](t, out)
	if r.Wallet != h.wallet || r.Network != "regtest" || r.Receive != 25 || r.Change != 4 {
		t.Errorf("restore: %+v, want 25 receive and 4 change addresses", r)
	}
	b := jsonOf[balanceJSON](t, h.ok("balance", "--json"))
	if b.Confirmed != "3.00000007" {
		t.Errorf("restored balance %s, want 3.00000007", b.Confirmed)
	}
	if got, want := h.newAddress(), h.address(acct, wallet.Receive, 25); got != want {
		t.Errorf("next address %s, want %s", got, want)
	}

	// From a file, offline, and with a wider gap.
	file := filepath.Join(h.home, "words")
	if err := os.WriteFile(file, []byte(mnemonic+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.wallet = filepath.Join(h.home, "wide.json")
	r2 := h.ok("restore", "--mnemonic-file", file, "--gap-limit", "21")
	mustContain(t, r2, "46 receive and 4 change addresses in use")
	h.wallet = filepath.Join(h.home, "offline.json")
	mustContain(t, h.ok("--rpc-url", "http://127.0.0.1:1", "restore", "--mnemonic-file", file, "--gap-limit", "0"), "0 receive and 0 change")
	h.wallet = filepath.Join(h.home, "huge.json")
	if _, errOut, code := h.run("", "restore", "--mnemonic-file", file, "--gap-limit", "4294967296"); code != exitUsage || !strings.Contains(errOut, "over the 10000 limit") {
		t.Errorf("--gap-limit 2^32: exit %d, %q", code, errOut)
	}

	// Refusals leave no file behind.
	h.wallet = filepath.Join(h.home, "refused.json")
	words := strings.Fields(mnemonic)
	words[3] = "quarry"
	_, errOut, _ = h.run(strings.Join(words, " ")+"\n", "restore")
	mustContain(t, errOut, `invalid mnemonic: word 4, "quarry", is not in the BIP39 English word list`)
	_, errOut, _ = h.run("", "restore")
	mustContain(t, errOut, "no mnemonic on standard input")
	_, errOut, _ = h.run(mnemonic+"\n", "--rpc-url", "http://127.0.0.1:1", "restore")
	mustContain(t, errOut, "cannot reach node")
	if _, err := os.Stat(h.wallet); !os.IsNotExist(err) {
		t.Errorf("a failed restore left a file: %v", err)
	}
}

// fakeTerminal answers prompts as a user at a terminal would: secrets from a
// list, and the words of the mnemonic it was shown when asked for them back.
type fakeTerminal struct {
	secrets []string
	shown   strings.Builder
	wrong   bool // answer every word wrongly
	asked   int
}

var wordNumber = regexp.MustCompile(`#(\d+)`)

func (f *fakeTerminal) say(text string) { f.shown.WriteString(text) }

func (f *fakeTerminal) readSecret(string) ([]byte, error) {
	s := f.secrets[0]
	f.secrets = f.secrets[1:]
	return []byte(s), nil
}

func (f *fakeTerminal) readLine(prompt string) (string, error) {
	f.asked++
	m := wordNumber.FindStringSubmatch(prompt)
	if m == nil || f.wrong {
		return "wrong", nil
	}
	// The words are shown as "  N word".
	fields := strings.Fields(f.shown.String())
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == m[1] {
			return " " + strings.ToUpper(fields[i+1]) + " ", nil
		}
	}
	return "", nil
}

func TestCreateOnTerminal(t *testing.T) {
	h := newHarness(t)
	delete(h.env, passphraseEnv)
	tty := &fakeTerminal{secrets: []string{"pw", "pw"}}
	h.tty = tty
	out := h.ok("create", "--json")
	c := jsonOf[createJSON](t, out)
	if c.Mnemonic != "" {
		t.Error("create on a terminal printed the mnemonic on standard output too")
	}
	if tty.asked != 2 || !strings.Contains(tty.shown.String(), " 24 ") {
		t.Errorf("asked for %d words; shown %q", tty.asked, tty.shown.String())
	}
	tty.secrets = []string{"pw"}
	h.ok("newaddress")

	h.wallet = filepath.Join(h.home, "typo.json")
	h.tty = &fakeTerminal{secrets: []string{"pw", "pw"}, wrong: true}
	mustContain(t, h.fail("create"), "no wallet was written")
	h.tty = &fakeTerminal{secrets: []string{"pw", "px"}}
	mustContain(t, h.fail("create"), "the two passphrases differ")
	if _, err := os.Stat(h.wallet); !os.IsNotExist(err) {
		t.Errorf("a refused create left a file: %v", err)
	}
}

// TestRunEntry goes through run, as main does, with the production KDF.
func TestRunEntry(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home, passphraseEnv: testPassphrase}
	getenv := func(k string) string { return env[k] }
	var out, errOut bytes.Buffer
	if code := run([]string{"create", "--network", "regtest", "--json"}, strings.NewReader(""), &out, &errOut, getenv); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"--network=regtest", "newaddress"}, strings.NewReader(""), &out, &errOut, getenv); code != 0 {
		t.Fatalf("newaddress: exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "rqry1") {
		t.Errorf("newaddress printed %q", out.String())
	}
}
