package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/p2p"
)

// config is the node's settings after flags and the config file are merged.
type config struct {
	Network       string
	DataDir       string
	RPCListen     string
	RPCUser       string
	RPCPassword   string
	P2PListen     []string
	Connect       []string
	Bootstrap     []string
	MDNS          bool
	DHT           bool
	Mine          bool
	MineAddress   string
	MineThreads   int
	LogLevel      string
	MetricsListen string
	Reindex       bool
	ReindexChain  bool
	DBCacheMiB    int
	PruneMiB      int64
	AssumeValid   string
	TxIndex       bool
	AddrIndex     bool
	MinRelayFee   uint64
	MaxMempoolMB  int
	BlockMaxSize  int
	WebListen     string
	BlockNotify   string

	params *chain.Params
	// feesSaveInterval is how often fee_estimates.dat is written while the
	// node runs; zero is fees.SaveInterval. Only tests change it.
	feesSaveInterval time.Duration
}

// minPruneMiB is the smallest automatic --prune target on main and testnet, as
// Core's: regtest takes any size, so tests can prune short chains.
const minPruneMiB = 550

// maxSizeMiB bounds --dbcache and --prune (an exbibyte): a larger value would
// overflow when turned into bytes, and a wrapped size would flush the cache at
// every block, drop the memory limit or turn automatic pruning off.
const maxSizeMiB = 1 << 40

// minBlockMaxSize is the smallest --block-max-size: room for the header, a
// coinbase and a few transactions, as Core's -blockmaxweight floor of 4,000.
const minBlockMaxSize = 1000

// checkPrune refuses --prune settings Core refuses, with Core's messages (so
// "-txindex" with one dash, as Core names its options).
func (cfg *config) checkPrune() error {
	switch {
	case cfg.PruneMiB < 0:
		//lint:ignore ST1005 Core's message, word for word
		return errors.New("Prune cannot be configured with a negative value.")
	case cfg.PruneMiB == 0:
		return nil
	case cfg.PruneMiB > maxSizeMiB:
		return fmt.Errorf("--prune must be at most %d MiB, got %d", maxSizeMiB, cfg.PruneMiB)
	case cfg.TxIndex:
		//lint:ignore ST1005 Core's message, word for word
		return errors.New("Prune mode is incompatible with -txindex.")
	case cfg.ReindexChain:
		// Reconnecting every block needs the pruned ones: the chain would
		// fail on the first, "not stored", after dropping its state.
		//lint:ignore ST1005 Core's message, word for word
		return errors.New("Prune mode is incompatible with -reindex-chainstate. Use full -reindex instead.")
	case cfg.PruneMiB > blockchain.PruneManual && cfg.PruneMiB < minPruneMiB && cfg.params.Name != chain.RegtestParams.Name:
		//lint:ignore ST1005 Core's message, word for word
		return fmt.Errorf("Prune configured below the minimum of %d MiB.  Please use a higher number.", minPruneMiB)
	}
	return nil
}

// pruneTargetBytes is --prune for blockchain.Config.
func (cfg *config) pruneTargetBytes() int64 {
	if cfg.PruneMiB <= blockchain.PruneManual {
		return cfg.PruneMiB
	}
	return cfg.PruneMiB << 20
}

// assumeValid is the --assumevalid block for blockchain.Config: nil for the
// network's default, a zero hash for none.
func (cfg *config) assumeValid() *chain.Hash {
	switch cfg.AssumeValid {
	case "":
		return nil
	case "0":
		return &chain.Hash{}
	}
	h, _ := chain.ParseHash(cfg.AssumeValid) // checked by loadConfig
	return &h
}

// listFlag is a repeatable string flag.
type listFlag struct{ values *[]string }

func (l listFlag) String() string {
	if l.values == nil {
		return ""
	}
	return strings.Join(*l.values, ",")
}

func (l listFlag) Set(v string) error {
	*l.values = append(*l.values, v)
	return nil
}

func defaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".quarry"
	}
	return filepath.Join(home, ".quarry")
}

func newFlagSet(cfg *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Network, "network", "main", "network: main, testnet or regtest")
	fs.StringVar(&cfg.DataDir, "datadir", defaultDataDir(), "data directory; the network's files go in <datadir>/<network>/")
	fs.StringVar(&cfg.RPCListen, "rpc-listen", "", "JSON-RPC address HOST:PORT (default 127.0.0.1 and the network's RPC port)")
	fs.StringVar(&cfg.RPCUser, "rpc-user", "", "JSON-RPC user name (the cookie file works without it)")
	fs.StringVar(&cfg.RPCPassword, "rpc-password", "", "JSON-RPC password")
	fs.Var(listFlag{&cfg.P2PListen}, "p2p-listen", "P2P listen multiaddr (repeatable; default TCP and QUIC on all interfaces at the network's P2P port)")
	fs.Var(listFlag{&cfg.Connect}, "connect", "peer multiaddr ending in /p2p/<id> to dial and keep (repeatable)")
	fs.Var(listFlag{&cfg.Bootstrap}, "bootstrap", "DHT bootstrap peer multiaddr (repeatable)")
	fs.BoolVar(&cfg.MDNS, "mdns", false, "discover peers on the local network with mDNS (multicasts beyond loopback)")
	fs.BoolVar(&cfg.DHT, "dht", false, "discover peers through the Kademlia DHT (the public network)")
	fs.BoolVar(&cfg.Mine, "mine", false, "mine blocks")
	fs.StringVar(&cfg.MineAddress, "mine-address", "", "address the mined coins are paid to (required with --mine)")
	fs.IntVar(&cfg.MineThreads, "mine-threads", runtime.NumCPU(), "nonce-search workers")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "Prometheus metrics (/metrics) and Go profiles (/debug/pprof/) address HOST:PORT (off unless set)")
	fs.BoolVar(&cfg.Reindex, "reindex", false, "rebuild the block index, the chain state and the indexes from the stored blocks")
	fs.BoolVar(&cfg.ReindexChain, "reindex-chainstate", false, "rebuild the chain state (UTXO set, main chain) from the stored blocks, keeping the block index and the indexes")
	fs.IntVar(&cfg.DBCacheMiB, "dbcache", blockchain.DefaultDBCacheMiB, "UTXO cache size in MiB; the chain state is written to disk when it is full")
	fs.StringVar(&cfg.AssumeValid, "assumevalid", "", "block hash whose ancestors' signatures are not checked again (default: the network's; 0: check every signature)")
	fs.Int64Var(&cfg.PruneMiB, "prune", 0, "delete old blocks to keep those stored under this many MiB (at least 550 on main and testnet; the last 288 blocks stay); 1: only on pruneblockchain; 0: keep every block")
	fs.BoolVar(&cfg.TxIndex, "txindex", true, "keep an index of every transaction by txid (getrawtransaction of confirmed transactions); =0 turns it off")
	fs.BoolVar(&cfg.AddrIndex, "addrindex", true, "keep an index of outputs and transactions by address (the getaddress* calls, the wallet); =0 turns it off")
	fs.Uint64Var(&cfg.MinRelayFee, "min-relay-fee", 1, "minimum relay fee rate, base units per byte")
	fs.IntVar(&cfg.MaxMempoolMB, "max-mempool", 300, "mempool size limit in MB")
	fs.IntVar(&cfg.BlockMaxSize, "block-max-size", chain.MaxBlockSize, "largest block this node's miner and block templates build, in bytes (Core's -blockmaxweight)")
	fs.StringVar(&cfg.WebListen, "web-listen", "", "explorer, REST (/rest/) and events (/events) address HOST:PORT, or off\n(default: off on main, 127.0.0.1 and the network's web port on testnet and regtest)")
	fs.StringVar(&cfg.BlockNotify, "blocknotify", "", "command to run for each new tip, %s replaced by its hash (run without a shell)")
	return fs
}

// loadConfig parses args, then fills every flag not given on the command line
// from <datadir>/quarry.conf (key=value lines, # comments), so flags win.
func loadConfig(args []string, out io.Writer) (*config, error) {
	cfg := &config{}
	fs := newFlagSet(cfg, out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	confPath := filepath.Join(cfg.DataDir, "quarry.conf")
	if err := applyConfFile(fs, confPath, set); err != nil {
		return nil, err
	}
	params, err := chain.ParamsByName(cfg.Network)
	if err != nil {
		return nil, err
	}
	cfg.params = params
	if cfg.RPCListen == "" {
		cfg.RPCListen = fmt.Sprintf("127.0.0.1:%d", params.DefaultRPCPort)
	}
	if cfg.MetricsListen != "" {
		if cfg.MetricsListen, err = loopbackIfNoHost(cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	if err := cfg.setWebListen(); err != nil {
		return nil, err
	}
	if len(cfg.P2PListen) == 0 {
		cfg.P2PListen = []string{
			fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", params.DefaultP2PPort),
			fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", params.DefaultP2PPort),
		}
	}
	if cfg.Mine && cfg.MineAddress == "" {
		return nil, errors.New("--mine needs --mine-address")
	}
	if cfg.MineAddress != "" {
		if _, err := params.DecodeAddress(cfg.MineAddress); err != nil {
			return nil, fmt.Errorf("--mine-address: %w", err)
		}
	}
	if cfg.AssumeValid != "" && cfg.AssumeValid != "0" {
		if _, err := chain.ParseHash(cfg.AssumeValid); err != nil {
			return nil, fmt.Errorf("--assumevalid: %w", err)
		}
	}
	if err := cfg.checkPrune(); err != nil {
		return nil, err
	}
	if cfg.DBCacheMiB < 4 {
		return nil, fmt.Errorf("--dbcache must be at least 4 MiB, got %d", cfg.DBCacheMiB)
	}
	if cfg.DBCacheMiB > maxSizeMiB {
		return nil, fmt.Errorf("--dbcache must be at most %d MiB, got %d", maxSizeMiB, cfg.DBCacheMiB)
	}
	if cfg.BlockMaxSize < minBlockMaxSize || cfg.BlockMaxSize > chain.MaxBlockSize {
		return nil, fmt.Errorf("--block-max-size must be from %d to %d bytes, got %d", minBlockMaxSize, chain.MaxBlockSize, cfg.BlockMaxSize)
	}
	if cfg.MineThreads < 1 {
		return nil, fmt.Errorf("--mine-threads must be at least 1, got %d", cfg.MineThreads)
	}
	if (cfg.RPCUser == "") != (cfg.RPCPassword == "") {
		return nil, errors.New("--rpc-user and --rpc-password go together")
	}
	if _, err := parseLogLevel(cfg.LogLevel); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loopbackIfNoHost gives a listen address with an empty host 127.0.0.1, as
// DESIGN.md fixes for every listen address: ":9332" would otherwise serve
// the metrics and the unauthenticated profiler on every interface.
func loopbackIfNoHost(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func applyConfFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return fmt.Errorf("%s:%d: want key=value, got %q", path, line, text)
		}
		if fs.Lookup(k) == nil {
			return fmt.Errorf("%s:%d: unknown setting %q", path, line, k)
		}
		if k == "datadir" {
			return fmt.Errorf("%s:%d: datadir cannot be set from inside the data directory", path, line)
		}
		if set[k] {
			continue
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, line, k, err)
		}
	}
	return sc.Err()
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level: want debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// defaultWebPorts are the explorer's ports (DESIGN.md), beside each
// network's RPC and P2P ports.
var defaultWebPorts = map[string]int{"main": 8434, "testnet": 18434, "regtest": 18545}

// setWebListen settles --web-listen: "off", or unset on main, serves nothing
// (WebListen ""); unset on testnet and regtest is 127.0.0.1 and the
// network's port; an empty host or port takes 127.0.0.1 or that port.
func (c *config) setWebListen() error {
	port := defaultWebPorts[c.Network]
	switch {
	case c.WebListen == "off":
		c.WebListen = ""
		return nil
	case c.WebListen == "" && c.Network == "main":
		return nil
	case c.WebListen == "":
		c.WebListen = fmt.Sprintf("127.0.0.1:%d", port)
		return nil
	}
	addr := c.WebListen
	if strings.HasSuffix(addr, ":") {
		addr += strconv.Itoa(port)
	}
	listen, err := loopbackIfNoHost(addr)
	if err != nil {
		return fmt.Errorf("--web-listen: want HOST:PORT or off: %w", err)
	}
	c.WebListen = listen
	return nil
}

// networkDir is <datadir>/<network>, where the chain, indexes, cookie, key and
// log live.
func (c *config) networkDir() string { return filepath.Join(c.DataDir, c.Network) }

// memoryLimit is the node's soft memory limit: the chain's share with its
// UTXO cache (as chain/blockchain counts it), the mempool's bound, the
// blocks sync holds for the chain, a margin for the rest of the node, and
// the index database's memory when an index is on.
func (c *config) memoryLimit() int64 {
	limit := blockchain.SoftMemoryLimit(int64(c.DBCacheMiB)<<20) + nodeMemoryMargin + int64(c.MaxMempoolMB)*1_000_000 + p2p.SyncQueueBytes
	if c.TxIndex || c.AddrIndex {
		limit += blockchain.IndexStoreMemory
	}
	return limit
}
