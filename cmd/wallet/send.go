package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/wallet"
)

// fallbackFeeRate is paid when the node has no estimate yet (a new network,
// or a node just started with no fee history): twice the node's default
// minimum relay fee rate of one base unit per byte, as Core's -fallbackfee
// stands in on test networks. The wallet says when it uses it.
const fallbackFeeRate = 2

// defaultConfTarget is the blocks within which a send should confirm when
// neither --conf-target nor --fee-rate is given, as Core's -txconfirmtarget.
const defaultConfTarget = 6

// feeFlags are the fee and coin-control flags send and sendall share.
type feeFlags struct {
	confTarget optionalUint
	feeRate    optionalUint
	coins      string
}

// optionalUint is a number flag that knows whether it was given.
type optionalUint struct {
	value uint64
	set   bool
}

func (o *optionalUint) String() string { return strconv.FormatUint(o.value, 10) }

func (o *optionalUint) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("not a whole number")
	}
	o.value, o.set = v, true
	return nil
}

func (f *feeFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.confTarget, "conf-target", "")
	fs.Var(&f.feeRate, "fee-rate", "")
	fs.StringVar(&f.coins, "coins", "", "")
}

// maxConfTarget is the furthest target a node estimates, as Core's.
const maxConfTarget = 1008

// check refuses contradicting or impossible fee flags and parses --coins,
// before the passphrase is asked for or the node called.
func (f *feeFlags) check() ([]chain.OutPoint, error) {
	switch {
	case f.confTarget.set && f.feeRate.set:
		return nil, usagef("give either --conf-target or --fee-rate, not both")
	case f.feeRate.set && f.feeRate.value == 0:
		return nil, usagef("--fee-rate 0: nodes relay nothing below 1 base unit per byte")
	case f.confTarget.set && (f.confTarget.value == 0 || f.confTarget.value > maxConfTarget):
		return nil, usagef("--conf-target %d: give 1 to %d blocks", f.confTarget.value, maxConfTarget)
	}
	if f.coins == "" {
		return nil, nil
	}
	var coins []chain.OutPoint
	for _, c := range strings.Split(f.coins, ",") {
		op, err := parseOutPoint(c)
		if err != nil {
			return nil, usagef("--coins: %v", err)
		}
		coins = append(coins, op)
	}
	return coins, nil
}

// parseOutPoint reads TXID:N, as listunspent shows a coin.
func parseOutPoint(s string) (chain.OutPoint, error) {
	id, index, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return chain.OutPoint{}, fmt.Errorf("%q is not TXID:N", s)
	}
	txid, err := chain.ParseHash(id)
	if err != nil {
		return chain.OutPoint{}, fmt.Errorf("%q: %w", s, err)
	}
	n, err := strconv.ParseUint(index, 10, 32)
	if err != nil {
		return chain.OutPoint{}, fmt.Errorf("%q: output index: %w", s, err)
	}
	return chain.OutPoint{TxID: txid, Index: uint32(n)}, nil
}

// smartFee is estimatesmartfee's result.
type smartFee struct {
	FeeRate json.Number `json:"feerate"` // QRY per 1,000 bytes
	Errors  []string    `json:"errors"`
	Blocks  int         `json:"blocks"`
}

// feeRate returns the rate to pay in base units per byte and where it came
// from: --fee-rate, or the node's estimate for --conf-target blocks, or, when
// the node has none, the fallback.
func (a *app) feeRate(ctx context.Context, n *node, f *feeFlags) (uint64, string, error) {
	if f.feeRate.set {
		return f.feeRate.value, "--fee-rate", nil
	}
	target := uint64(defaultConfTarget)
	if f.confTarget.set {
		target = f.confTarget.value
	}
	var est smartFee
	err := n.call(ctx, "estimatesmartfee", []any{target, "economical"}, &est)
	var rpcErr *rpc.Error
	switch {
	case errors.As(err, &rpcErr), err == nil && est.FeeRate == "":
		// A node without the method, or with too little data (Core's
		// errors field), gives no number; the wallet never makes one up
		// as an estimate, and says it pays the fallback.
		return fallbackFeeRate, "fallback: the node has no estimate", nil
	case err != nil:
		return 0, "", err
	}
	perKB, err := wallet.ParseAmount(string(est.FeeRate))
	if err != nil {
		return 0, "", fmt.Errorf("node: estimatesmartfee: feerate %s: %w", est.FeeRate, err)
	}
	// Rounded up, so the fee never falls short of the estimate.
	rate := max((perKB+999)/1000, 1)
	if rate > wallet.MaxFeeRate {
		return 0, "", fmt.Errorf("node: estimatesmartfee answered %s QRY per 1,000 bytes, over the %d base units per byte the wallet pays on a node's word; give --fee-rate to pay it",
			wallet.FormatAmount(perKB), wallet.MaxFeeRate)
	}
	return rate, fmt.Sprintf("estimate for %d blocks", est.Blocks), nil
}

func sendCommand() *command {
	var fees feeFlags
	var subtractFee bool
	var unsigned string
	return &command{
		flags: func(fs *flag.FlagSet) {
			fees.register(fs)
			fs.BoolVar(&subtractFee, "subtract-fee", false, "")
			fs.StringVar(&unsigned, "unsigned", "", "")
		},
		args:   []string{"ADDR", "AMOUNT"},
		repeat: true,
		run: func(ctx context.Context, a *app, args []string) error {
			coins, err := fees.check()
			if err != nil {
				return err
			}
			// Mistakes in the command line are refused before the
			// passphrase is asked for and before the node is called.
			var payments []wallet.Payment
			for i := 0; i < len(args); i += 2 {
				to, err := a.params.DecodeAddress(args[i])
				if err != nil {
					return err
				}
				amount, err := wallet.ParseAmount(args[i+1])
				if err != nil {
					return err
				}
				if amount == 0 {
					return fmt.Errorf("%w %q: the amount must be more than zero", wallet.ErrInvalidAmount, args[i+1])
				}
				payments = append(payments, wallet.Payment{To: to, Amount: amount})
			}
			return a.send(ctx, &wallet.SendRequest{Payments: payments, SubtractFee: subtractFee, Coins: coins, Unsigned: unsigned != ""}, &fees, unsigned)
		},
	}
}

func sendAllCommand() *command {
	var fees feeFlags
	return &command{
		flags: fees.register,
		args:  []string{"ADDR"},
		run: func(ctx context.Context, a *app, args []string) error {
			coins, err := fees.check()
			if err != nil {
				return err
			}
			to, err := a.params.DecodeAddress(args[0])
			if err != nil {
				return err
			}
			return a.send(ctx, &wallet.SendRequest{Payments: []wallet.Payment{{To: to}}, SpendAll: true, Coins: coins}, &fees, "")
		},
	}
}

// send completes req with the wallet's coins, keys and fee rate, builds and
// signs the transaction, records it as pending and broadcasts it; or, with
// req.Unsigned, writes it unsigned to unsignedPath for 'wallet sign'.
func (a *app) send(ctx context.Context, req *wallet.SendRequest, fees *feeFlags, unsignedPath string) error {
	return a.withView(ctx, false, func(w *wallet.Wallet, n *node, v *wallet.View) error {
		rate, source, err := a.feeRate(ctx, n, fees)
		if err != nil {
			return err
		}
		// The change key is the next one of the change branch, given out only if
		// the transaction has change, so that sends without change leave no
		// unused change addresses behind.
		change, err := w.Key(wallet.Change, w.NextIndex(wallet.Change))
		if err != nil {
			return err
		}
		req.UTXOs, req.Exclude = v.UTXOs()
		req.CoinbaseMaturity = a.params.CoinbaseMaturity
		req.FeeRate = rate
		req.Change = change.PubKeyHash
		if w.WatchOnly() && !req.Unsigned {
			return fmt.Errorf("%w: 'wallet send --unsigned FILE' writes the send for the signing wallet", wallet.ErrWatchOnly)
		}
		if !req.Unsigned {
			req.Keys = w
		}
		s, err := wallet.BuildSend(req)
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
		if req.Unsigned {
			if err := a.writeUnsigned(unsignedPath, s, v, change); err != nil {
				return err
			}
			a.printf("Wrote the unsigned transaction to %s; 'wallet sign %s' signs it where the keys are\n", unsignedPath, unsignedPath)
			return nil
		}
		txid, err := a.broadcast(ctx, n, s.Tx, nil)
		if err != nil {
			return err
		}
		return a.printSend(txid, s, rate, source, changeAddress)
	})
}

// broadcast checks tx, records it as pending (replacing the send replaces,
// if not nil) and hands it to the node.
func (a *app) broadcast(ctx context.Context, n *node, tx *chain.Tx, replaces *chain.Hash) (chain.Hash, error) {
	if err := chain.CheckTxSanity(tx); err != nil {
		return chain.Hash{}, fmt.Errorf("the transaction built is invalid, nothing was sent: %w", err)
	}
	txid := tx.TxID()
	pending := a.pendingSends()
	if err := pending.Add(tx, replaces); err != nil {
		return txid, err
	}
	if _, err := n.broadcast(ctx, tx); err != nil {
		var rpcErr *rpc.Error
		if !errors.As(err, &rpcErr) {
			return txid, fmt.Errorf("transaction %s may or may not have reached the node (%w); the wallet counts it as sent until it is in neither the node's mempool nor its chain", txid, err)
		}
		refused := fmt.Errorf("the node refused the transaction: %w", err)
		if rpcErr.Code == rpc.CodeVerify {
			refused = fmt.Errorf("%w; if another copy of this wallet spent the same outputs, try again after the next block", refused)
		}
		if err := pending.Remove(txid); err != nil {
			return txid, fmt.Errorf("%w (and forgetting it failed: %w)", refused, err)
		}
		return txid, refused
	}
	return txid, nil
}

type paymentJSON struct {
	To     string      `json:"to"`
	Amount json.Number `json:"amount"`
}

func (a *app) printSend(txid chain.Hash, s *wallet.Send, rate uint64, rateSource, changeAddress string) error {
	size := s.Tx.SerializeSize()
	paid := make([]paymentJSON, len(s.Paid))
	for i, p := range s.Paid {
		paid[i] = paymentJSON{To: a.params.EncodeAddress(p.To), Amount: qry(p.Amount)}
	}
	if a.opts.json {
		out := struct {
			TxID          chain.Hash    `json:"txid"`
			Payments      []paymentJSON `json:"payments"`
			Fee           json.Number   `json:"fee"`
			FeeRate       uint64        `json:"fee_rate"` // base units per byte
			FeeRateSource string        `json:"fee_rate_source"`
			Size          int           `json:"size"`
			Change        json.Number   `json:"change"`
			ChangeAddress string        `json:"change_address,omitempty"`
		}{txid, paid, qry(s.Fee), rate, rateSource, size, qry(s.Change), changeAddress}
		return a.printJSON(out)
	}
	for _, p := range paid {
		a.printf("Sent %s QRY to %s\n", p.Amount, p.To)
	}
	a.printf("fee %s QRY (%d bytes at %d base units/byte, %s)\n", wallet.FormatAmount(s.Fee), size, rate, rateSource)
	if changeAddress != "" {
		a.printf("change %s QRY to %s\n", wallet.FormatAmount(s.Change), changeAddress)
	}
	a.printf("txid %s\n", txid)
	return nil
}
