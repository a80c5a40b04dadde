// Command node is the Quarry full node: it keeps and validates the chain,
// relays blocks and transactions to its peers, mines when asked and answers
// JSON-RPC. `node testnet` starts a local testnet of several nodes instead
// (package cmd/node/localnet).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
)

// nodeMemoryMargin is what the node's soft memory limit allows the parts
// other than the chain, the mempool and sync's queue of blocks: peers, RPC,
// the miner.
const nodeMemoryMargin = 64 << 20

func main() {
	if len(os.Args) > 1 && os.Args[1] == "testnet" {
		os.Exit(runTestnet(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cfg, err := loadConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 2
	}
	if err := os.MkdirAll(cfg.networkDir(), 0o700); err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	logFile, err := os.OpenFile(filepath.Join(cfg.networkDir(), "node.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	defer logFile.Close()
	level, _ := parseLogLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(io.MultiWriter(stderr, logFile), &slog.HandlerOptions{Level: level}))

	// Badger's memtables and table builds come and go in large pieces, and
	// with the default GOGC the heap can grow to twice what is live. A soft
	// limit (the chain's share with its UTXO cache, as chain/blockchain
	// counts it, plus the index database's memory, the mempool's bound,
	// sync's queue of blocks and a margin) makes the collector work harder
	// before memory grows past it; GOMEMLIMIT, if set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.memoryLimit())
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	n, err := startNode(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 1
	}
	select {
	case <-ctx.Done():
		log.Info("signal received, shutting down")
	case <-n.stopRequested:
		log.Info("stop requested over RPC, shutting down")
	}
	if err := n.shutdown(); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
