package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/wallet"
)

// defaultFeeRate is twice the node's default minimum relay fee rate of one
// base unit per byte: cheap, yet above the minimum when a node raises its
// floor as its mempool fills.
const defaultFeeRate = 2

// minConfirmations is what an output needs to be spent: the wallet's own
// unconfirmed change is not spent, so that a send never depends on another
// send that may still be replaced or dropped.
const minConfirmations = 1

func sendCommand() *command {
	feeRate := uint64(defaultFeeRate)
	return &command{
		flags: func(fs *flag.FlagSet) { fs.Uint64Var(&feeRate, "fee-rate", feeRate, "") },
		args:  []string{"ADDR", "AMOUNT"},
		run: func(ctx context.Context, a *app, args []string) error {
			return a.send(ctx, args[0], args[1], feeRate)
		},
	}
}

func (a *app) send(ctx context.Context, addr, amountText string, feeRate uint64) error {
	// Mistakes in the command line are refused before the passphrase is
	// asked for and before the node is called.
	to, err := a.params.DecodeAddress(addr)
	if err != nil {
		return err
	}
	amount, err := wallet.ParseAmount(amountText)
	if err != nil {
		return err
	}
	if amount == 0 {
		return fmt.Errorf("%w %q: the amount must be more than zero", wallet.ErrInvalidAmount, amountText)
	}
	if feeRate == 0 {
		return usagef("--fee-rate 0: nodes relay nothing below 1 base unit per byte")
	}

	return a.withView(ctx, false, func(w *wallet.Wallet, n *node, v *view) error {
		// The change key is the next one of the change branch, given out only if
		// the transaction has change, so that sends without change leave no
		// unused change addresses behind.
		change, err := w.Key(wallet.Change, w.NextIndex(wallet.Change))
		if err != nil {
			return err
		}
		utxos, exclude := v.utxos()
		s, err := wallet.BuildSend(&wallet.SendRequest{
			UTXOs:            utxos,
			Exclude:          exclude,
			MinConfirmations: minConfirmations,
			CoinbaseMaturity: a.params.CoinbaseMaturity,
			To:               to,
			Amount:           amount,
			FeeRate:          feeRate,
			Change:           change.PubKeyHash,
			Keys:             w,
		})
		if err != nil {
			return err
		}
		changeAddress := ""
		if s.ChangeIndex >= 0 {
			// Given out before the broadcast, so that the counter covers the
			// change even if the program dies right after the node took it.
			k, err := w.NewAddress(wallet.Change)
			if err != nil {
				return err
			}
			if k.PubKeyHash != change.PubKeyHash {
				return fmt.Errorf("the change address moved from %s to %s while the transaction was built; nothing was sent", change.Address, k.Address)
			}
			changeAddress = k.Address
		}
		if err := chain.CheckTxSanity(s.Tx); err != nil {
			return fmt.Errorf("the transaction built is invalid, nothing was sent: %w", err)
		}
		txid := s.Tx.TxID()
		if err := a.addPending(s.Tx); err != nil {
			return err
		}
		if _, err := n.broadcast(ctx, s.Tx); err != nil {
			var rpcErr *rpc.Error
			if !errors.As(err, &rpcErr) {
				return fmt.Errorf("transaction %s may or may not have reached the node (%w); the wallet counts it as sent until it is in neither the node's mempool nor its chain", txid, err)
			}
			refused := fmt.Errorf("the node refused the transaction: %w", err)
			if rpcErr.Code == rpc.CodeVerify {
				refused = fmt.Errorf("%w; if another copy of this wallet spent the same outputs, try again after the next block", refused)
			}
			if err := a.removePending(txid); err != nil {
				return fmt.Errorf("%w (and forgetting it failed: %w)", refused, err)
			}
			return refused
		}

		size := s.Tx.SerializeSize()
		if a.opts.json {
			out := struct {
				TxID          chain.Hash  `json:"txid"`
				To            string      `json:"to"`
				Amount        json.Number `json:"amount"`
				Fee           json.Number `json:"fee"`
				FeeRate       uint64      `json:"fee_rate"` // base units per byte
				Size          int         `json:"size"`
				Change        json.Number `json:"change"`
				ChangeAddress string      `json:"change_address,omitempty"`
			}{txid, a.params.EncodeAddress(to), qry(amount), qry(s.Fee), feeRate, size, qry(s.Change), changeAddress}
			return a.printJSON(out)
		}
		a.printf("Sent %s QRY to %s\n", wallet.FormatAmount(amount), a.params.EncodeAddress(to))
		a.printf("fee %s QRY (%d bytes at %d base units/byte)\n", wallet.FormatAmount(s.Fee), size, feeRate)
		if changeAddress != "" {
			a.printf("change %s QRY to %s\n", wallet.FormatAmount(s.Change), changeAddress)
		}
		a.printf("txid %s\n", txid)
		return nil
	})
}
