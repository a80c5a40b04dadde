package wallet

import (
	"context"

	"github.com/quarrychain/quarry/chain"
)

// Node is what the wallet asks of a node. cmd/wallet implements it over
// JSON-RPC; the wallet's model depends on these answers, not on how they
// travel.
type Node interface {
	// AddressUTXOs returns the confirmed unspent outputs paying to addrs.
	AddressUTXOs(ctx context.Context, addrs []string) ([]AddressUTXO, error)
	// AddressTxIDs returns the main-chain transactions paying to or spending
	// from addrs, oldest first.
	AddressTxIDs(ctx context.Context, addrs []string) ([]chain.Hash, error)
	// Transactions returns those of txids the node knows, by txid.
	Transactions(ctx context.Context, txids []chain.Hash) (map[chain.Hash]*TxInfo, error)
	// AddressMempool returns the mempool transactions paying to or spending
	// from addrs: the wallet never looks through the whole mempool.
	AddressMempool(ctx context.Context, addrs []string) ([]chain.Hash, error)
	// InMempool reports whether txid waits in the node's mempool.
	InMempool(ctx context.Context, txid chain.Hash) (bool, error)
	// Broadcast hands tx to the node. A refusal wraps ErrRefused, and
	// ErrInputsGone too when the inputs are spent or missing.
	Broadcast(ctx context.Context, tx *chain.Tx) error
}

// AddressUTXO is a confirmed unspent output paying to one of the addresses
// asked about.
type AddressUTXO struct {
	Address  string
	OutPoint chain.OutPoint
	Value    uint64
	Height   int32
}

// TxInfo is a transaction the node knows.
type TxInfo struct {
	Tx *chain.Tx
	// Confirmations is 0 while the transaction waits in the mempool.
	Confirmations int64
	// Time is its block's time; 0 while unconfirmed.
	Time int64
}
