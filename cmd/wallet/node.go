package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpcclient"
	"github.com/quarrychain/quarry/wallet"
)

// The results of the node's methods, with only the fields the wallet reads.
// They are declared here rather than taken from package rpc so that the
// wallet depends on the JSON the node sends (Core's and bitcore's names),
// not on how the server's code is arranged.
type (
	chainInfo struct {
		Chain  string `json:"chain"`
		Blocks int32  `json:"blocks"`
	}

	// addressUTXO is one entry of getaddressutxos: a confirmed unspent output.
	addressUTXO struct {
		Address     string     `json:"address"`
		TxID        chain.Hash `json:"txid"`
		OutputIndex uint32     `json:"outputIndex"`
		Satoshis    uint64     `json:"satoshis"` // base units
		Height      int32      `json:"height"`
	}

	// verboseTx is getrawtransaction's verbose result. The wallet reads the
	// transaction from its hex, the exact consensus encoding, rather than from
	// the decoded fields, whose values are QRY as JSON numbers.
	verboseTx struct {
		Hex string `json:"hex"`
		// Confirmations is absent for a mempool transaction, and 0 for one in
		// a block off the main chain.
		Confirmations int64 `json:"confirmations"`
		BlockTime     int64 `json:"blocktime"`
	}
)

// node is a connection to the node's JSON-RPC server, on the wallet's network.
// It is the wallet.Node the wallet's model asks.
type node struct {
	client *rpcclient.Client
	txs    map[chain.Hash]*wallet.TxInfo // every transaction fetched, by txid
}

var _ wallet.Node = (*node)(nil)

// batchSize bounds the calls sent in one JSON-RPC batch, and so the size of
// one request and its reply.
const batchSize = 500

// connect returns a client of the node and its chain's state, having checked
// that the node is on the wallet's network: a wallet of one network shown the
// outputs of another would report nonsense.
func (a *app) connect(ctx context.Context) (*node, *chainInfo, error) {
	var opts []rpcclient.ClientOption
	switch {
	case a.opts.rpcUser != "":
		opts = append(opts, rpcclient.WithUserPassword(a.opts.rpcUser, a.opts.rpcPassword))
	case a.opts.rpcCookie != "":
		opts = append(opts, rpcclient.WithCookieFile(a.opts.rpcCookie))
	default:
		return nil, nil, errors.New("no RPC credentials: HOME is not set, so there is no default cookie file; give --rpc-cookie FILE or --rpc-user and --rpc-password")
	}
	opts = append(opts, rpcclient.WithHTTPClient(a.http))
	n := &node{client: rpcclient.NewClient(a.opts.rpcURL, opts...), txs: make(map[chain.Hash]*wallet.TxInfo)}
	var info chainInfo
	if err := n.call(ctx, "getblockchaininfo", nil, &info); err != nil {
		return nil, nil, err
	}
	if info.Chain != a.params.Name {
		return nil, nil, fmt.Errorf("the node at %s is on network %q, the wallet on %q; give --network or --rpc-url to match them",
			a.opts.rpcURL, info.Chain, a.params.Name)
	}
	return n, &info, nil
}

func (n *node) call(ctx context.Context, method string, params, result any) error {
	if err := n.client.Call(ctx, method, params, result); err != nil {
		return wrapRPC(method, err)
	}
	return nil
}

// wrapRPC names the method of an error reply. Errors of the connection are
// left alone: the client's own message already names the URL and the likely
// cause.
func wrapRPC(method string, err error) error {
	var rpcErr *rpc.Error
	if errors.As(err, &rpcErr) {
		return fmt.Errorf("node: %s: %w", method, err)
	}
	return err
}

// isNotFound reports an error reply saying the node knows no such
// transaction, as Core answers getrawtransaction and getmempoolentry.
func isNotFound(err error) bool {
	var rpcErr *rpc.Error
	return errors.As(err, &rpcErr) && rpcErr.Code == rpc.CodeInvalidAddressOrKey
}

func addressesParam(addrs []string) []any {
	return []any{map[string][]string{"addresses": addrs}}
}

// AddressUTXOs returns the confirmed unspent outputs paying to addrs.
func (n *node) AddressUTXOs(ctx context.Context, addrs []string) ([]wallet.AddressUTXO, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	var utxos []addressUTXO
	if err := n.call(ctx, "getaddressutxos", addressesParam(addrs), &utxos); err != nil {
		return nil, err
	}
	out := make([]wallet.AddressUTXO, len(utxos))
	for i, u := range utxos {
		out[i] = wallet.AddressUTXO{Address: u.Address, OutPoint: chain.OutPoint{TxID: u.TxID, Index: u.OutputIndex},
			Value: u.Satoshis, Height: u.Height}
	}
	return out, nil
}

// AddressTxIDs returns the main-chain transactions paying to or spending from
// addrs, oldest first.
func (n *node) AddressTxIDs(ctx context.Context, addrs []string) ([]chain.Hash, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	var txids []chain.Hash
	err := n.call(ctx, "getaddresstxids", addressesParam(addrs), &txids)
	return txids, err
}

// addressesUsed reports for each address whether any main-chain transaction
// pays to or spends from it. Each address needs a call of its own, since
// getaddresstxids merges the history of the addresses it is given; they go in
// one batch.
func (n *node) addressesUsed(ctx context.Context, addrs []string) ([]bool, error) {
	used := make([]bool, len(addrs))
	for start := 0; start < len(addrs); start += batchSize {
		end := min(start+batchSize, len(addrs))
		calls := make([]rpcclient.BatchCall, end-start)
		results := make([][]chain.Hash, end-start)
		for i := range calls {
			calls[i] = rpcclient.BatchCall{Method: "getaddresstxids", Params: addressesParam(addrs[start+i : start+i+1]), Result: &results[i]}
		}
		if err := n.client.CallBatch(ctx, calls); err != nil {
			return nil, err
		}
		for i, c := range calls {
			if c.Err != nil {
				return nil, wrapRPC(c.Method, c.Err)
			}
			used[start+i] = len(results[i]) > 0
		}
	}
	return used, nil
}

// Transactions fetches the transactions txids from the node (in batches, each
// once per run) and returns those it knows; one that it does not, say because
// a reorganisation took it out of the chain, is left out.
func (n *node) Transactions(ctx context.Context, txids []chain.Hash) (map[chain.Hash]*wallet.TxInfo, error) {
	var missing []chain.Hash
	for _, id := range txids {
		if _, ok := n.txs[id]; !ok {
			missing = append(missing, id)
			n.txs[id] = nil // asked for: a duplicate in txids is not asked twice
		}
	}
	for start := 0; start < len(missing); start += batchSize {
		chunk := missing[start:min(start+batchSize, len(missing))]
		calls := make([]rpcclient.BatchCall, len(chunk))
		results := make([]verboseTx, len(chunk))
		for i, id := range chunk {
			calls[i] = rpcclient.BatchCall{Method: "getrawtransaction", Params: []any{id, true}, Result: &results[i]}
		}
		if err := n.client.CallBatch(ctx, calls); err != nil {
			return nil, err
		}
		for i, c := range calls {
			switch {
			case isNotFound(c.Err):
				continue
			case c.Err != nil:
				return nil, wrapRPC(c.Method, c.Err)
			}
			info, err := decodeVerbose(chunk[i], &results[i])
			if err != nil {
				return nil, err
			}
			n.txs[chunk[i]] = info
		}
	}
	out := make(map[chain.Hash]*wallet.TxInfo, len(txids))
	for _, id := range txids {
		if info := n.txs[id]; info != nil {
			out[id] = info
		}
	}
	return out, nil
}

func decodeVerbose(txid chain.Hash, v *verboseTx) (*wallet.TxInfo, error) {
	raw, err := hex.DecodeString(v.Hex)
	if err != nil {
		return nil, fmt.Errorf("node: getrawtransaction %s: hex: %w", txid, err)
	}
	tx, err := chain.DecodeTx(raw)
	if err != nil {
		return nil, fmt.Errorf("node: getrawtransaction %s: %w", txid, err)
	}
	// The wallet trusts the node with what the chain holds, but a transaction
	// that is not the one asked for would be a bug worth stopping at.
	if got := tx.TxID(); got != txid {
		return nil, fmt.Errorf("node: getrawtransaction %s returned transaction %s", txid, got)
	}
	return &wallet.TxInfo{Tx: tx, Confirmations: v.Confirmations, Time: v.BlockTime}, nil
}

// AddressMempool returns the mempool transactions paying to or spending from
// addrs, each once, from the node's getaddressmempool.
func (n *node) AddressMempool(ctx context.Context, addrs []string) ([]chain.Hash, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	var entries []struct {
		TxID chain.Hash `json:"txid"`
	}
	if err := n.call(ctx, "getaddressmempool", addressesParam(addrs), &entries); err != nil {
		return nil, err
	}
	var txids []chain.Hash
	seen := make(map[chain.Hash]bool)
	for _, e := range entries {
		if !seen[e.TxID] {
			seen[e.TxID] = true
			txids = append(txids, e.TxID)
		}
	}
	return txids, nil
}

// InMempool reports whether txid waits in the node's mempool.
func (n *node) InMempool(ctx context.Context, txid chain.Hash) (bool, error) {
	err := n.client.Call(ctx, "getmempoolentry", []any{txid}, nil)
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, wrapRPC("getmempoolentry", err)
}

// Broadcast hands tx to the node again, for wallet.PendingSends.Sync: a
// refusal wraps wallet.ErrRefused, and wallet.ErrInputsGone when an input is
// spent or missing; a transaction the chain holds already is no failure.
func (n *node) Broadcast(ctx context.Context, tx *chain.Tx) error {
	_, err := n.broadcast(ctx, tx)
	var rpcErr *rpc.Error
	switch {
	case !errors.As(err, &rpcErr):
		return err
	case rpcErr.Code == rpc.CodeVerifyAlreadyInChain:
		return nil
	case rpcErr.Code == rpc.CodeVerify || strings.Contains(rpcErr.Message, "txn-mempool-conflict"):
		return fmt.Errorf("%w: %w: %w", wallet.ErrRefused, wallet.ErrInputsGone, err)
	}
	return fmt.Errorf("%w: %w", wallet.ErrRefused, err)
}

// broadcast hands tx to the node, which checks it and relays it, and returns
// its txid.
func (n *node) broadcast(ctx context.Context, tx *chain.Tx) (chain.Hash, error) {
	var txid chain.Hash
	err := n.client.Call(ctx, "sendrawtransaction", []any{hex.EncodeToString(tx.Encode())}, &txid)
	return txid, err
}
