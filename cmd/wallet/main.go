// Wallet is Quarry's wallet command line. It keeps the keys of one HD wallet in
// an encrypted file and talks to a node only through the node's JSON-RPC
// interface, so keys never leave this program: it asks the node which outputs
// pay to its addresses, builds and signs transactions itself, and hands the
// node the signed bytes.
//
// Run "wallet help" for the commands and flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/wallet"
)

const usageText = `Usage: wallet [global flags] COMMAND [flags] [ARGS]

Keeps the keys of a Quarry wallet in an encrypted file and talks to a node only
through its JSON-RPC interface; keys never leave this program.

Commands:
  create          make a new wallet file; shows its 24-word mnemonic once
      --watch-only XPUB      make a wallet with no private key from another
                             wallet's 'wallet xpub': balances, unsigned sends
  restore         make a wallet file from a mnemonic and find its used addresses
      --mnemonic-file FILE   read the mnemonic from FILE (default: prompt, or
                             one line of standard input when it is not a terminal)
      --gap-limit N          unused addresses in a row that end the search on
                             each branch (default 20; 0 skips the node)
  newaddress      give out a new receiving address
  addresses       list the addresses given out, with their balances
      --offline              list them without asking the node for balances
  balance         confirmed, unconfirmed and immature balance
  listunspent     the wallet's unspent outputs, each named TXID:N
  send ADDR AMOUNT [ADDR AMOUNT ...]
                  pay AMOUNT QRY (up to 8 decimals) to each ADDR in one
                  transaction and print the txid; spends confirmed outputs,
                  and the wallet's own unconfirmed change only when it must
      --conf-target N        pay the node's fee estimate for confirmation
                             within N blocks (default 6; with no estimate,
                             2 base units per byte, said so)
      --fee-rate N           pay N base units per byte of the signed
                             transaction instead
      --subtract-fee         take the fee from the amounts, in equal shares
      --coins TXID:N,...     spend exactly these outputs (coin control)
      --unsigned FILE        write the transaction unsigned to FILE instead
                             (docs/unsigned-tx.md), for 'wallet sign'
  sendall ADDR    send everything the wallet can spend (or --coins) to ADDR,
                  less the fee; takes --conf-target, --fee-rate, --coins
  bumpfee TXID    replace an unconfirmed send with one paying a higher fee, as
                  Core's bumpfee: the same payments, the change reduced (or
                  another input added), at least 1 base unit per byte more
      --fee-rate N           the new rate (default: the node's estimate)
  abandon TXID    forget a send that is in neither the node's mempool nor its
                  chain, so its coins can be spent again (sends that fell out
                  of the mempool are otherwise handed to the node again by the
                  next command)
  xpub            the account's extended public key
  sign FILE       show what the transaction in FILE pays and its fee, then sign
                  it with this wallet's keys (no node needed) and rewrite FILE
  broadcast FILE  hand the signed transaction in FILE to the node
  signmessage ADDR MESSAGE
                  sign MESSAGE with ADDR's key: a recoverable signature over a
                  tagged hash, base64, as Core's signmessage (docs/signed-message.md)
  verifymessage ADDR SIGNATURE MESSAGE
                  check that ADDR's key signed MESSAGE (no wallet needed)
  passphrase      re-encrypt the wallet file under a new passphrase (the file
                  is replaced atomically)
      --new-passphrase-file FILE  read the new passphrase from FILE
  backup          show the wallet's mnemonic again
  history         the wallet's transactions, oldest first, with the net
                  amount each added to or took from the wallet (fee included)
  help            this text

Global flags, before or after the command:
  --network NAME          main, testnet or regtest (default main)
  --wallet FILE           wallet file (default ~/.quarry/<network>/wallet.json);
                          unconfirmed sends are kept beside it in FILE.pending.json
  --rpc-url URL           the node's JSON-RPC address
                          (default http://127.0.0.1:<the network's RPC port>)
  --rpc-cookie FILE       the node's cookie file (default ~/.quarry/<network>/.cookie)
  --rpc-user USER, --rpc-password PASSWORD
                          RPC credentials to use instead of the cookie
  --passphrase-file FILE  read the wallet passphrase from FILE (one trailing
                          newline is dropped)
  --json                  print JSON for scripts; amounts are numbers in QRY
                          with 8 decimals

The wallet passphrase is asked for without echo when standard input is a
terminal. Otherwise it comes from --passphrase-file or the environment variable
QUARRY_WALLET_PASSPHRASE, and no command waits for input: create prints the
mnemonic and goes on.

Exit status: 0 on success, 1 on failure, 2 on a usage error.
`

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// passphraseEnv holds the wallet passphrase for scripts.
const passphraseEnv = "QUARRY_WALLET_PASSPHRASE"

// rpcTimeout bounds each call to the node, so that a node that accepts the
// connection and never answers does not hang the command.
const rpcTimeout = 2 * time.Minute

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is the whole program; main only binds it to the process, so tests call it
// in process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	return newApp(stdin, stdout, stderr, env).main(args)
}

// options are the global flags.
type options struct {
	network        string
	walletPath     string
	rpcURL         string
	rpcCookie      string
	rpcUser        string
	rpcPassword    string
	passphraseFile string
	json           bool
}

// register defines the global flags on fs, each defaulting to its current
// value: every command's flag set defines them again, and defining a flag
// stores its default, which must not undo what was parsed before the command.
func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.network, "network", o.network, "")
	fs.StringVar(&o.walletPath, "wallet", o.walletPath, "")
	fs.StringVar(&o.rpcURL, "rpc-url", o.rpcURL, "")
	fs.StringVar(&o.rpcCookie, "rpc-cookie", o.rpcCookie, "")
	fs.StringVar(&o.rpcUser, "rpc-user", o.rpcUser, "")
	fs.StringVar(&o.rpcPassword, "rpc-password", o.rpcPassword, "")
	fs.StringVar(&o.passphraseFile, "passphrase-file", o.passphraseFile, "")
	fs.BoolVar(&o.json, "json", o.json, "")
}

// app is one run of the program: its flags and where it reads and writes.
type app struct {
	opts   options
	params *chain.Params
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// tty is the terminal on standard input, or nil when there is none; then
	// nothing may wait for input.
	tty  terminal
	kdf  wallet.KDFParams
	http *http.Client
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, env func(string) string) *app {
	return &app{
		opts:   options{network: chain.MainParams.Name},
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		getenv: env,
		tty:    openTerminal(stdin, stderr),
		kdf:    wallet.DefaultKDF,
		http:   &http.Client{Timeout: rpcTimeout},
	}
}

// usageError is a mistake in the command line, answered with exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// command is one subcommand: its own flags and positional arguments, and what
// it does once every flag is parsed.
type command struct {
	flags func(fs *flag.FlagSet)
	args  []string // names of the positional arguments, all required
	// repeat lets the positional arguments come again as a group, any
	// number of times (send ADDR AMOUNT [ADDR AMOUNT ...]).
	repeat bool
	run    func(ctx context.Context, a *app, args []string) error
}

func commands() map[string]*command {
	return map[string]*command{
		"create":        createCommand(),
		"restore":       restoreCommand(),
		"newaddress":    newAddressCommand(),
		"addresses":     addressesCommand(),
		"balance":       balanceCommand(),
		"listunspent":   listUnspentCommand(),
		"send":          sendCommand(),
		"sendall":       sendAllCommand(),
		"bumpfee":       bumpFeeCommand(),
		"abandon":       abandonCommand(),
		"xpub":          xpubCommand(),
		"sign":          signCommand(),
		"broadcast":     broadcastCommand(),
		"signmessage":   signMessageCommand(),
		"verifymessage": verifyMessageCommand(),
		"passphrase":    passphraseCommand(),
		"backup":        backupCommand(),
		"history":       historyCommand(),
	}
}

func (a *app) main(args []string) int {
	err := a.dispatch(args)
	var usage *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(a.stdout, usageText)
		return exitOK
	case errors.As(err, &usage):
		fmt.Fprintf(a.stderr, "wallet: %s (see 'wallet help')\n", oneLine(err.Error()))
		return exitUsage
	default:
		fmt.Fprintf(a.stderr, "wallet: %s\n", oneLine(err.Error()))
		return exitFail
	}
}

// oneLine keeps a message from a node or a file on the one line promised.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func (a *app) dispatch(args []string) error {
	global := newFlagSet("wallet")
	a.opts.register(global)
	positional, err := parseFlags(global, args, true)
	if err != nil {
		return err
	}
	if len(positional) == 0 {
		return usagef("no command given")
	}
	name := positional[0]
	if name == "help" {
		return flag.ErrHelp
	}
	cmd, ok := commands()[name]
	if !ok {
		return usagef("unknown command %q", name)
	}
	fs := newFlagSet(name)
	a.opts.register(fs)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	cmdArgs, err := parseFlags(fs, positional[1:], false)
	if err != nil {
		return err
	}
	groups := len(cmdArgs) > 0 && len(cmd.args) > 0 && len(cmdArgs)%len(cmd.args) == 0
	if len(cmdArgs) != len(cmd.args) && !(cmd.repeat && groups) {
		if len(cmd.args) == 0 {
			return usagef("%s takes no arguments, got %q", name, cmdArgs[0])
		}
		usage := strings.Join(cmd.args, " ")
		if cmd.repeat {
			usage += " [" + usage + " ...]"
		}
		return usagef("usage: wallet %s %s", name, usage)
	}
	if err := a.resolve(); err != nil {
		return err
	}
	return cmd.run(context.Background(), a, cmdArgs)
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors are reported once, by main, in the program's own format.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses flags anywhere among args, not only before the first
// argument as package flag does, and returns the other arguments. With
// stopAtArg it stops at the first argument and returns it with everything
// after it unparsed (the global flags before the command). An argument that
// reads as a negative number is an argument, so that "send ADDR -1" is refused
// as a negative amount rather than as an unknown flag.
func parseFlags(fs *flag.FlagSet, args []string, stopAtArg bool) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		arg := args[0]
		if arg == "--" {
			return append(positional, args[1:]...), nil
		}
		if len(arg) < 2 || arg[0] != '-' || isNegativeNumber(arg) {
			if stopAtArg {
				return args, nil
			}
			positional = append(positional, arg)
			args = args[1:]
			continue
		}
		// One flag at a time, with its value when it takes one.
		n := 1
		name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && len(args) > 1 {
			n = 2
		}
		if err := fs.Parse(args[:n]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		args = args[n:]
	}
	return positional, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func isNegativeNumber(s string) bool {
	return len(s) > 1 && s[0] == '-' && (s[1] == '.' || (s[1] >= '0' && s[1] <= '9'))
}

// resolve checks the global flags and fills in the defaults that depend on the
// network.
func (a *app) resolve() error {
	p, err := chain.ParamsByName(a.opts.network)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	a.params = p
	if a.opts.rpcPassword != "" && a.opts.rpcUser == "" {
		return usagef("--rpc-password needs --rpc-user")
	}
	if a.opts.rpcUser != "" && a.opts.rpcCookie != "" {
		return usagef("give either --rpc-cookie or --rpc-user/--rpc-password, not both")
	}
	if a.opts.rpcURL == "" {
		a.opts.rpcURL = fmt.Sprintf("http://127.0.0.1:%d", p.DefaultRPCPort)
	}
	if a.opts.walletPath == "" {
		dir, err := a.networkDir()
		if err != nil {
			return fmt.Errorf("%w; give --wallet FILE", err)
		}
		a.opts.walletPath = filepath.Join(dir, "wallet.json")
	}
	if a.opts.rpcCookie == "" && a.opts.rpcUser == "" {
		// A missing home only matters once the node is called, and
		// commands that never call it must not fail for it.
		if dir, err := a.networkDir(); err == nil {
			a.opts.rpcCookie = filepath.Join(dir, ".cookie")
		}
	}
	return nil
}

// networkDir is the node's default directory of the network, ~/.quarry/<network>,
// where the node keeps its cookie and the wallet its file by default.
func (a *app) networkDir() (string, error) {
	home := a.getenv("HOME")
	if home == "" {
		return "", errors.New("HOME is not set, so there is no default file location")
	}
	return filepath.Join(home, ".quarry", a.params.Name), nil
}
