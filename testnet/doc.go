// Package testnet is the harness that runs several real Quarry node processes
// on one machine, for the end-to-end tests and for `node testnet`
// (cmd/node/localnet), which builds its interactive local testnet on it.
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
// With Options.Namespaces (Linux, root, iproute2), each node runs instead in a
// network namespace of its own with its own address on a bridge
// (10.213.0.0/24, which exists only inside the namespaces), so that bans and
// limits by address are tested with real distinct addresses. The harness
// reaches the nodes by dialling from inside their namespaces, deletes the
// namespaces on Close, and deletes those of runs that died before it.
//
// The tests of the harness itself run fake nodes (package testnet/fakenode),
// real processes that answer the RPC the harness uses, so that ports, cookies,
// signals, restarts and links are tested in seconds without the node.
package testnet
