package main

import (
	"context"
	"fmt"
	"os"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/atomicfile"
	"github.com/quarrychain/quarry/wallet"
)

// Offline signing: send --unsigned writes a file on the machine that talks to
// the node; sign signs it on the machine with the keys, which needs no node;
// broadcast hands it to the node.

func xpubCommand() *command {
	return &command{run: func(_ context.Context, a *app, _ []string) error {
		w, err := a.openWallet()
		if err != nil {
			return err
		}
		defer w.Close()
		a.printf("%s\n", w.XPub())
		return nil
	}}
}

// writeUnsigned writes the unsigned transaction of s to path: the outputs it
// spends with their key paths, and its change with its path.
func (a *app) writeUnsigned(path string, s *wallet.Send, v *wallet.View, change *wallet.Key) error {
	u := &wallet.Unsigned{Network: a.params.Name, Tx: s.Tx}
	for _, sp := range s.Spent {
		k, ok := v.Owns(sp.PubKeyHash)
		if !ok {
			return fmt.Errorf("output %s pays no key of this wallet", sp.OutPoint)
		}
		u.Inputs = append(u.Inputs, wallet.UnsignedInput{OutPoint: sp.OutPoint, Value: sp.Value, Address: k.Address, Path: k.Path})
	}
	if s.ChangeIndex >= 0 {
		u.Change = []wallet.UnsignedChange{{Vout: uint32(s.ChangeIndex), Path: change.Path}}
	}
	data, err := u.Encode()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

func (a *app) readUnsigned(path string) (*wallet.Unsigned, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return wallet.DecodeUnsigned(data, a.params)
}

// describe prints what u pays, to whom, and its fee: what a signer must see
// before signing.
func (a *app) describe(u *wallet.Unsigned) {
	change := make(map[uint32]bool)
	for _, c := range u.Change {
		change[c.Vout] = true
	}
	for i, out := range u.Tx.Outputs {
		what := "pays"
		if change[uint32(i)] {
			what = "change"
		}
		a.printf("%-6s %s QRY to %s\n", what, wallet.FormatAmount(out.Value), a.params.EncodeAddress(out.PubKeyHash))
	}
	a.printf("fee    %s QRY for %d inputs\n", wallet.FormatAmount(u.Fee()), len(u.Inputs))
}

func signCommand() *command {
	return &command{
		args: []string{"FILE"},
		run: func(_ context.Context, a *app, args []string) error {
			u, err := a.readUnsigned(args[0])
			if err != nil {
				return err
			}
			// Shown before the passphrase is asked for: the signer sees what
			// it signs first.
			a.describe(u)
			w, err := a.openWallet()
			if err != nil {
				return err
			}
			defer w.Close()
			if err := w.Sign(u); err != nil {
				return fmt.Errorf("not signed: %w", err)
			}
			data, err := u.Encode()
			if err != nil {
				return err
			}
			if err := atomicfile.Write(args[0], data, 0o600); err != nil {
				return err
			}
			a.printf("Signed %s (txid %s); 'wallet broadcast %s' sends it\n", args[0], u.Tx.TxID(), args[0])
			return nil
		},
	}
}

func broadcastCommand() *command {
	return &command{
		args: []string{"FILE"},
		run: func(ctx context.Context, a *app, args []string) error {
			u, err := a.readUnsigned(args[0])
			if err != nil {
				return err
			}
			if !u.Complete() {
				return fmt.Errorf("%s is not signed yet: 'wallet sign %s' on the machine with the keys", args[0], args[0])
			}
			n, _, err := a.connect(ctx)
			if err != nil {
				return err
			}
			txid, err := a.broadcast(ctx, n, u.Tx, nil)
			if err != nil {
				return err
			}
			if a.opts.json {
				return a.printJSON(struct {
					TxID chain.Hash `json:"txid"`
				}{txid})
			}
			a.printf("txid %s\n", txid)
			return nil
		},
	}
}
