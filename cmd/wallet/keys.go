package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/quarrychain/quarry/wallet"
)

// The commands that make a wallet and give out its addresses.

// maxGapLimit bounds --gap-limit: each step of the gap derives a key and asks
// the node once per branch, and no wallet leaves thousands of addresses unused.
const maxGapLimit = 10_000

// confirmTries is how often a word may be mistyped when confirming a new
// mnemonic.
const confirmTries = 3

func createCommand() *command {
	var watchOnly string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&watchOnly, "watch-only", "", "") },
		run: func(_ context.Context, a *app, _ []string) error {
			if watchOnly != "" {
				return a.createWatchOnly(watchOnly)
			}
			return a.create()
		},
	}
}

// createWatchOnly makes a wallet holding only the account's xpub: it shows
// balances and writes unsigned sends for a signing wallet elsewhere.
func (a *app) createWatchOnly(xpub string) error {
	if err := a.checkNoWallet(); err != nil {
		return err
	}
	passphrase, err := a.newPassphrase()
	if err != nil {
		return err
	}
	defer clear(passphrase)
	if err := a.makeWalletDir(); err != nil {
		return err
	}
	w, err := wallet.CreateWatchOnly(a.opts.walletPath, a.params, passphrase, xpub, wallet.WithKDF(a.kdf))
	if err != nil {
		return err
	}
	defer w.Close()
	if a.opts.json {
		return a.printJSON(struct {
			Wallet    string `json:"wallet"`
			Network   string `json:"network"`
			WatchOnly bool   `json:"watch_only"`
		}{w.Path(), a.params.Name, true})
	}
	a.printf("Created watch-only wallet %s: it holds no private key; 'wallet send --unsigned FILE' writes sends for the signing wallet.\n", w.Path())
	return nil
}

func (a *app) create() error {
	if err := a.checkNoWallet(); err != nil {
		return err
	}
	passphrase, err := a.newPassphrase()
	if err != nil {
		return err
	}
	defer clear(passphrase)
	mnemonic, err := wallet.NewMnemonic()
	if err != nil {
		return err
	}
	// On a terminal the words are shown once and the file is written only
	// once the user proved they wrote them down; a script gets them on
	// standard output and must keep them itself.
	if a.tty != nil {
		if err := confirmMnemonic(a.tty, mnemonic); err != nil {
			return err
		}
	}
	w, err := a.createWallet(passphrase, mnemonic)
	if err != nil {
		return err
	}
	defer w.Close()
	shown := ""
	if a.tty == nil {
		shown = mnemonic
	}
	if a.opts.json {
		return a.printJSON(struct {
			Wallet   string `json:"wallet"`
			Network  string `json:"network"`
			Mnemonic string `json:"mnemonic,omitempty"`
		}{w.Path(), a.params.Name, shown})
	}
	a.printf("Created wallet %s (%s).\n", w.Path(), a.params.Name)
	if shown != "" {
		a.printf("Write down the mnemonic and keep it secret; it is the only way to restore the wallet:\n%s\n", shown)
	}
	return nil
}

// checkNoWallet refuses early, before any prompt, to make a wallet where one
// exists; wallet.Create checks again under the file's lock.
func (a *app) checkNoWallet() error {
	if _, err := os.Lstat(a.opts.walletPath); err == nil {
		return fmt.Errorf("wallet file %s already exists; give --wallet FILE to make another", a.opts.walletPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("wallet file %s: %w", a.opts.walletPath, err)
	}
	return nil
}

func (a *app) createWallet(passphrase []byte, mnemonic string) (*wallet.Wallet, error) {
	if err := a.makeWalletDir(); err != nil {
		return nil, err
	}
	return wallet.Create(a.opts.walletPath, a.params, passphrase, mnemonic, "", wallet.WithKDF(a.kdf))
}

// makeWalletDir makes the wallet file's directory, owner only: the file is
// encrypted, but its directory also lists the pending sends and is no one
// else's business.
func (a *app) makeWalletDir() error {
	if err := os.MkdirAll(filepath.Dir(a.opts.walletPath), 0o700); err != nil {
		return fmt.Errorf("making the wallet's directory: %w", err)
	}
	return nil
}

// confirmMnemonic shows the words and asks for two of them back.
func confirmMnemonic(t terminal, mnemonic string) error {
	words := strings.Fields(mnemonic)
	var b strings.Builder
	b.WriteString("\nWrite down these words, in order, and keep them secret. They are the only way\nto restore the wallet if the file or its passphrase is lost.\n\n")
	for i, w := range words {
		fmt.Fprintf(&b, "%3d %-10s", i+1, w)
		if i%4 == 3 {
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	t.say(b.String())
	first := rand.IntN(len(words))
	second := (first + 1 + rand.IntN(len(words)-1)) % len(words)
	for _, i := range []int{min(first, second), max(first, second)} {
		if err := askWord(t, i, words[i]); err != nil {
			return err
		}
	}
	return nil
}

func askWord(t terminal, i int, want string) error {
	for range confirmTries {
		got, err := t.readLine(fmt.Sprintf("To confirm, type word #%d: ", i+1))
		if err != nil {
			return err
		}
		if strings.EqualFold(strings.TrimSpace(got), want) {
			return nil
		}
		t.say(fmt.Sprintf("That is not word #%d.\n", i+1))
	}
	return errors.New("the words typed back do not match the mnemonic; no wallet was written (run create again for a new mnemonic)")
}

func restoreCommand() *command {
	var mnemonicFile string
	gap := uint(wallet.GapLimit)
	return &command{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&mnemonicFile, "mnemonic-file", "", "")
			fs.UintVar(&gap, "gap-limit", gap, "")
		},
		run: func(ctx context.Context, a *app, _ []string) error {
			if gap > maxGapLimit {
				return usagef("--gap-limit %d is over the %d limit", gap, maxGapLimit)
			}
			return a.restore(ctx, mnemonicFile, uint32(gap))
		},
	}
}

func (a *app) restore(ctx context.Context, mnemonicFile string, gap uint32) error {
	if err := a.checkNoWallet(); err != nil {
		return err
	}
	words, err := a.readMnemonic(mnemonicFile)
	if err != nil {
		return err
	}
	mnemonic, err := wallet.CheckMnemonic(words)
	if err != nil {
		return err
	}
	passphrase, err := a.newPassphrase()
	if err != nil {
		return err
	}
	defer clear(passphrase)
	// The search runs before the file is made, so that a node that cannot be
	// reached leaves nothing behind to get in the way of trying again.
	var next [2]uint32
	if gap > 0 {
		if next, err = a.findUsed(ctx, mnemonic, gap); err != nil {
			return err
		}
	}
	w, err := a.createWallet(passphrase, mnemonic)
	if err != nil {
		return err
	}
	defer w.Close()
	for _, b := range []wallet.Branch{wallet.Receive, wallet.Change} {
		if err := w.AdvanceTo(b, next[b]); err != nil {
			return err
		}
	}
	if a.opts.json {
		return a.printJSON(struct {
			Wallet  string `json:"wallet"`
			Network string `json:"network"`
			Receive uint32 `json:"receive_addresses"`
			Change  uint32 `json:"change_addresses"`
		}{w.Path(), a.params.Name, next[wallet.Receive], next[wallet.Change]})
	}
	a.printf("Restored wallet %s (%s): %d receive and %d change addresses in use.\n",
		w.Path(), a.params.Name, next[wallet.Receive], next[wallet.Change])
	if gap == 0 {
		a.printf("The node was not asked which addresses were used (--gap-limit 0).\n")
	}
	return nil
}

// findUsed returns, for each branch, one past the last address the chain
// shows used: the search stops after gap unused addresses in a row, as BIP44
// wallets give out at most that many before one is used.
func (a *app) findUsed(ctx context.Context, mnemonic string, gap uint32) ([2]uint32, error) {
	var next [2]uint32
	n, _, err := a.connect(ctx)
	if err != nil {
		return next, err
	}
	seed, err := wallet.Seed(mnemonic, "")
	if err != nil {
		return next, err
	}
	account, err := wallet.NewAccountKeys(seed, a.params)
	clear(seed)
	if err != nil {
		return next, err
	}
	for _, b := range []wallet.Branch{wallet.Receive, wallet.Change} {
		for start := uint32(0); start < next[b]+gap; {
			end := next[b] + gap
			addrs := make([]string, 0, end-start)
			for i := start; i < end; i++ {
				k, err := account.Key(b, i)
				if err != nil {
					return next, err
				}
				addrs = append(addrs, k.Address)
			}
			used, err := n.addressesUsed(ctx, addrs)
			if err != nil {
				return next, err
			}
			for i, u := range used {
				if u {
					next[b] = start + uint32(i) + 1
				}
			}
			start = end
		}
	}
	return next, nil
}

// openWallet unlocks the wallet file, asking for its passphrase only once the
// file is known to exist.
func (a *app) openWallet() (*wallet.Wallet, error) {
	if _, err := os.Stat(a.opts.walletPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no wallet file %s; make one with 'wallet create' or 'wallet restore', or give --wallet FILE", a.opts.walletPath)
	}
	passphrase, err := a.passphrase()
	if err != nil {
		return nil, err
	}
	defer clear(passphrase)
	return wallet.Open(a.opts.walletPath, a.params, passphrase)
}

func newAddressCommand() *command {
	return &command{run: func(_ context.Context, a *app, _ []string) error {
		w, err := a.openWallet()
		if err != nil {
			return err
		}
		defer w.Close()
		k, err := w.NewAddress(wallet.Receive)
		if err != nil {
			return err
		}
		if a.opts.json {
			return a.printJSON(addressJSON{Address: k.Address, Branch: k.Branch.String(), Index: k.Index, Path: k.Path})
		}
		a.printf("%s\n", k.Address)
		return nil
	}}
}

type addressJSON struct {
	Address string `json:"address"`
	Branch  string `json:"branch"`
	Index   uint32 `json:"index"`
	Path    string `json:"path"`
	// Balance sums the address's unspent outputs, unconfirmed and immature
	// ones included; absent with --offline.
	Balance json.Number `json:"balance,omitempty"`
}

func addressesCommand() *command {
	var offline bool
	return &command{
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&offline, "offline", false, "") },
		run:   func(ctx context.Context, a *app, _ []string) error { return a.addresses(ctx, offline) },
	}
}

func (a *app) addresses(ctx context.Context, offline bool) error {
	w, err := a.openWallet()
	if err != nil {
		return err
	}
	defer w.Close()
	keys, err := w.Keys()
	if err != nil {
		return err
	}
	list := make([]addressJSON, len(keys))
	for i, k := range keys {
		list[i] = addressJSON{Address: k.Address, Branch: k.Branch.String(), Index: k.Index, Path: k.Path}
	}
	if !offline {
		n, info, err := a.connect(ctx)
		if err != nil {
			return err
		}
		v, err := a.loadView(ctx, w, n, info, false)
		if err != nil {
			return err
		}
		perAddress := make(map[string]uint64)
		for _, c := range v.Unspent() {
			perAddress[c.Key.Address] += c.Value
		}
		for i := range list {
			list[i].Balance = qry(perAddress[list[i].Address])
		}
	}
	if a.opts.json {
		return a.printJSON(list)
	}
	if len(list) == 0 {
		a.printf("No addresses given out yet; 'wallet newaddress' gives one.\n")
		return nil
	}
	t := table(a.stdout)
	if offline {
		fmt.Fprintln(t, "BRANCH\tINDEX\tADDRESS\tPATH")
	} else {
		fmt.Fprintln(t, "BRANCH\tINDEX\tADDRESS\tPATH\tBALANCE")
	}
	for _, l := range list {
		if offline {
			fmt.Fprintf(t, "%s\t%d\t%s\t%s\n", l.Branch, l.Index, l.Address, l.Path)
		} else {
			fmt.Fprintf(t, "%s\t%d\t%s\t%s\t%s\n", l.Branch, l.Index, l.Address, l.Path, l.Balance)
		}
	}
	return t.Flush()
}
