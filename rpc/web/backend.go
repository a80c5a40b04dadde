package web

import (
	"context"
	"encoding/json"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/p2p"
)

// Chain is what the web interface reads of the block chain;
// *blockchain.Chain satisfies it.
type Chain interface {
	Params() *chain.Params
	Best() blockchain.BestState
	BlockInfo(hash chain.Hash) (blockchain.BlockInfo, error)
	BlockHashByHeight(height int32) (chain.Hash, error)
	BlockByHash(hash chain.Hash) (*chain.Block, error)
	RawBlock(hash chain.Hash) ([]byte, error)
	FetchUtxo(op chain.OutPoint) (*chain.UtxoEntry, error)
}

// TxIndex finds confirmed transactions; *indexers.TxIndex satisfies it.
type TxIndex interface {
	Find(txid chain.Hash) (*chain.Tx, indexers.TxLocation, error)
}

// AddrIndex lists what paid to or spent from an address;
// *indexers.AddrIndex satisfies it.
type AddrIndex interface {
	// UtxosAndTxIDs lists the address's unspent outputs and transactions,
	// each oldest first, reading at most maxTxs transactions (an error
	// matching indexers.ErrHistoryTooLong for more).
	UtxosAndTxIDs(pkh [chain.PubKeyHashSize]byte, maxTxs int) ([]indexers.AddressUtxo, []indexers.AddressTx, error)
}

// Mempool is what the web interface reads of the mempool; *mempool.Pool
// satisfies it.
type Mempool interface {
	Info() mempool.Info
	Entries() []mempool.Entry
	Get(txid chain.Hash) (*chain.Tx, bool)
	HaveSpent(op chain.OutPoint) (chain.Hash, bool)
}

// Network is what the peers page shows; *p2p.Node satisfies it.
type Network interface {
	Peers() []p2p.PeerInfo
	ListBanned() []p2p.Ban
}

// Caller runs a JSON-RPC method in process and returns its JSON result;
// *rpc.Registry satisfies it. REST answers with the results of Core's own
// methods (getblockchaininfo, getblock, getblockheader, getrawtransaction,
// gettxout, getmempoolinfo, getrawmempool), so the two never drift apart.
type Caller interface {
	Call(ctx context.Context, method string, params any) (json.RawMessage, error)
}
