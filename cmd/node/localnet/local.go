// Package localnet is `node testnet`: a local testnet of real nodes started
// with the testnet harness. It keeps the nodes, a payout wallet and their
// ports in one directory (described by testnet.json, so a second run resumes
// the same chain), mines on some of the nodes, prints how to reach each node
// and the wallet, and shows a live table of every node's state (status.go)
// until its context is cancelled or the user quits. Keys under the table
// drive the testnet (control.go): stop, kill and restart nodes, partition
// them, switch their miners, and run a transaction load (load.go); keys.go
// reads them from the terminal in raw mode.
package localnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/testnet"
	"github.com/quarrychain/quarry/wallet"
)

const (
	layoutFile     = "testnet.json"
	walletFile     = "wallet.json"
	passphraseFile = "wallet.passphrase"
	harnessLogFile = "testnet.log"
	// statusTimeout bounds one refresh's calls, so a hung node shows as down
	// instead of freezing the table.
	statusTimeout = 2 * time.Second
	// walletTimeout bounds one run of the wallet CLI, which stretches the
	// passphrase (about half a second) and talks to no node.
	walletTimeout = time.Minute
	// keptWallet is where a wallet CLI built for the run is copied, under
	// the testnet directory, so the commands printed keep working after it.
	keptWallet = "bin/wallet"
)

// Networks `node testnet` runs on.
const (
	// Testnet mines continuously at a difficulty that adjusts.
	Testnet = "testnet"
	// Regtest mines only when asked: the g key, or a miner switched on.
	Regtest = "regtest"
)

// Options configure Run. `node testnet` fills them from its flags.
type Options struct {
	// Network is Testnet (the default) or Regtest.
	Network string
	// Nodes is how many nodes run; the default is 3.
	Nodes int
	// Miners is how many of the first nodes mine (`node testnet` defaults it
	// to 2); it is capped at Nodes.
	Miners int
	// Dir holds the nodes, the wallet and testnet.json; a run on the same Dir
	// resumes the same chain. The default is DefaultDir(Network).
	Dir string
	// NodeBin is the node binary, normally os.Executable() of the running
	// node; the default is NodeBinary().
	NodeBin string
	// WalletBin is the wallet CLI; the default is $QUARRY_WALLET_BIN, a
	// `wallet` next to NodeBin, or ./cmd/wallet built from the module.
	WalletBin string
	// Topology links the nodes; the default is FullMesh.
	Topology testnet.Topology
	// MineThreads is each miner's --mine-threads; the default shares the CPUs
	// among the miners.
	MineThreads int
	// Stdout receives the banner and the live table; the default is os.Stdout.
	// The table is redrawn in place when Stdout is a terminal and appended
	// otherwise.
	Stdout io.Writer
	// Logger receives the harness's log; the default is <Dir>/testnet.log, as
	// the table owns the terminal.
	Logger *slog.Logger
	// Refresh is how often the table is redrawn; the default is a second.
	Refresh time.Duration
	// TxRate is the transaction load's rate when the t key starts it, in
	// transactions per second; the default is DefaultTxRate.
	TxRate float64
	// Keys, when set, is read for the keys that drive the testnet; a
	// terminal is put in raw mode while the table runs. `node testnet`
	// passes os.Stdin.
	Keys *os.File
}

// DefaultDir is where `node testnet` keeps a network's testnet without
// --dir: one directory per network, as a chain belongs to one.
func DefaultDir(network string) string {
	if network == "" || network == Testnet {
		return filepath.Join(os.TempDir(), "quarry-testnet")
	}
	return filepath.Join(os.TempDir(), "quarry-"+network)
}

// layout is testnet.json: what must stay the same between runs on one
// directory for them to continue one chain with the same peers.
type layout struct {
	Network     string       `json:"network"`
	Nodes       []layoutNode `json:"nodes"`
	MineAddress string       `json:"mine_address,omitempty"`
}

type layoutNode struct {
	Dir     string `json:"dir"` // relative to the testnet directory
	RPCPort int    `json:"rpc_port"`
	P2PPort int    `json:"p2p_port"`
}

// payout is the wallet the miners pay to, and how the user reaches it.
type payout struct {
	file, passFile string
	command        string // the wallet CLI to show in examples
	address        string
	note           string // set when the CLI could not make the wallet
}

// Run runs a local testnet of real nodes in o.Dir until ctx is
// cancelled (Ctrl-C), then stops every node cleanly. It creates a wallet for
// the miners' payouts on the first run, starts the nodes on the testnet
// network, links them, mines on the first o.Miners, prints how to reach each
// node and the wallet, and shows a table of the nodes' state every second.
func Run(ctx context.Context, o Options) error {
	if err := o.setDefaults(); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if o.Logger == nil {
		f, err := os.OpenFile(filepath.Join(o.Dir, harnessLogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("testnet: %w", err)
		}
		defer f.Close()
		o.Logger = slog.New(slog.NewTextHandler(f, nil))
	}
	lay, err := loadLayout(o.Dir, o.Network)
	if err != nil {
		return err
	}
	notes, err := lay.ensureNodes(o.Dir, o.Network, o.Nodes)
	if err != nil {
		return err
	}
	pay, err := setUpPayout(ctx, o, lay)
	if err != nil {
		return err
	}
	lay.MineAddress = pay.address
	if err := lay.save(o.Dir); err != nil {
		return err
	}

	threads := o.MineThreads
	if threads == 0 {
		threads = max(1, runtime.NumCPU()/max(1, o.Miners))
	}
	tn, err := testnet.Launch(ctx, testnet.Options{
		Nodes:    o.Nodes,
		Network:  o.Network,
		Topology: o.Topology,
		Dir:      o.Dir,
		NodeBin:  o.NodeBin,
		LogLevel: "info",
		Logger:   o.Logger,
		Spec: func(i int) testnet.NodeSpec {
			// Every node knows the payout address, so the miner key can
			// switch on any node's miner.
			spec := testnet.NodeSpec{Dir: filepath.Join(o.Dir, lay.Nodes[i].Dir), RPCPort: lay.Nodes[i].RPCPort, P2PPort: lay.Nodes[i].P2PPort,
				Args: []string{"--mine-address", pay.address, "--mine-threads", strconv.Itoa(threads)}}
			if i < o.Miners {
				spec.Args = append(spec.Args, "--mine")
			}
			return spec
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting; Launch stopped what had started
		}
		return err
	}
	live, err := newLiveSession(ctx, o, tn, pay, threads)
	if err != nil {
		return errors.Join(err, closeNetwork(tn))
	}
	defer live.close() // on every way out, so the terminal never stays raw
	showLive(ctx, o, live, func() string { return localBanner(ctx, o, tn, pay, notes) })
	if err := live.close(); err != nil {
		fmt.Fprintf(o.Stdout, "\nThe terminal could not be restored: %v\n", err)
	}

	fmt.Fprintln(o.Stdout, "\nStopping the nodes...")
	if err := closeNetwork(tn); err != nil {
		return err
	}
	resume := "node testnet"
	if o.Network != Testnet {
		resume += " --network " + o.Network
	}
	fmt.Fprintf(o.Stdout, "Stopped. `%s --dir %s` resumes this chain.\n", resume, o.Dir)
	return nil
}

func closeNetwork(tn *testnet.Network) error {
	ctx, cancel := context.WithTimeout(context.Background(), testnet.MaxCloseTime)
	defer cancel()
	return tn.Close(ctx)
}

func (o *Options) setDefaults() error {
	if o.Network == "" {
		o.Network = Testnet
	}
	if o.Network != Testnet && o.Network != Regtest {
		return fmt.Errorf("testnet: network %q: want %s or %s", o.Network, Testnet, Regtest)
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 0 || o.Miners < 0 {
		return fmt.Errorf("testnet: %d nodes and %d miners", o.Nodes, o.Miners)
	}
	o.Miners = min(o.Miners, o.Nodes)
	if o.Dir == "" {
		o.Dir = DefaultDir(o.Network)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	o.Dir = dir // the commands printed for the user must work from anywhere
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Refresh == 0 {
		o.Refresh = time.Second
	}
	if o.TxRate == 0 {
		o.TxRate = DefaultTxRate
	}
	return nil
}

func loadLayout(dir, network string) (*layout, error) {
	path := filepath.Join(dir, layoutFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &layout{Network: network}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	var l layout
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("testnet: %s: %w", path, err)
	}
	if l.Network != network {
		return nil, fmt.Errorf("testnet: %s is for network %q, not %s", path, l.Network, network)
	}
	return &l, nil
}

func (l *layout) save(dir string) error {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	// Write then rename, so an interrupted save leaves the old layout whole.
	path := filepath.Join(dir, layoutFile)
	if err := os.WriteFile(path+".tmp", append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("testnet: %w", err)
	}
	return nil
}

// ensureNodes gives the first n nodes a directory and ports, keeping those of
// earlier runs (peers remember each other by address) unless another program
// has taken a port since. It returns a note for each node that had to move.
func (l *layout) ensureNodes(dir, network string, n int) ([]string, error) {
	for len(l.Nodes) < n {
		l.Nodes = append(l.Nodes, layoutNode{Dir: "node" + strconv.Itoa(len(l.Nodes))})
	}
	used := map[int]bool{}
	for _, ln := range l.Nodes {
		used[ln.RPCPort], used[ln.P2PPort] = true, true
	}
	var notes []string
	for i := range n {
		ln := &l.Nodes[i]
		if ln.RPCPort != 0 && ln.P2PPort != 0 && testnet.PortFree(ln.RPCPort) && testnet.PortFree(ln.P2PPort) {
			continue
		}
		if ln.RPCPort != 0 {
			cookie := filepath.Join(dir, ln.Dir, network, ".cookie")
			if _, err := os.Stat(cookie); err == nil {
				return nil, fmt.Errorf("testnet: node%d's port %d or %d is in use and %s exists: is a testnet already running in %s?",
					i, ln.RPCPort, ln.P2PPort, cookie, dir)
			}
		}
		ports, err := unusedPorts(used)
		if err != nil {
			return nil, err
		}
		if ln.RPCPort != 0 {
			notes = append(notes, fmt.Sprintf("node%d: port %d or %d was taken; it moved to RPC %d, P2P %d.",
				i, ln.RPCPort, ln.P2PPort, ports[0], ports[1]))
		}
		ln.RPCPort, ln.P2PPort = ports[0], ports[1]
		used[ports[0]], used[ports[1]] = true, true
	}
	return notes, nil
}

// unusedPorts picks two free ports that no node of the layout has, as another
// node's port is free too while the testnet is down.
func unusedPorts(used map[int]bool) ([]int, error) {
	for range 100 {
		ports, err := testnet.FreePorts(2)
		if err != nil {
			return nil, err
		}
		if !used[ports[0]] && !used[ports[1]] {
			return ports, nil
		}
	}
	return nil, errors.New("testnet: no two free ports outside the layout's")
}

// setUpPayout finds or makes the wallet the miners pay to. It makes it with
// the wallet CLI, as a user would, or else with the wallet package, which
// writes the same keystore, so the CLI can use the wallet either way.
func setUpPayout(ctx context.Context, o Options, lay *layout) (payout, error) {
	p := payout{file: filepath.Join(o.Dir, walletFile), passFile: filepath.Join(o.Dir, passphraseFile)}
	pass, err := passphrase(p.passFile)
	if err != nil {
		return p, err
	}
	bin, binErr := walletBin(o)
	p.command = bin
	if binErr != nil {
		p.command = "go run ./cmd/wallet"
	}
	if _, err := os.Stat(p.file); err == nil && lay.MineAddress != "" {
		p.address = lay.MineAddress
		return p, nil
	}
	cliErr := binErr
	if cliErr == nil {
		if p.address, cliErr = cliAddress(ctx, bin, o.Network, p.file, pass); cliErr == nil {
			return p, nil
		}
	}
	// One line, though build errors come in several.
	reason := strings.Join(strings.Fields(cliErr.Error()), " ")
	p.note = fmt.Sprintf("The wallet CLI could not make the payout wallet (%s), so it was made with the wallet package.", reason)
	p.address, err = packageAddress(p.file, pass, o.Network)
	return p, err
}

// passphrase reads the wallet's passphrase, or makes one: a local testnet's
// wallet needs no secret a person chose, but the file must be encrypted with
// something the user can find.
func passphrase(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("testnet: %w", err)
	}
	pass := hex.EncodeToString(randomBytes(16))
	if err := os.WriteFile(path, []byte(pass+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	return pass, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails; see crypto/rand.Read
	return b
}

// walletBin finds the wallet CLI. One built for this run lives in a
// temporary directory that goes when the process ends, so it is copied into
// the testnet directory, where the commands printed can keep using it.
func walletBin(o Options) (string, error) {
	if o.WalletBin != "" {
		return o.WalletBin, nil
	}
	if env := os.Getenv(testnet.WalletBinEnv); env != "" {
		return env, nil
	}
	if o.NodeBin != "" {
		// `go install ./cmd/...` and release archives put both side by side.
		sibling := filepath.Join(filepath.Dir(o.NodeBin), "wallet")
		if fi, err := os.Stat(sibling); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return sibling, nil
		}
	}
	built, err := testnet.WalletBinary()
	if err != nil {
		return "", err
	}
	return keepBinary(built, filepath.Join(o.Dir, keptWallet))
}

// keepBinary copies the executable src to dst, whole or not at all.
func keepBinary(src, dst string) (string, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("keep %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", fmt.Errorf("keep %s: %w", src, err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o700); err != nil {
		return "", fmt.Errorf("keep %s: %w", src, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("keep %s: %w", src, err)
	}
	return dst, nil
}

// cliAddress creates the wallet with the CLI unless it exists, and asks it
// for a new receiving address.
func cliAddress(ctx context.Context, bin, network, file, pass string) (string, error) {
	run := func(command string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, walletTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "--network", network, "--wallet", file, command)
		cmd.Env = append(os.Environ(), "QUARRY_WALLET_PASSPHRASE="+pass)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr // stdin stays /dev/null: the CLI must not prompt
		out, err := cmd.Output()
		if err != nil {
			if msg := bytes.TrimSpace(stderr.Bytes()); len(msg) > 0 {
				err = fmt.Errorf("%w: %s", err, msg)
			}
			return "", fmt.Errorf("wallet %s: %w", command, err)
		}
		return string(out), nil
	}
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		if _, err := run("create"); err != nil {
			return "", err
		}
	}
	out, err := run("newaddress")
	if err != nil {
		return "", err
	}
	if addr := findAddress(out, network); addr != "" {
		return addr, nil
	}
	return "", fmt.Errorf("wallet newaddress printed no %s address: %q", network, out)
}

// findAddress returns the first word of out that is an address of network,
// so that the human output of newaddress can change around it.
func findAddress(out, network string) string {
	params, err := chain.ParamsByName(network)
	if err != nil {
		return ""
	}
	for _, word := range strings.Fields(out) {
		word = strings.Trim(word, `"',.:;()[]{}`)
		if _, err := params.DecodeAddress(word); err == nil {
			return word
		}
	}
	return ""
}

func packageAddress(file, pass, network string) (string, error) {
	params, err := chain.ParamsByName(network)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	var w *wallet.Wallet
	if _, err := os.Stat(file); err == nil {
		w, err = wallet.Open(file, params, []byte(pass))
		if err != nil {
			return "", fmt.Errorf("testnet: open %s: %w", file, err)
		}
	} else {
		mnemonic, err := wallet.NewMnemonic()
		if err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		if w, err = wallet.Create(file, params, []byte(pass), mnemonic, ""); err != nil {
			return "", fmt.Errorf("testnet: create %s: %w", file, err)
		}
	}
	defer w.Close()
	key, err := w.NewAddress(wallet.Receive)
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	return key.Address, nil
}

// localBanner says how to reach every node and the wallet.
func localBanner(ctx context.Context, o Options, tn *testnet.Network, pay payout, notes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Quarry local %s in %s (nodes: %d, mining: %d)\n", o.Network, o.Dir, o.Nodes, o.Miners)
	for _, note := range notes {
		b.WriteString(note + "\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tRPC\tEXPLORER\tCOOKIE\tP2P")
	for _, n := range tn.Nodes() {
		addrCtx, cancel := context.WithTimeout(ctx, statusTimeout)
		addr, err := n.Multiaddr(addrCtx)
		cancel()
		if err != nil {
			addr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, n.RPCURL(), n.WebURL(), n.CookieFile(), addr)
	}
	tw.Flush()
	first := tn.Node(0)
	fmt.Fprintf(&b, "\nAsk a node (the cookie is the user:password):\n"+
		"  curl -s --user \"$(cat %s)\" --data-binary '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getblockchaininfo\"}' %s\n",
		first.CookieFile(), first.RPCURL())
	fmt.Fprintf(&b, "\nThe miners pay to %s, in the wallet %s.\n", pay.address, pay.file)
	if pay.note != "" {
		b.WriteString(pay.note + "\n")
	}
	maturity := "some"
	if params, err := chain.ParamsByName(o.Network); err == nil {
		maturity = strconv.Itoa(int(params.CoinbaseMaturity))
	}
	// A shell function rather than a variable: zsh does not split $VAR into words.
	fmt.Fprintf(&b, "Try (mined coins can be spent %s blocks later):\n"+
		"  export QUARRY_WALLET_PASSPHRASE=\"$(cat %s)\"\n"+
		"  qwallet() { %s --network %s --wallet %s --rpc-url %s --rpc-cookie %s \"$@\"; }\n"+
		"  qwallet balance; qwallet newaddress; qwallet send ADDRESS 1.5; qwallet history\n",
		maturity, pay.passFile, pay.command, o.Network, pay.file, first.RPCURL(), first.CookieFile())
	fmt.Fprintf(&b, "\nLogs: %s, all a node printed: %s, the harness: %s\n",
		filepath.Join(o.Dir, "nodeN", o.Network, "node.log"), filepath.Join(o.Dir, "nodeN", "stderr.log"),
		filepath.Join(o.Dir, harnessLogFile))
	b.WriteString("Ctrl-C (or q) stops every node.\n")
	return b.String()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
