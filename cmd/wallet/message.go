package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/quarrychain/quarry/wallet"
)

// Commands that need no node: signmessage, verifymessage, passphrase, backup.

func signMessageCommand() *command {
	return &command{
		args: []string{"ADDR", "MESSAGE"},
		run: func(_ context.Context, a *app, args []string) error {
			pkh, err := a.params.DecodeAddress(args[0])
			if err != nil {
				return err
			}
			w, err := a.openWallet()
			if err != nil {
				return err
			}
			defer w.Close()
			key, ok := w.PrivateKey(pkh)
			if !ok {
				return fmt.Errorf("%s is not an address this wallet has given out", args[0])
			}
			a.printf("%s\n", wallet.SignMessage(key, args[1]))
			return nil
		},
	}
}

func verifyMessageCommand() *command {
	return &command{
		args: []string{"ADDR", "SIGNATURE", "MESSAGE"},
		run: func(_ context.Context, a *app, args []string) error {
			if err := wallet.VerifyMessage(a.params, args[0], args[1], args[2]); err != nil {
				return err
			}
			a.printf("The signature is valid: the key of %s signed this message.\n", args[0])
			return nil
		},
	}
}

func passphraseCommand() *command {
	var newFile string
	return &command{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&newFile, "new-passphrase-file", "", "") },
		run: func(_ context.Context, a *app, _ []string) error {
			w, err := a.openWallet()
			if err != nil {
				return err
			}
			defer w.Close()
			var next []byte
			switch {
			case newFile != "":
				data, err := os.ReadFile(newFile)
				if err != nil {
					return fmt.Errorf("reading the new passphrase file: %w", err)
				}
				next = bytes.TrimSuffix(data, []byte("\n"))
			case a.tty != nil:
				if next, err = a.tty.readSecret("New wallet passphrase: "); err != nil {
					return err
				}
				again, err := a.tty.readSecret("Repeat the passphrase: ")
				if err != nil {
					return err
				}
				if !bytes.Equal(next, again) {
					return errors.New("the two passphrases differ; nothing was written")
				}
			default:
				return errors.New("no new passphrase: standard input is not a terminal to ask on; give --new-passphrase-file FILE")
			}
			defer clear(next)
			if err := w.ChangePassphrase(next); err != nil {
				return err
			}
			a.printf("The wallet file is now encrypted under the new passphrase.\n")
			return nil
		},
	}
}

func backupCommand() *command {
	return &command{run: func(_ context.Context, a *app, _ []string) error {
		w, err := a.openWallet()
		if err != nil {
			return err
		}
		defer w.Close()
		if w.WatchOnly() {
			return fmt.Errorf("%w and no mnemonic: back up the signing wallet", wallet.ErrWatchOnly)
		}
		if a.opts.json {
			return a.printJSON(struct {
				Mnemonic string `json:"mnemonic"`
			}{w.Mnemonic()})
		}
		a.printf("Write these words down and keep them offline; anyone who has them can spend the wallet's money:\n\n%s\n", w.Mnemonic())
		return nil
	}}
}
