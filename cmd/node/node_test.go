package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/mempool/fees"
	"github.com/quarrychain/quarry/rpc/rpcclient"
)

func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	conf := "# a comment\nnetwork=regtest\nmine-threads=3\nlog-level=debug\ntxindex=0\n"
	if err := os.WriteFile(filepath.Join(dir, "quarry.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--datadir", dir, "--mine-threads", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Network != "regtest" || cfg.MineThreads != 1 || cfg.LogLevel != "debug" {
		t.Fatalf("config %+v: want the file's network and log level, the flag's threads", cfg)
	}
	if cfg.TxIndex || !cfg.AddrIndex || cfg.DBCacheMiB != 256 {
		t.Fatalf("config %+v: want txindex off from the file, addrindex on and a 256 MiB dbcache by default", cfg)
	}
	// The soft memory limit counts the index database while an index is on.
	withIndex := cfg.memoryLimit()
	cfg.AddrIndex = false
	if withIndex-cfg.memoryLimit() != blockchain.IndexStoreMemory {
		t.Fatalf("memory limit %d with the address index, %d without: want the index database's %d between", withIndex, cfg.memoryLimit(), blockchain.IndexStoreMemory)
	}
	if cfg.RPCListen != "127.0.0.1:18543" {
		t.Fatalf("default RPC address %q, want regtest's on 127.0.0.1", cfg.RPCListen)
	}
	// An empty host means loopback, not every interface: the metrics port
	// serves the profiler without authentication.
	cfg, err = loadConfig([]string{"--datadir", dir, "--metrics-listen", ":9332"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsListen != "127.0.0.1:9332" {
		t.Fatalf("--metrics-listen :9332 gives %q, want 127.0.0.1:9332", cfg.MetricsListen)
	}
	for _, bad := range []string{"nosuch=1\n", "network\n", "datadir=/elsewhere\n"} {
		os.WriteFile(filepath.Join(dir, "quarry.conf"), []byte(bad), 0o600)
		if _, err := loadConfig([]string{"--datadir", dir}, io.Discard); err == nil {
			t.Errorf("config file %q accepted", bad)
		}
	}
	os.Remove(filepath.Join(dir, "quarry.conf"))
	if cfg, err := loadConfig([]string{"--datadir", dir, "--network", "regtest", "--prune", "10", "--txindex=0"}, io.Discard); err != nil || cfg.pruneTargetBytes() != 10<<20 {
		t.Fatalf("regtest --prune 10: %v", err)
	}
	// --prune refused with Core's messages.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "regtest", "--prune", "10"}, "Prune mode is incompatible with -txindex."},
		{[]string{"--network", "regtest", "--prune", "1", "--txindex=1"}, "Prune mode is incompatible with -txindex."},
		{[]string{"--network", "testnet", "--prune", "549", "--txindex=0"}, "Prune configured below the minimum of 550 MiB.  Please use a higher number."},
		{[]string{"--network", "regtest", "--prune", "-1", "--txindex=0"}, "Prune cannot be configured with a negative value."},
		{[]string{"--network", "regtest", "--prune", "1", "--txindex=0", "--reindex-chainstate"}, "Prune mode is incompatible with -reindex-chainstate. Use full -reindex instead."},
	} {
		if _, err := loadConfig(append([]string{"--datadir", dir}, tc.args...), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	for _, args := range [][]string{
		{"--network", "simnet"},
		{"--network", "regtest", "--mine"},
		{"--network", "regtest", "--mine-address", "qry1qw508d6qejxtdg4y5r3zarvary0c5xw7kd8r7hw"},
		{"--network", "regtest", "--rpc-user", "u"},
		{"--network", "regtest", "--log-level", "loud"},
		{"--network", "regtest", "--metrics-listen", "9332"},
		{"--network", "regtest", "--dbcache", "1"},
		{"--network", "regtest", "--dbcache", "0"},
		{"--network", "regtest", "--dbcache", "9223372036854775807"},
		{"--network", "regtest", "--prune", "9223372036854775807", "--txindex=0"},
		{"--network", "regtest", "--assumevalid", "00ff"},
		{"--network", "regtest", "--block-max-size", "999"},
		{"--network", "regtest", "--block-max-size", "1000001"},
	} {
		if _, err := loadConfig(append([]string{"--datadir", dir}, args...), io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// A node started in-process answers RPC, serves its metrics and stops cleanly,
// removing its cookie and saving its mempool.
func TestNodeStartsServesAndStops(t *testing.T) {
	dir := t.TempDir()
	cfg, err := loadConfig([]string{"--network", "regtest", "--datadir", dir,
		"--rpc-listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0",
		"--metrics-listen", "127.0.0.1:0", "--web-listen", "off"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := startNode(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	cookie := filepath.Join(cfg.networkDir(), ".cookie")
	client := rpcclient.NewClient("http://"+n.rpc.Addr().String(), rpcclient.WithCookieFile(cookie))
	var hashes []string
	if err := client.Call(context.Background(), "generatetoaddress", []any{3, "rqry1qw508d6qejxtdg4y5r3zarvary0c5xw7kd8r7hw"}, &hashes); err != nil || len(hashes) != 3 {
		t.Fatalf("generatetoaddress: %v %v", hashes, err)
	}
	resp, err := http.Get("http://" + n.metricsAddr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"quarry_chain_height 3", "quarry_blocks_accepted_total 3", "quarry_peers 0",
		"quarry_mempool_transactions 0", "quarry_miner_hashes_per_second", `quarry_rpc_calls_total{method="generatetoaddress"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	resp, err = http.Get("http://" + n.metricsAddr.String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Errorf("profile endpoint answered %d: %.200s", resp.StatusCode, body)
	}
	if err := client.Call(context.Background(), "stop", nil, nil); err != nil {
		t.Fatal(err)
	}
	<-n.stopRequested
	if err := n.shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cookie); !os.IsNotExist(err) {
		t.Errorf("cookie still there after stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.networkDir(), "mempool.dat")); err != nil {
		t.Errorf("mempool not saved: %v", err)
	}
	for _, db := range []string{"chain", "indexes"} {
		if _, err := os.Stat(filepath.Join(cfg.networkDir(), db, "MANIFEST")); err != nil {
			t.Errorf("no %s database next to the others: %v", db, err)
		}
	}
	if err := fees.New().Load(filepath.Join(cfg.networkDir(), "fee_estimates.dat")); err != nil {
		t.Errorf("fee estimates not saved readably: %v", err)
	}
}

// A mining node finds its first regtest block at once, before start-up could
// finish if the miner ran early; the block must be published on a network
// that is already up.
func TestMiningNodePublishesFromTheStart(t *testing.T) {
	dir := t.TempDir()
	cfg, err := loadConfig([]string{"--network", "regtest", "--datadir", dir,
		"--rpc-listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0",
		"--web-listen", "off",
		"--mine", "--mine-address", "rqry1qw508d6qejxtdg4y5r3zarvary0c5xw7kd8r7hw", "--mine-threads", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for n.chain.Best().Height < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("mined to height %d in 30 s", n.chain.Best().Height)
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.requestStop()
	if err := n.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// A node that dies without a clean stop keeps its fee history up to the last
// periodic save: the file appears while the node runs.
func TestNodeSavesFeeEstimatesWhileRunning(t *testing.T) {
	dir := t.TempDir()
	cfg, err := loadConfig([]string{"--network", "regtest", "--datadir", dir,
		"--rpc-listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--web-listen", "off"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.feesSaveInterval = 20 * time.Millisecond
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.shutdown()
	path := filepath.Join(cfg.networkDir(), "fee_estimates.dat")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no fee_estimates.dat 10 s into a running node's life")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := fees.New().Load(path); err != nil {
		t.Errorf("periodically saved fee estimates do not load: %v", err)
	}
}
