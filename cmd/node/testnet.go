package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/quarrychain/quarry/cmd/node/localnet"
	"github.com/quarrychain/quarry/testnet"
)

// topologies are --topology's values.
var topologies = map[string]testnet.Topology{
	"line": testnet.Line, "ring": testnet.Ring, "star": testnet.Star, "mesh": testnet.FullMesh,
}

// flagSet reports whether the command line set the flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runTestnet is `node testnet`: a local testnet of this binary's nodes.
func runTestnet(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node testnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	network := fs.String("network", localnet.Testnet, "testnet, or regtest to mine only on demand (the g key, or a miner switched on)")
	nodes := fs.Int("nodes", 3, "how many nodes run")
	miners := fs.Int("miners", 2, "how many of them mine from the start (regtest: 0 unless set)")
	dir := fs.String("dir", "", "directory of the nodes; the same directory resumes the same chain (default "+localnet.DefaultDir(localnet.Testnet)+", or quarry-regtest there)")
	topology := fs.String("topology", "mesh", "how the nodes are linked: line, ring, star or mesh")
	txRate := fs.Float64("tx-rate", localnet.DefaultTxRate, "transactions per second of the load the t key starts (+ and - double and halve it)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *network == localnet.Regtest && !flagSet(fs, "miners") {
		*miners = 0
	}
	if *nodes < 1 || *miners < 0 || *miners > *nodes {
		fmt.Fprintf(stderr, "node testnet: want --nodes at least 1 and --miners between 0 and --nodes\n")
		return 2
	}
	if *network != localnet.Testnet && *network != localnet.Regtest {
		fmt.Fprintf(stderr, "node testnet: --network %q: want testnet or regtest\n", *network)
		return 2
	}
	if *txRate < localnet.MinTxRate || *txRate > localnet.MaxTxRate {
		fmt.Fprintf(stderr, "node testnet: --tx-rate %g: want %g to %g\n", *txRate, localnet.MinTxRate, float64(localnet.MaxTxRate))
		return 2
	}
	topo, ok := topologies[*topology]
	if !ok {
		fmt.Fprintf(stderr, "node testnet: --topology %q: want line, ring, star or mesh\n", *topology)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "node testnet: %v\n", err)
		return 1
	}
	// SIGHUP too: closing the terminal must stop the nodes, which run in
	// their own process groups and would not hear of it.
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	err = localnet.Run(ctx, localnet.Options{Network: *network, Nodes: *nodes, Miners: *miners, Dir: *dir, NodeBin: self,
		Topology: topo, Stdout: stdout, Keys: os.Stdin, TxRate: *txRate})
	if err != nil {
		fmt.Fprintf(stderr, "node testnet: %v\n", err)
		return 1
	}
	return 0
}
