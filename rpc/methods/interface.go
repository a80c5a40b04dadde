package methods

import (
	"context"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/p2p"
)

// The interfaces below are all the methods reach of the node's parts besides
// the chain itself, which they read directly: the block and UTXO queries are
// the chain's whole API, and the tests drive them against a real chain. Each
// interface is as small as its methods need, so that tests fake it in a few
// lines and the node may satisfy it with whatever it has: *mempool.Pool,
// *miner.Miner and *p2p.Node do (interface_test.go keeps them so).

// Mempool is what the blockchain and raw transaction methods read of the
// mempool: getrawtransaction finds waiting transactions, gettxout with
// include_mempool hides outputs they spend.
type Mempool interface {
	// Get returns the transaction waiting in the pool with txid.
	Get(txid chain.Hash) (*chain.Tx, bool)
	// HaveSpent returns the pool transaction that spends op, if any.
	HaveSpent(op chain.OutPoint) (spender chain.Hash, ok bool)
}

// TxPool is the mempool as sendrawtransaction, testmempoolaccept, the mempool
// queries and getblocktemplate use it.
type TxPool interface {
	Mempool
	// AcceptLocal adds a transaction submitted by this node's user, refusing a
	// fee rate above maxFeeRate (0: no limit); TestAccept checks the same
	// without adding. Their errors are *mempool.RejectError.
	AcceptLocal(tx *chain.Tx, maxFeeRate mempool.FeeRate) (*mempool.AcceptResult, error)
	TestAccept(tx *chain.Tx, maxFeeRate mempool.FeeRate) (*mempool.AcceptResult, error)
	Entry(txid chain.Hash) (mempool.Entry, bool)
	// Entries and TxIDs list the pool in the order transactions entered it.
	Entries() []mempool.Entry
	TxIDs() []chain.Hash
	Info() mempool.Info
	// BlockTemplate builds a block on the chain's tip paying to payTo.
	BlockTemplate(payTo [chain.PubKeyHashSize]byte, extraNonce uint64, free []byte) (*mempool.Template, error)
	// Subscribe calls fn with every later change of the pool until cancel.
	Subscribe(fn func(mempool.Event)) (cancel func())
	// Ancestors and Descendants list the pool transactions txid depends on
	// and those depending on it; ok is false when txid is not in the pool.
	Ancestors(txid chain.Hash) (entries []mempool.Entry, ok bool)
	Descendants(txid chain.Hash) (entries []mempool.Entry, ok bool)
}

// Miner is the node's nonce search and mining loop, as the mining and
// generating methods use it.
type Miner interface {
	// MineBlocks mines n blocks on the tip paying to payTo, trying at most
	// maxTries nonces in all, and returns the hashes of those it found; when
	// it runs out of tries it returns them with miner.ErrMaxTries.
	MineBlocks(ctx context.Context, n int, payTo [chain.PubKeyHashSize]byte, maxTries uint64) ([]chain.Hash, error)
	// HashesPerSecond is the search rate over the last minute.
	HashesPerSecond() float64
	// Kernel names the nonce-search code in use, Threads the loop's workers.
	Kernel() string
	Threads() int

	// SetGenerate starts or stops the mining loop, with threads workers if
	// threads > 0; it fails to start without an address to pay to.
	SetGenerate(on bool, threads int) error
	Generating() bool
	// SetPayTo sets the address the loop pays to, taking effect at once.
	SetPayTo(payTo [chain.PubKeyHashSize]byte)
}

// BlockGenerator mines generateblock's blocks: one on the tip paying to payTo
// that holds, after the coinbase, exactly the mempool transactions txids in
// that order, submitted to the chain. A txid not in the mempool is a
// *MissingTxError.
type BlockGenerator interface {
	GenerateBlock(ctx context.Context, payTo [chain.PubKeyHashSize]byte, txids []chain.Hash) (chain.Hash, error)
}

// Network is the P2P node as the network methods use it. Peers are named as
// p2p names them: a multiaddr ending in /p2p/<peer id>, or a peer id alone.
type Network interface {
	Peers() []p2p.PeerInfo
	ConnectionCount() int
	// LocalAddrs lists the node's dialable multiaddrs, each ending in its id.
	LocalAddrs() []string
	// LocalServices are the service flags the node advertises.
	LocalServices() p2p.ServiceFlags

	// AddPeer keeps a peer connected (p2p.ErrAlreadyAdded if kept already),
	// RemovePeer stops keeping it (p2p.ErrNotAdded if it was not), DialOnce
	// dials it once in the background: Core's addnode add, remove and onetry.
	AddPeer(addr string) error
	RemovePeer(addr string) error
	DialOnce(addr string) error
	// DisconnectNode closes the connections to the peer named by target.
	DisconnectNode(target string) error

	// SetBan bans an IP address, a subnet or a peer id for d; Unban lifts
	// such a ban (p2p.ErrNotBanned if there is none).
	SetBan(target string, d time.Duration, reason string) error
	Unban(target string) error
	ListBanned() []p2p.Ban
	ClearBanned() error
}
