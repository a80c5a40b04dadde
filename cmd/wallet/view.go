package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/wallet"
)

// mempoolScanLimit bounds the mempool transactions fetched to find unconfirmed
// payments to the wallet. A test network's mempool is far smaller; past the
// limit the wallet still knows its own sends from the pending file and says
// that it did not look for unconfirmed incoming payments.
const mempoolScanLimit = 20_000

// coin is an output paying to one of the wallet's keys, unspent in the chain.
type coin struct {
	op    chain.OutPoint
	value uint64
	key   *wallet.Key
	// confirmations is 0 for an output of an unconfirmed transaction.
	confirmations int64
	// coinbase is known for every confirmed output younger than the coinbase
	// maturity, and for every confirmed one when loadView is asked for all.
	coinbase bool
	// spentBy is the unconfirmed transaction spending the output, if any.
	spentBy *chain.Hash
}

// mature reports whether the chain lets the output be spent in the next block.
func (c *coin) mature(maturity int32) bool {
	return !c.coinbase || c.confirmations >= int64(maturity)
}

// unconfirmedTx is a transaction waiting in the mempool that pays to the
// wallet or spends from it.
type unconfirmedTx struct {
	txid chain.Hash
	tx   *chain.Tx
	time int64 // when the wallet sent it; 0 for one it found in the mempool
}

// view is the wallet's money as the node sees it: confirmed outputs from the
// address index, and the unconfirmed transactions of the pending file and the
// mempool that pay to or spend from the wallet.
type view struct {
	tip      int32
	maturity int32
	keys     []*wallet.Key
	byHash   map[[chain.PubKeyHashSize]byte]*wallet.Key
	coins    []*coin // confirmed first, oldest first
	pending  []*unconfirmedTx
	// mempoolSize is the mempool's size when it was too large to scan for
	// payments to the wallet, else 0.
	mempoolSize int
}

// loadView asks the node for everything about the wallet's keys. With
// allCoinbase it finds out for every output whether it is a coinbase's, which
// otherwise is only asked for those young enough to be immature.
func (a *app) loadView(ctx context.Context, w *wallet.Wallet, n *node, info *chainInfo, allCoinbase bool) (*view, error) {
	keys, err := w.Keys()
	if err != nil {
		return nil, err
	}
	v := &view{tip: info.Blocks, maturity: a.params.CoinbaseMaturity, keys: keys,
		byHash: make(map[[chain.PubKeyHashSize]byte]*wallet.Key, len(keys))}
	addrs := make([]string, len(keys))
	for i, k := range keys {
		addrs[i] = k.Address
		v.byHash[k.PubKeyHash] = k
	}
	// The pending sends first: one confirmed meanwhile then shows among the
	// confirmed outputs below, and the check on outpoints keeps it from being
	// counted twice.
	sent, err := a.syncPending(ctx, n)
	if err != nil {
		return nil, err
	}
	utxos, err := n.addressUTXOs(ctx, addrs)
	if err != nil {
		return nil, err
	}
	byOutPoint := make(map[chain.OutPoint]*coin, len(utxos))
	for _, u := range utxos {
		pkh, err := a.params.DecodeAddress(u.Address)
		if err != nil {
			return nil, fmt.Errorf("node: getaddressutxos: %w", err)
		}
		key, ok := v.byHash[pkh]
		if !ok {
			return nil, fmt.Errorf("node: getaddressutxos returned an output paying to %s, which the wallet did not ask about", u.Address)
		}
		c := &coin{op: chain.OutPoint{TxID: u.TxID, Index: u.OutputIndex}, value: u.Satoshis, key: key,
			// A block found between the two calls can make the output newer
			// than the tip the wallet knows; it has one confirmation then.
			confirmations: max(int64(v.tip)-int64(u.Height)+1, 1)}
		if byOutPoint[c.op] == nil {
			byOutPoint[c.op] = c
			v.coins = append(v.coins, c)
		}
	}
	if err := v.addUnconfirmed(ctx, n, sent, byOutPoint); err != nil {
		return nil, err
	}
	if err := v.findCoinbases(ctx, n, allCoinbase); err != nil {
		return nil, err
	}
	return v, nil
}

// addUnconfirmed adds the pending sends and the mempool transactions that
// touch the wallet: their outputs to the wallet as unconfirmed coins, and
// their inputs as spending the wallet's coins.
func (v *view) addUnconfirmed(ctx context.Context, n *node, sent []*pendingTx, byOutPoint map[chain.OutPoint]*coin) error {
	if len(v.keys) == 0 {
		return nil // nothing can pay to or spend from a wallet without addresses
	}
	candidates := make([]*unconfirmedTx, 0, len(sent))
	known := make(map[chain.Hash]bool, len(sent))
	for _, p := range sent {
		candidates = append(candidates, &unconfirmedTx{txid: p.txid, tx: p.tx, time: p.time})
		known[p.txid] = true
	}
	pool, err := n.mempool(ctx)
	if err != nil {
		return err
	}
	var others []chain.Hash
	for _, id := range pool {
		if !known[id] {
			others = append(others, id)
		}
	}
	if len(others) > mempoolScanLimit {
		v.mempoolSize = len(pool)
		others = nil
	}
	found, err := n.transactions(ctx, others)
	if err != nil {
		return err
	}
	for _, id := range others {
		// A transaction mined since getrawmempool has confirmations and is
		// among the confirmed outputs already.
		if info := found[id]; info != nil && info.confirmations == 0 {
			candidates = append(candidates, &unconfirmedTx{txid: id, tx: info.tx})
		}
	}

	// Outputs first, then inputs, so that a transaction spending another
	// unconfirmed one's output to the wallet is seen whatever their order.
	for _, u := range candidates {
		for i, out := range u.tx.Outputs {
			key, ok := v.byHash[out.PubKeyHash]
			op := chain.OutPoint{TxID: u.txid, Index: uint32(i)}
			if !ok || byOutPoint[op] != nil {
				continue
			}
			c := &coin{op: op, value: out.Value, key: key}
			byOutPoint[op] = c
			v.coins = append(v.coins, c)
		}
	}
	for _, u := range candidates {
		touches := known[u.txid]
		for i := range u.tx.Outputs {
			if byOutPoint[chain.OutPoint{TxID: u.txid, Index: uint32(i)}] != nil {
				touches = true
			}
		}
		for _, in := range u.tx.Inputs {
			if c := byOutPoint[in.PrevOut]; c != nil {
				c.spentBy = &u.txid
				touches = true
			}
		}
		if touches {
			v.pending = append(v.pending, u)
		}
	}
	return nil
}

// findCoinbases learns which confirmed coins are coinbase outputs. Only the
// young ones matter for spending: an output with the maturity's confirmations
// is spendable whatever made it.
func (v *view) findCoinbases(ctx context.Context, n *node, all bool) error {
	var txids []chain.Hash
	for _, c := range v.coins {
		if c.confirmations > 0 && (all || c.confirmations < int64(v.maturity)) {
			txids = append(txids, c.op.TxID)
		}
	}
	txs, err := n.transactions(ctx, txids)
	if err != nil {
		return err
	}
	for _, c := range v.coins {
		if c.confirmations == 0 || (!all && c.confirmations >= int64(v.maturity)) {
			continue
		}
		info := txs[c.op.TxID]
		if info == nil {
			// Taking it for a coinbase or not would be a guess that could
			// spend an immature output or hide a spendable one.
			return fmt.Errorf("the node lists output %s as unspent but does not know its transaction; try again (a reorganisation may be under way)", c.op)
		}
		c.coinbase = info.tx.IsCoinbase()
	}
	return nil
}

// unspent returns the coins no unconfirmed transaction spends, oldest first.
func (v *view) unspent() []*coin {
	var out []*coin
	for _, c := range v.coins {
		if c.spentBy == nil {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *coin) int {
		return cmp.Or(cmp.Compare(b.confirmations, a.confirmations),
			cmp.Compare(a.op.TxID.String(), b.op.TxID.String()), cmp.Compare(a.op.Index, b.op.Index))
	})
	return out
}

// balances sums the unspent coins: confirmed and spendable, unconfirmed (paid
// by mempool transactions, change of the wallet's own sends included), and
// immature coinbase outputs.
type balances struct {
	confirmed, unconfirmed, immature uint64
}

func (v *view) balances() balances {
	var b balances
	for _, c := range v.unspent() {
		switch {
		case c.confirmations == 0:
			b.unconfirmed += c.value
		case !c.mature(v.maturity):
			b.immature += c.value
		default:
			b.confirmed += c.value
		}
	}
	return b
}

// utxos converts the coins for wallet.BuildSend, with the ones unconfirmed
// transactions spend to exclude: BuildSend then counts them as unavailable in
// an insufficient-funds message.
func (v *view) utxos() ([]wallet.UTXO, map[chain.OutPoint]bool) {
	utxos := make([]wallet.UTXO, len(v.coins))
	exclude := make(map[chain.OutPoint]bool)
	for i, c := range v.coins {
		utxos[i] = wallet.UTXO{OutPoint: c.op, Value: c.value, PubKeyHash: c.key.PubKeyHash,
			Confirmations: c.confirmations, Coinbase: c.coinbase}
		if c.spentBy != nil {
			exclude[c.op] = true
		}
	}
	return utxos, exclude
}
