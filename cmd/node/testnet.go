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
)

// runTestnet is `node testnet`: a local testnet of this binary's nodes.
func runTestnet(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node testnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "how many nodes run")
	miners := fs.Int("miners", 2, "how many of them mine")
	dir := fs.String("dir", localnet.DefaultDir(), "directory of the nodes; the same directory resumes the same chain")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *nodes < 1 || *miners < 0 || *miners > *nodes {
		fmt.Fprintf(stderr, "node testnet: want --nodes at least 1 and --miners between 0 and --nodes\n")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "node testnet: %v\n", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	err = localnet.Run(ctx, localnet.Options{Nodes: *nodes, Miners: *miners, Dir: *dir, NodeBin: self, Stdout: stdout})
	if err != nil {
		fmt.Fprintf(stderr, "node testnet: %v\n", err)
		return 1
	}
	return 0
}
