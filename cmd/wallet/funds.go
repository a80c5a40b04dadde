package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/wallet"
)

// The commands that report the wallet's money: balance, listunspent, history.

// withView opens the wallet, asks the node about it, and runs f.
func (a *app) withView(ctx context.Context, allCoinbase bool, f func(w *wallet.Wallet, n *node, v *view) error) error {
	w, err := a.openWallet()
	if err != nil {
		return err
	}
	defer w.Close()
	n, info, err := a.connect(ctx)
	if err != nil {
		return err
	}
	v, err := a.loadView(ctx, w, n, info, allCoinbase)
	if err != nil {
		return err
	}
	return f(w, n, v)
}

// mempoolNote says what a balance leaves out when the mempool was too large to
// look through.
func (v *view) mempoolNote() string {
	if v.mempoolSize == 0 {
		return ""
	}
	return fmt.Sprintf("The node's mempool holds %d transactions, too many to look through: unconfirmed payments from others are not counted.\n", v.mempoolSize)
}

func balanceCommand() *command {
	return &command{run: func(ctx context.Context, a *app, _ []string) error {
		return a.withView(ctx, false, func(_ *wallet.Wallet, _ *node, v *view) error {
			b := v.balances()
			total := b.confirmed + b.unconfirmed + b.immature
			if a.opts.json {
				return a.printJSON(struct {
					Confirmed      json.Number `json:"confirmed"`
					Unconfirmed    json.Number `json:"unconfirmed"`
					Immature       json.Number `json:"immature"`
					Total          json.Number `json:"total"`
					MempoolScanned bool        `json:"mempool_scanned"`
				}{qry(b.confirmed), qry(b.unconfirmed), qry(b.immature), qry(total), v.mempoolSize == 0})
			}
			t := table(a.stdout)
			fmt.Fprintf(t, "confirmed\t%s QRY\n", wallet.FormatAmount(b.confirmed))
			fmt.Fprintf(t, "unconfirmed\t%s QRY\n", wallet.FormatAmount(b.unconfirmed))
			fmt.Fprintf(t, "immature\t%s QRY\n", wallet.FormatAmount(b.immature))
			fmt.Fprintf(t, "total\t%s QRY\n", wallet.FormatAmount(total))
			if err := t.Flush(); err != nil {
				return err
			}
			a.printf("%s", v.mempoolNote())
			return nil
		})
	}}
}

type unspentJSON struct {
	TxID          chain.Hash  `json:"txid"`
	Vout          uint32      `json:"vout"`
	Address       string      `json:"address"`
	Amount        json.Number `json:"amount"`
	Confirmations int64       `json:"confirmations"`
	Coinbase      bool        `json:"coinbase"`
	// Spendable: confirmed and, for a coinbase output, mature.
	Spendable bool `json:"spendable"`
}

func listUnspentCommand() *command {
	return &command{run: func(ctx context.Context, a *app, _ []string) error {
		return a.withView(ctx, true, func(_ *wallet.Wallet, _ *node, v *view) error {
			list := []unspentJSON{}
			for _, c := range v.unspent() {
				list = append(list, unspentJSON{TxID: c.op.TxID, Vout: c.op.Index, Address: c.key.Address,
					Amount: qry(c.value), Confirmations: c.confirmations, Coinbase: c.coinbase,
					Spendable: c.confirmations > 0 && c.mature(v.maturity)})
			}
			if a.opts.json {
				return a.printJSON(list)
			}
			if len(list) == 0 {
				a.printf("No unspent outputs.\n%s", v.mempoolNote())
				return nil
			}
			t := table(a.stdout)
			fmt.Fprintln(t, "OUTPUT\tADDRESS\tAMOUNT\tCONF\tNOTE")
			for _, u := range list {
				note := ""
				switch {
				case u.Confirmations == 0:
					note = "unconfirmed"
				case u.Coinbase && !u.Spendable:
					note = fmt.Sprintf("immature coinbase: spendable in %d blocks", int64(v.maturity)-u.Confirmations)
				case u.Coinbase:
					note = "coinbase"
				}
				fmt.Fprintf(t, "%s:%d\t%s\t%s\t%d\t%s\n", u.TxID, u.Vout, u.Address, u.Amount, u.Confirmations, note)
			}
			if err := t.Flush(); err != nil {
				return err
			}
			a.printf("%s", v.mempoolNote())
			return nil
		})
	}}
}

type historyJSON struct {
	TxID chain.Hash `json:"txid"`
	// Amount is what the transaction added to the wallet, negative for what
	// it took, fee included.
	Amount json.Number `json:"amount"`
	// Fee is set for a transaction the wallet paid for alone.
	Fee           json.Number `json:"fee,omitempty"`
	Confirmations int64       `json:"confirmations"`
	// Time is the block's time, or for an unconfirmed send when it was
	// sent; 0 when unknown.
	Time     int64 `json:"time"`
	Coinbase bool  `json:"coinbase,omitempty"`
}

func historyCommand() *command {
	return &command{run: func(ctx context.Context, a *app, _ []string) error {
		return a.withView(ctx, false, func(_ *wallet.Wallet, n *node, v *view) error {
			list, err := v.history(ctx, n)
			if err != nil {
				return err
			}
			if a.opts.json {
				return a.printJSON(list)
			}
			if len(list) == 0 {
				a.printf("No transactions.\n%s", v.mempoolNote())
				return nil
			}
			t := table(a.stdout)
			fmt.Fprintln(t, "TIME\tCONF\tAMOUNT\tFEE\tTXID")
			for _, h := range list {
				fee := string(h.Fee)
				if h.Coinbase {
					fee = "coinbase"
				}
				amount := string(h.Amount)
				if !strings.HasPrefix(amount, "-") {
					amount = "+" + amount
				}
				fmt.Fprintf(t, "%s\t%d\t%s\t%s\t%s\n", formatTime(h.Time), h.Confirmations, amount, fee, h.TxID)
			}
			if err := t.Flush(); err != nil {
				return err
			}
			a.printf("%s", v.mempoolNote())
			return nil
		})
	}}
}

// history lists the main-chain transactions that pay to or spend from the
// wallet's addresses, oldest first, then the unconfirmed ones. Every output a
// transaction spends from the wallet was paid by an earlier one in the list,
// so the list alone tells what each input was worth.
func (v *view) history(ctx context.Context, n *node) ([]historyJSON, error) {
	addrs := make([]string, len(v.keys))
	for i, k := range v.keys {
		addrs[i] = k.Address
	}
	txids, err := n.addressTxIDs(ctx, addrs)
	if err != nil {
		return nil, err
	}
	txs, err := n.transactions(ctx, txids)
	if err != nil {
		return nil, err
	}
	type entry struct {
		txid          chain.Hash
		tx            *chain.Tx
		confirmations int64
		time          int64
	}
	var entries []entry
	listed := make(map[chain.Hash]bool)
	for _, id := range txids {
		// One a reorganisation took out of the chain since the index was
		// read is left out, as the index would now.
		if info := txs[id]; info != nil && info.confirmations > 0 && !listed[id] {
			listed[id] = true
			entries = append(entries, entry{id, info.tx, info.confirmations, info.time})
		}
	}
	for _, u := range v.pending {
		if !listed[u.txid] {
			listed[u.txid] = true
			entries = append(entries, entry{u.txid, u.tx, 0, u.time})
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
	list := make([]historyJSON, 0, len(entries))
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
		h := historyJSON{TxID: e.txid, Amount: signedQRY(int64(received) - int64(spent)),
			Confirmations: e.confirmations, Time: e.time, Coinbase: e.tx.IsCoinbase()}
		if total, ok := e.tx.TotalOut(); allOurs && ok && spent >= total {
			h.Fee = qry(spent - total)
		}
		list = append(list, h)
	}
	return list, nil
}
