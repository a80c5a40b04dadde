// Package fakenode stands in for the node and wallet binaries in tests of the
// testnet harness and of `node testnet`: a test binary whose TestMain calls
// RunIfRequested becomes a fake node when started with Env set, or a fake
// wallet CLI when started under the name "wallet". So the harness's process
// handling (ports, cookies, signals, restarts, links) is tested on real
// processes in a second, without building the node.
package fakenode

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
)

// Env, set to anything in a process's environment, makes a test binary that
// calls RunIfRequested a fake node or wallet.
const Env = "QUARRY_TESTNET_FAKE"

// FailPortFile, in a fake node's --datadir, makes its next start fail as a
// node does on a taken port, once.
const FailPortFile = "fail-port-once"

// RunIfRequested runs the fake node (or, under the name "wallet", the fake
// wallet CLI) and exits when Env is set; otherwise it returns at once. A
// test package's TestMain calls it before m.Run.
func RunIfRequested() {
	if os.Getenv(Env) == "" {
		return
	}
	if filepath.Base(os.Args[0]) == "wallet" {
		os.Exit(fakeWallet(os.Args[1:]))
	}
	os.Exit(fakeNode(os.Args[1:]))
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// fakeNode answers the RPC methods the harness uses, with a chain whose
// block hashes depend on the height only (so fake nodes at one height agree),
// and "P2P" links that are TCP connections exchanging peer ids.
func fakeNode(args []string) int {
	fs := flag.NewFlagSet("fakenode", flag.ContinueOnError)
	network := fs.String("network", "main", "")
	datadir := fs.String("datadir", "", "")
	rpcListen := fs.String("rpc-listen", "", "")
	fs.String("log-level", "info", "")
	fs.String("web-listen", "", "")
	fs.String("mine-address", "", "")
	fs.Int("mine-threads", 1, "")
	mine := fs.Bool("mine", false, "")
	var p2pListen, connect listFlag
	fs.Var(&p2pListen, "p2p-listen", "")
	fs.Var(&connect, "connect", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := os.Remove(filepath.Join(*datadir, FailPortFile)); err == nil {
		fmt.Fprintf(os.Stderr, "listen tcp %s: bind: address already in use\n", *rpcListen)
		return 1
	}
	netDir := filepath.Join(*datadir, *network)
	if err := os.MkdirAll(netDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logFile, err := os.OpenFile(filepath.Join(netDir, "node.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logFile), nil))

	f := &fake{log: log, peers: map[string]net.Conn{}, added: map[string]bool{}}
	if err := f.run(*network, netDir, *rpcListen, p2pListen, connect, *mine); err != nil {
		log.Error("fake node failed", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

type fake struct {
	log     *slog.Logger
	id      string
	p2pPort int

	mu     sync.Mutex
	height int64
	mining bool // --mine, or setgenerate; a block every 100 ms
	peers  map[string]net.Conn
	added  map[string]bool
}

func (f *fake) run(network, netDir, rpcListen string, p2pListen, connect []string, mine bool) error {
	idPath := filepath.Join(netDir, "p2p.key")
	id, err := os.ReadFile(idPath)
	if errors.Is(err, os.ErrNotExist) {
		id = []byte("12D3KooWfake" + rand.Text()[:16])
		err = os.WriteFile(idPath, id, 0o600)
	}
	if err != nil {
		return err
	}
	f.id = string(id)
	f.mining = mine
	if len(p2pListen) != 1 {
		return fmt.Errorf("want one --p2p-listen, got %q", p2pListen)
	}
	port, err := strconv.Atoi(strings.TrimPrefix(p2pListen[0], "/ip4/127.0.0.1/tcp/"))
	if err != nil {
		return fmt.Errorf("--p2p-listen %q: %w", p2pListen[0], err)
	}
	f.p2pPort = port
	ln, err := net.Listen("tcp", loopback(port))
	if err != nil {
		return err
	}
	defer ln.Close()
	go f.accept(ln)
	for _, addr := range connect {
		if err := f.dial(addr); err != nil {
			return err
		}
	}

	stop := make(chan struct{})
	var stopOnce sync.Once
	reg := rpc.NewRegistry()
	f.register(reg, network, func() { stopOnce.Do(func() { close(stop) }) })
	srv, err := rpc.NewServer(reg, rpc.Config{Addr: rpcListen, CookiePath: filepath.Join(netDir, ".cookie"), Logger: f.log})
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	f.log.Info("fake node up", "rpc", rpcListen, "id", f.id)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return srv.Stop(context.Background())
		case <-stop:
			return srv.Stop(context.Background())
		case <-tick.C:
			f.mu.Lock()
			if f.mining {
				f.height++
			}
			f.mu.Unlock()
		}
	}
}

// BlockHash is the hash of a fake node's block at height: it depends on the
// height only, so fake nodes at one height agree on their tip.
func BlockHash(height int64) string {
	sum := sha256.Sum256([]byte("fake block " + strconv.FormatInt(height, 10)))
	return hex.EncodeToString(sum[:])
}

func (f *fake) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			id, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				c.Close()
				return
			}
			fmt.Fprintln(c, f.id)
			f.keep(strings.TrimSpace(id), c)
		}()
	}
}

func (f *fake) dial(addr string) error {
	parts := strings.Split(addr, "/")
	if len(parts) != 7 {
		return rpc.Errorf(rpc.CodeInvalidParameter, "bad address %q", addr)
	}
	c, err := net.Dial("tcp", loopback(atoi(parts[4])))
	if err != nil {
		return err
	}
	fmt.Fprintln(c, f.id)
	id, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return err
	}
	go f.keep(strings.TrimSpace(id), c)
	return nil
}

// keep holds a link until either side closes it.
func (f *fake) keep(id string, c net.Conn) {
	f.mu.Lock()
	f.peers[id] = c
	f.mu.Unlock()
	io.Copy(io.Discard, c)
	f.mu.Lock()
	if f.peers[id] == c {
		delete(f.peers, id)
	}
	f.mu.Unlock()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (f *fake) register(reg *rpc.Registry, network string, stop func()) {
	method := func(name string, params []rpc.Param, h func(p *rpc.Params) (any, error)) rpc.Method {
		return rpc.Method{Name: name, Category: "fake", Summary: "Fake " + name + ".", Result: "fake", Params: params,
			Handler: func(_ context.Context, p *rpc.Params) (any, error) {
				if err := p.Err(); err != nil {
					return nil, err
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				return h(p)
			}}
	}
	str := func(name string, required bool) rpc.Param {
		return rpc.Param{Name: name, Type: rpc.TypeString, Required: required, Description: name}
	}
	reg.Register(
		method("getbestblockhash", nil, func(*rpc.Params) (any, error) { return BlockHash(f.height), nil }),
		method("getblockcount", nil, func(*rpc.Params) (any, error) { return f.height, nil }),
		method("getblockchaininfo", nil, func(*rpc.Params) (any, error) {
			return map[string]any{"chain": network, "blocks": f.height, "bestblockhash": BlockHash(f.height), "difficulty": 1}, nil
		}),
		method("getmininginfo", nil, func(*rpc.Params) (any, error) {
			return map[string]any{"blocks": f.height, "hashespersec": 1500, "generate": f.mining}, nil
		}),
		method("getgenerate", nil, func(*rpc.Params) (any, error) { return f.mining, nil }),
		method("setgenerate", []rpc.Param{{Name: "generate", Type: rpc.TypeBool, Required: true, Description: "g"},
			{Name: "genproclimit", Type: rpc.TypeNumber, Default: "-1", Description: "t"}},
			func(p *rpc.Params) (any, error) {
				f.mining = p.Bool("generate")
				return nil, nil
			}),
		method("getmempoolinfo", nil, func(*rpc.Params) (any, error) { return map[string]any{"size": 0, "bytes": 0}, nil }),
		method("getrawmempool", nil, func(*rpc.Params) (any, error) { return []string{}, nil }),
		method("getblockheader", []rpc.Param{str("blockhash", true), {Name: "verbose", Type: rpc.TypeBool, Default: "true", Description: "v"}},
			func(p *rpc.Params) (any, error) {
				for h := f.height; h >= 0; h-- {
					if BlockHash(h) == p.String("blockhash") {
						hdr := map[string]any{"hash": BlockHash(h), "height": h, "time": 1_700_000_000 + 7*h}
						if h > 0 {
							hdr["previousblockhash"] = BlockHash(h - 1)
						}
						return hdr, nil
					}
				}
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Block not found")
			}),
		method("generatetoaddress", []rpc.Param{{Name: "nblocks", Type: rpc.TypeNumber, Required: true, Description: "n"}, str("address", true)},
			func(p *rpc.Params) (any, error) {
				var hashes []string
				for range p.Int("nblocks") {
					f.height++
					hashes = append(hashes, BlockHash(f.height))
				}
				return hashes, nil
			}),
		method("getnetworkinfo", nil, func(*rpc.Params) (any, error) {
			// A QUIC address first, so the harness must pick the TCP one.
			return map[string]any{"connections": len(f.peers), "localaddresses": []map[string]any{
				{"address": fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1/p2p/%s", f.p2pPort, f.id)},
				{"address": fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", f.p2pPort, f.id)},
			}}, nil
		}),
		method("getconnectioncount", nil, func(*rpc.Params) (any, error) { return len(f.peers), nil }),
		method("getpeerinfo", nil, func(*rpc.Params) (any, error) {
			out := []map[string]any{}
			for id, c := range f.peers {
				out = append(out, map[string]any{"id": id, "addr": "/ip4/127.0.0.1/tcp/" +
					strconv.Itoa(c.RemoteAddr().(*net.TCPAddr).Port) + "/p2p/" + id})
			}
			return out, nil
		}),
		method("addnode", []rpc.Param{str("node", true), str("command", true)}, func(p *rpc.Params) (any, error) {
			addr := p.String("node")
			_, id, _ := strings.Cut(addr, "/p2p/")
			switch p.String("command") {
			case "add":
				if f.added[id] {
					return nil, rpc.Errorf(rpc.CodeClientNodeAlreadyAdded, "Node already added")
				}
				f.added[id] = true
			case "remove":
				if !f.added[id] {
					return nil, rpc.Errorf(rpc.CodeClientNodeNotAdded, "Node has not been added")
				}
				delete(f.added, id)
				return nil, nil
			}
			if _, ok := f.peers[id]; ok {
				return nil, nil
			}
			// dial registers the link from its own goroutine, which needs f.mu.
			go func() {
				if err := f.dial(addr); err != nil {
					f.log.Warn("dial failed", "addr", addr, "err", err)
				}
			}()
			return nil, nil
		}),
		method("disconnectnode", []rpc.Param{str("address", true)}, func(p *rpc.Params) (any, error) {
			_, id, _ := strings.Cut(p.String("address"), "/p2p/")
			c, ok := f.peers[id]
			if !ok {
				return nil, rpc.Errorf(rpc.CodeClientNodeNotConnected, "Node not found in connected nodes")
			}
			return nil, c.Close()
		}),
		method("stop", nil, func(*rpc.Params) (any, error) { stop(); return "Quarry server stopping", nil }),
	)
}

// fakeWallet is the wallet CLI's contract as localnet.Run uses it: global flags,
// then create or newaddress, the passphrase from the environment.
func fakeWallet(args []string) int {
	fs := flag.NewFlagSet("fakewallet", flag.ContinueOnError)
	network := fs.String("network", "", "")
	file := fs.String("wallet", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || os.Getenv("QUARRY_WALLET_PASSPHRASE") == "" {
		fmt.Fprintln(os.Stderr, "usage: wallet --network N --wallet FILE create|newaddress, with QUARRY_WALLET_PASSPHRASE")
		return 2
	}
	params, err := chain.ParamsByName(*network)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	switch fs.Arg(0) {
	case "create":
		if err := os.WriteFile(*file, []byte("{}"), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("Write down these words: abandon abandon ...")
	case "newaddress":
		var pkh [chain.PubKeyHashSize]byte
		copy(pkh[:], "fake wallet address")
		fmt.Printf("New address: %s\n", params.EncodeAddress(pkh))
	default:
		return 2
	}
	return 0
}

// loopback is port's address on 127.0.0.1, where the harness runs every node.
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
