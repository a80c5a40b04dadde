package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/wallet"
)

// The commands that fix a stuck send: bumpfee and abandon.

func bumpFeeCommand() *command {
	var fees feeFlags
	return &command{
		flags: func(fs *flag.FlagSet) { fs.Var(&fees.feeRate, "fee-rate", "") },
		args:  []string{"TXID"},
		run: func(ctx context.Context, a *app, args []string) error {
			txid, err := chain.ParseHash(args[0])
			if err != nil {
				return usagef("TXID: %v", err)
			}
			if _, err := fees.check(); err != nil {
				return err
			}
			return a.bumpFee(ctx, txid, &fees)
		},
	}
}

func (a *app) bumpFee(ctx context.Context, txid chain.Hash, fees *feeFlags) error {
	return a.withView(ctx, false, func(w *wallet.Wallet, n *node, v *wallet.View) error {
		var orig *wallet.PendingTx
		for _, p := range v.Pending {
			if p.TxID == txid && p.Time != 0 {
				orig = p
			}
		}
		if orig == nil {
			return fmt.Errorf("%w: %s is not an unconfirmed send of this wallet", wallet.ErrNotBumpable, txid)
		}
		var descendants []chain.Hash
		if err := n.call(ctx, "getmempooldescendants", []any{txid}, &descendants); err != nil {
			return err
		}
		if len(descendants) > 0 {
			return fmt.Errorf("%w: transaction has %d descendants in the mempool, which a replacement would evict", wallet.ErrNotBumpable, len(descendants))
		}
		spent := make([]wallet.UTXO, 0, len(orig.Tx.Inputs))
		utxos, exclude := v.UTXOs()
		byOutPoint := make(map[chain.OutPoint]wallet.UTXO, len(utxos))
		for _, u := range utxos {
			byOutPoint[u.OutPoint] = u
		}
		for _, in := range orig.Tx.Inputs {
			if u, ok := byOutPoint[in.PrevOut]; ok {
				spent = append(spent, u)
			}
		}
		var extra []wallet.UTXO
		for _, u := range utxos {
			if !exclude[u.OutPoint] {
				extra = append(extra, u)
			}
		}
		rate, _, err := a.feeRate(ctx, n, fees)
		if err != nil {
			return err
		}
		change, err := w.Key(wallet.Change, w.NextIndex(wallet.Change))
		if err != nil {
			return err
		}
		isChange := func(pkh [chain.PubKeyHashSize]byte) bool {
			k, ok := v.Owns(pkh)
			return ok && k.Branch == wallet.Change
		}
		b, err := wallet.BuildBump(&wallet.BumpRequest{Original: orig.Tx, Spent: spent, Extra: extra, IsChange: isChange,
			FeeRate: rate, Change: change.PubKeyHash, CoinbaseMaturity: a.params.CoinbaseMaturity, Keys: w})
		if err != nil {
			return err
		}
		if b.ChangeIndex >= 0 && b.Tx.Outputs[b.ChangeIndex].PubKeyHash == change.PubKeyHash {
			if _, err := w.NewAddress(wallet.Change); err != nil {
				return err
			}
		}
		newID, err := a.broadcast(ctx, n, b.Tx, &txid)
		if err != nil {
			return err
		}
		// The original can never be mined now: it is no longer the wallet's
		// to follow, and the replacement's record names it.
		if err := a.pendingSends().Remove(txid); err != nil {
			return err
		}
		if a.opts.json {
			return a.printJSON(struct {
				TxID        chain.Hash  `json:"txid"`
				OrigTxID    chain.Hash  `json:"origtxid"`
				OrigFee     json.Number `json:"origfee"`
				Fee         json.Number `json:"fee"`
				FeeRate     uint64      `json:"fee_rate"`
				OrigFeeRate uint64      `json:"origfee_rate"`
			}{newID, txid, qry(b.OriginalFee), qry(b.Fee), b.FeeRate, b.OriginalFeeRate})
		}
		a.printf("Replaced %s\nwith     %s\n", txid, newID)
		a.printf("fee %s QRY (%d base units/byte), was %s QRY (%d base units/byte)\n",
			wallet.FormatAmount(b.Fee), b.FeeRate, wallet.FormatAmount(b.OriginalFee), b.OriginalFeeRate)
		return nil
	})
}

func abandonCommand() *command {
	return &command{
		args: []string{"TXID"},
		run: func(ctx context.Context, a *app, args []string) error {
			txid, err := chain.ParseHash(args[0])
			if err != nil {
				return usagef("TXID: %v", err)
			}
			// No view: loading one would hand the send to the node again.
			n, _, err := a.connect(ctx)
			if err != nil {
				return err
			}
			if err := a.pendingSends().Abandon(ctx, n, txid); err != nil {
				return err
			}
			a.printf("Abandoned %s: the outputs it spent can be spent again.\n", txid)
			return nil
		},
	}
}
