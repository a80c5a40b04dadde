package wallet

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/quarrychain/quarry/chain"
)

// Coin is an output paying to one of the wallet's keys, unspent in the chain.
type Coin struct {
	OutPoint chain.OutPoint
	Value    uint64
	Key      *Key
	// Confirmations is 0 for an output of an unconfirmed transaction.
	Confirmations int64
	// Coinbase is known for every confirmed output younger than the coinbase
	// maturity, and for every confirmed one when LoadView is asked for all.
	Coinbase bool
	// SpentBy is the unconfirmed transaction spending the output, if any.
	SpentBy *chain.Hash
}

// Mature reports whether the chain lets the output be spent in the next block.
func (c *Coin) Mature(maturity int32) bool {
	return !c.Coinbase || c.Confirmations >= int64(maturity)
}

// View is the wallet's money as the node sees it: confirmed outputs from the
// address index, and the unconfirmed transactions of the pending file and the
// mempool that pay to or spend from the wallet.
type View struct {
	Tip      int32
	Maturity int32
	Keys     []*Key
	byHash   map[[chain.PubKeyHashSize]byte]*Key
	Coins    []*Coin // confirmed first, oldest first
	// Pending are the unconfirmed transactions that touch the wallet.
	Pending []*PendingTx
	// Sync is what following the wallet's sends found: rebroadcasts, sends
	// that can never be mined, sends the node refused again.
	Sync *SyncReport
}

// ViewRequest is what LoadView needs besides the node.
type ViewRequest struct {
	Params *chain.Params
	Keys   []*Key
	// Tip is the node's chain height when the caller asked.
	Tip     int32
	Pending *PendingSends
	// AllCoinbase makes LoadView find out for every output whether it is a
	// coinbase's, which otherwise is only asked for those young enough to be
	// immature.
	AllCoinbase bool
}

// LoadView asks the node for everything about the wallet's keys.
func LoadView(ctx context.Context, n Node, req *ViewRequest) (*View, error) {
	v := &View{Tip: req.Tip, Maturity: req.Params.CoinbaseMaturity, Keys: req.Keys,
		byHash: make(map[[chain.PubKeyHashSize]byte]*Key, len(req.Keys))}
	addrs := make([]string, len(req.Keys))
	for i, k := range req.Keys {
		addrs[i] = k.Address
		v.byHash[k.PubKeyHash] = k
	}
	// The pending sends first: one confirmed meanwhile then shows among the
	// confirmed outputs below, and the check on outpoints keeps it from being
	// counted twice.
	report, err := req.Pending.Sync(ctx, n)
	if err != nil {
		return nil, err
	}
	v.Sync = report
	sent := report.Kept
	var utxos []AddressUTXO
	if len(addrs) > 0 {
		if utxos, err = n.AddressUTXOs(ctx, addrs); err != nil {
			return nil, err
		}
	}
	byOutPoint := make(map[chain.OutPoint]*Coin, len(utxos))
	for _, u := range utxos {
		pkh, err := req.Params.DecodeAddress(u.Address)
		if err != nil {
			return nil, fmt.Errorf("node: getaddressutxos: %w", err)
		}
		key, ok := v.byHash[pkh]
		if !ok {
			return nil, fmt.Errorf("node: getaddressutxos returned an output paying to %s, which the wallet did not ask about", u.Address)
		}
		c := &Coin{OutPoint: u.OutPoint, Value: u.Value, Key: key,
			// A block found between the two calls can make the output newer
			// than the tip the wallet knows; it has one confirmation then.
			Confirmations: max(int64(v.Tip)-int64(u.Height)+1, 1)}
		if byOutPoint[c.OutPoint] == nil {
			byOutPoint[c.OutPoint] = c
			v.Coins = append(v.Coins, c)
		}
	}
	if err := v.addUnconfirmed(ctx, n, addrs, sent, byOutPoint); err != nil {
		return nil, err
	}
	if err := v.findCoinbases(ctx, n, req.AllCoinbase); err != nil {
		return nil, err
	}
	return v, nil
}

// Owns reports whether pkh is one of the wallet's keys, and which.
func (v *View) Owns(pkh [chain.PubKeyHashSize]byte) (*Key, bool) {
	k, ok := v.byHash[pkh]
	return k, ok
}

// addUnconfirmed adds the pending sends and the mempool transactions that
// touch the wallet's addresses (asked of the node's address index, never by
// looking through the mempool): their outputs to the wallet as unconfirmed
// coins, and their inputs as spending the wallet's coins.
func (v *View) addUnconfirmed(ctx context.Context, n Node, addrs []string, sent []*PendingTx, byOutPoint map[chain.OutPoint]*Coin) error {
	if len(v.Keys) == 0 {
		return nil // nothing can pay to or spend from a wallet without addresses
	}
	candidates := slices.Clone(sent)
	known := make(map[chain.Hash]bool, len(sent))
	for _, p := range sent {
		known[p.TxID] = true
	}
	touching, err := n.AddressMempool(ctx, addrs)
	if err != nil {
		return err
	}
	var others []chain.Hash
	for _, id := range touching {
		if !known[id] {
			others = append(others, id)
		}
	}
	found, err := n.Transactions(ctx, others)
	if err != nil {
		return err
	}
	for _, id := range others {
		// A transaction mined since the mempool was asked has
		// confirmations and is among the confirmed outputs already.
		if info := found[id]; info != nil && info.Confirmations == 0 {
			candidates = append(candidates, &PendingTx{TxID: id, Tx: info.Tx})
		}
	}

	// Outputs first, then inputs, so that a transaction spending another
	// unconfirmed one's output to the wallet is seen whatever their order.
	for _, u := range candidates {
		for i, out := range u.Tx.Outputs {
			key, ok := v.byHash[out.PubKeyHash]
			op := chain.OutPoint{TxID: u.TxID, Index: uint32(i)}
			if !ok || byOutPoint[op] != nil {
				continue
			}
			c := &Coin{OutPoint: op, Value: out.Value, Key: key}
			byOutPoint[op] = c
			v.Coins = append(v.Coins, c)
		}
	}
	for _, u := range candidates {
		touches := known[u.TxID]
		for i := range u.Tx.Outputs {
			if byOutPoint[chain.OutPoint{TxID: u.TxID, Index: uint32(i)}] != nil {
				touches = true
			}
		}
		for _, in := range u.Tx.Inputs {
			if c := byOutPoint[in.PrevOut]; c != nil {
				c.SpentBy = &u.TxID
				touches = true
			}
		}
		if touches {
			v.Pending = append(v.Pending, u)
		}
	}
	return nil
}

// findCoinbases learns which confirmed coins are coinbase outputs. Only the
// young ones matter for spending: an output with the maturity's confirmations
// is spendable whatever made it.
func (v *View) findCoinbases(ctx context.Context, n Node, all bool) error {
	var txids []chain.Hash
	for _, c := range v.Coins {
		if c.Confirmations > 0 && (all || c.Confirmations < int64(v.Maturity)) {
			txids = append(txids, c.OutPoint.TxID)
		}
	}
	txs, err := n.Transactions(ctx, txids)
	if err != nil {
		return err
	}
	for _, c := range v.Coins {
		if c.Confirmations == 0 || (!all && c.Confirmations >= int64(v.Maturity)) {
			continue
		}
		info := txs[c.OutPoint.TxID]
		if info == nil {
			// Taking it for a coinbase or not would be a guess that could
			// spend an immature output or hide a spendable one.
			return fmt.Errorf("the node lists output %s as unspent but does not know its transaction; try again (a reorganisation may be under way)", c.OutPoint)
		}
		c.Coinbase = info.Tx.IsCoinbase()
	}
	return nil
}

// Unspent returns the coins no unconfirmed transaction spends, oldest first.
func (v *View) Unspent() []*Coin {
	var out []*Coin
	for _, c := range v.Coins {
		if c.SpentBy == nil {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *Coin) int {
		return cmp.Or(cmp.Compare(b.Confirmations, a.Confirmations),
			cmp.Compare(a.OutPoint.TxID.String(), b.OutPoint.TxID.String()), cmp.Compare(a.OutPoint.Index, b.OutPoint.Index))
	})
	return out
}

// Balances sums the unspent coins: confirmed and spendable, unconfirmed (paid
// by mempool transactions, change of the wallet's own sends included), and
// immature coinbase outputs.
type Balances struct {
	Confirmed, Unconfirmed, Immature uint64
}

// Total is every unspent coin's value.
func (b Balances) Total() uint64 { return b.Confirmed + b.Unconfirmed + b.Immature }

// Balances sums the unspent coins by kind.
func (v *View) Balances() Balances {
	var b Balances
	for _, c := range v.Unspent() {
		switch {
		case c.Confirmations == 0:
			b.Unconfirmed += c.Value
		case !c.Mature(v.Maturity):
			b.Immature += c.Value
		default:
			b.Confirmed += c.Value
		}
	}
	return b
}

// UTXOs converts the coins for BuildSend, with the ones unconfirmed
// transactions spend to exclude: BuildSend then counts them as unavailable in
// an insufficient-funds message. An unconfirmed coin is marked as the
// wallet's own change when a send of the wallet's pending file pays it.
func (v *View) UTXOs() ([]UTXO, map[chain.OutPoint]bool) {
	ownSends := make(map[chain.Hash]bool)
	for _, p := range v.Pending {
		if p.Time != 0 {
			ownSends[p.TxID] = true
		}
	}
	utxos := make([]UTXO, len(v.Coins))
	exclude := make(map[chain.OutPoint]bool)
	for i, c := range v.Coins {
		utxos[i] = UTXO{OutPoint: c.OutPoint, Value: c.Value, PubKeyHash: c.Key.PubKeyHash,
			Confirmations: c.Confirmations, Coinbase: c.Coinbase,
			OwnChange: c.Confirmations == 0 && ownSends[c.OutPoint.TxID]}
		if c.SpentBy != nil {
			exclude[c.OutPoint] = true
		}
	}
	return utxos, exclude
}

// HistoryEntry is one transaction of the wallet's history.
type HistoryEntry struct {
	TxID chain.Hash
	// Amount is what the transaction added to the wallet, negative for what
	// it took, fee included.
	Amount int64
	// Fee is set (HasFee) for a transaction the wallet paid for alone.
	Fee    uint64
	HasFee bool
	// Confirmations is 0 while unconfirmed.
	Confirmations int64
	// Time is the block's time, or for an unconfirmed send when it was
	// sent; 0 when unknown.
	Time     int64
	Coinbase bool
	// Replaces is the send this one replaced with a higher fee (bumpfee).
	Replaces *chain.Hash
}

// History lists the main-chain transactions that pay to or spend from the
// wallet's addresses, oldest first, then the unconfirmed ones. Every output a
// transaction spends from the wallet was paid by an earlier one in the list,
// so the list alone tells what each input was worth.
func (v *View) History(ctx context.Context, n Node) ([]HistoryEntry, error) {
	addrs := make([]string, len(v.Keys))
	for i, k := range v.Keys {
		addrs[i] = k.Address
	}
	var txids []chain.Hash
	if len(addrs) > 0 {
		var err error
		if txids, err = n.AddressTxIDs(ctx, addrs); err != nil {
			return nil, err
		}
	}
	txs, err := n.Transactions(ctx, txids)
	if err != nil {
		return nil, err
	}
	type entry struct {
		txid          chain.Hash
		tx            *chain.Tx
		confirmations int64
		time          int64
		replaces      *chain.Hash
	}
	var entries []entry
	listed := make(map[chain.Hash]bool)
	for _, id := range txids {
		// One a reorganisation took out of the chain since the index was
		// read is left out, as the index would now.
		if info := txs[id]; info != nil && info.Confirmations > 0 && !listed[id] {
			listed[id] = true
			entries = append(entries, entry{id, info.Tx, info.Confirmations, info.Time, nil})
		}
	}
	for _, u := range v.Pending {
		if !listed[u.TxID] {
			listed[u.TxID] = true
			entries = append(entries, entry{u.TxID, u.Tx, 0, u.Time, u.Replaces})
		}
	}

	ours := make(map[chain.OutPoint]uint64)
	for _, e := range entries {
		for i, out := range e.tx.Outputs {
			if _, ok := v.byHash[out.PubKeyHash]; ok {
				ours[chain.OutPoint{TxID: e.txid, Index: uint32(i)}] = out.Value
			}
		}
	}
	list := make([]HistoryEntry, 0, len(entries))
	for _, e := range entries {
		var received, spent uint64
		for _, out := range e.tx.Outputs {
			if _, ok := v.byHash[out.PubKeyHash]; ok {
				received += out.Value
			}
		}
		allOurs := !e.tx.IsCoinbase()
		for _, in := range e.tx.Inputs {
			value, ok := ours[in.PrevOut]
			spent += value
			allOurs = allOurs && ok
		}
		h := HistoryEntry{TxID: e.txid, Amount: int64(received) - int64(spent),
			Confirmations: e.confirmations, Time: e.time, Coinbase: e.tx.IsCoinbase(), Replaces: e.replaces}
		if total, ok := e.tx.TotalOut(); allOurs && ok && spent >= total {
			h.Fee, h.HasFee = spent-total, true
		}
		list = append(list, h)
	}
	return list, nil
}
