// Package testnet owns running several real Quarry node processes on one
// machine: the harness the end-to-end tests use and the local testnet that
// `node testnet` starts.
//
// The harness (New in tests, Launch elsewhere) builds the node binary once per
// process (or takes $QUARRY_NODE_BIN), starts N nodes on 127.0.0.1 with their
// own data directories and free RPC and P2P ports, links them in a chosen
// Topology with addnode or --connect (never mDNS), and hands out an rpcclient.Client
// per node authenticated with its cookie file. Any node can be stopped with
// SIGTERM, killed with SIGKILL, restarted on the same directory and ports, or
// cut off from and relinked to another node. The Wait helpers poll the nodes'
// RPC until they agree on a tip or a mempool, reach a height, or have peers,
// and say what they last saw when the deadline passes.
//
// Each node's stderr (its log included) is kept in <dir>/stderr.log, and a
// failed test prints the tail of every node's log. Every node runs in its own
// process group and, on Linux, dies with the process that started it, so a
// test that panics or times out leaves no node behind.
//
// RunLocal is `node testnet`: it keeps a testnet of nodes, a payout wallet and
// their ports in one directory (described by testnet.json, so a second run
// resumes the same chain), mines on some of the nodes and shows a live table of
// every node's state until its context is cancelled.
package testnet
