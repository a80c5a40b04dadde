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
func (a *app) withView(ctx context.Context, allCoinbase bool, f func(w *wallet.Wallet, n *node, v *wallet.View) error) error {
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

// loadView asks the node about every key of w, and warns of the wallet's
// sends that vanished.
func (a *app) loadView(ctx context.Context, w *wallet.Wallet, n *node, info *chainInfo, allCoinbase bool) (*wallet.View, error) {
	keys, err := w.Keys()
	if err != nil {
		return nil, err
	}
	v, err := wallet.LoadView(ctx, n, &wallet.ViewRequest{Params: a.params, Keys: keys, Tip: info.Blocks,
		Pending: a.pendingSends(), AllCoinbase: allCoinbase})
	if err != nil {
		return nil, err
	}
	for _, txid := range v.Sync.Rebroadcast {
		fmt.Fprintf(a.stderr, "wallet: sent transaction %s had fallen out of the node's mempool; handed to the node again\n", txid)
	}
	for _, txid := range v.Sync.Gone {
		fmt.Fprintf(a.stderr, "wallet: warning: sent transaction %s can never be mined (another spent its inputs); the outputs it spent that remain can be spent again\n", txid)
	}
	for txid, err := range v.Sync.Stuck {
		fmt.Fprintf(a.stderr, "wallet: warning: sent transaction %s fell out of the node's mempool and the node refuses it again (%v); 'wallet abandon %s' frees its coins\n", txid, err, txid)
	}
	return v, nil
}

// pendingSends is the file of the wallet's unconfirmed sends, beside the
// wallet file.
func (a *app) pendingSends() *wallet.PendingSends { return wallet.PendingSendsFor(a.opts.walletPath) }

func balanceCommand() *command {
	return &command{run: func(ctx context.Context, a *app, _ []string) error {
		return a.withView(ctx, false, func(_ *wallet.Wallet, _ *node, v *wallet.View) error {
			b := v.Balances()
			total := b.Total()
			if a.opts.json {
				return a.printJSON(struct {
					Confirmed   json.Number `json:"confirmed"`
					Unconfirmed json.Number `json:"unconfirmed"`
					Immature    json.Number `json:"immature"`
					Total       json.Number `json:"total"`
				}{qry(b.Confirmed), qry(b.Unconfirmed), qry(b.Immature), qry(total)})
			}
			t := table(a.stdout)
			fmt.Fprintf(t, "confirmed\t%s QRY\n", wallet.FormatAmount(b.Confirmed))
			fmt.Fprintf(t, "unconfirmed\t%s QRY\n", wallet.FormatAmount(b.Unconfirmed))
			fmt.Fprintf(t, "immature\t%s QRY\n", wallet.FormatAmount(b.Immature))
			fmt.Fprintf(t, "total\t%s QRY\n", wallet.FormatAmount(total))
			return t.Flush()
		})
	}}
}

type unspentJSON struct {
	// Coin is the output as send --coins names it: TXID:VOUT.
	Coin          string      `json:"coin"`
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
		return a.withView(ctx, true, func(_ *wallet.Wallet, _ *node, v *wallet.View) error {
			list := []unspentJSON{}
			for _, c := range v.Unspent() {
				list = append(list, unspentJSON{Coin: c.OutPoint.String(), TxID: c.OutPoint.TxID, Vout: c.OutPoint.Index,
					Address: c.Key.Address, Amount: qry(c.Value), Confirmations: c.Confirmations, Coinbase: c.Coinbase,
					Spendable: c.Confirmations > 0 && c.Mature(v.Maturity)})
			}
			if a.opts.json {
				return a.printJSON(list)
			}
			if len(list) == 0 {
				a.printf("No unspent outputs.\n")
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
					note = fmt.Sprintf("immature coinbase: spendable in %d blocks", int64(v.Maturity)-u.Confirmations)
				case u.Coinbase:
					note = "coinbase"
				}
				fmt.Fprintf(t, "%s\t%s\t%s\t%d\t%s\n", u.Coin, u.Address, u.Amount, u.Confirmations, note)
			}
			return t.Flush()
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
	// Replaces is the send this one replaced with a higher fee.
	Replaces *chain.Hash `json:"replaces,omitempty"`
}

func historyCommand() *command {
	return &command{run: func(ctx context.Context, a *app, _ []string) error {
		return a.withView(ctx, false, func(_ *wallet.Wallet, n *node, v *wallet.View) error {
			entries, err := v.History(ctx, n)
			if err != nil {
				return err
			}
			list := make([]historyJSON, len(entries))
			for i, e := range entries {
				list[i] = historyJSON{TxID: e.TxID, Amount: signedQRY(e.Amount), Confirmations: e.Confirmations,
					Time: e.Time, Coinbase: e.Coinbase, Replaces: e.Replaces}
				if e.HasFee {
					list[i].Fee = qry(e.Fee)
				}
			}
			if a.opts.json {
				return a.printJSON(list)
			}
			if len(list) == 0 {
				a.printf("No transactions.\n")
				return nil
			}
			t := table(a.stdout)
			fmt.Fprintln(t, "TIME\tCONF\tAMOUNT\tFEE\tTXID\tNOTE")
			for _, h := range list {
				fee := string(h.Fee)
				if h.Coinbase {
					fee = "coinbase"
				}
				amount := string(h.Amount)
				if !strings.HasPrefix(amount, "-") {
					amount = "+" + amount
				}
				note := ""
				if h.Replaces != nil {
					note = "replaces " + h.Replaces.String()
				}
				fmt.Fprintf(t, "%s\t%d\t%s\t%s\t%s\t%s\n", formatTime(h.Time), h.Confirmations, amount, fee, h.TxID, note)
			}
			return t.Flush()
		})
	}}
}
