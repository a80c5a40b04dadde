//go:build unix

package testnet

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/wallet"
)

// BenchmarkWalletOverRealNode measures the wallet binary against a real
// regtest node process holding a wallet of 10,000 confirmed outputs (five
// coinbases fanned out into 2,000 outputs each, over ten of the wallet's
// addresses):
//
//   - balance: 'wallet balance', process start to exit (keystore opened, the
//     node asked about every address, the view built and printed);
//   - balance-empty-wallet: the same for a wallet with no outputs, the
//     floor every command pays (process start, argon2id of the keystore);
//   - send100: 'wallet send' of an amount only 100 of the outputs cover, at a
//     fixed fee rate: coin selection, building, signing 100 inputs and
//     handing the transaction to the node;
//   - estimatesmartfee: one estimatesmartfee RPC call.
//
// Run: go test ./testnet -run '^$' -bench WalletOverRealNode
func BenchmarkWalletOverRealNode(b *testing.B) {
	if testing.Short() {
		b.Skip("runs a node process")
	}
	const fans, perFan, fanFee = 5, 2000, 100_000
	tn := New(b, Options{Nodes: 1, LogLevel: "warn"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	node := tn.Node(0)
	cli := newWalletCLI(b, ctx, tn)
	cli.run(0, "w.json", "create")
	var pays [][chain.PubKeyHashSize]byte
	for range 10 {
		pkh, err := chain.RegtestParams.DecodeAddress(cli.run(0, "w.json", "newaddress"))
		if err != nil {
			b.Fatal(err)
		}
		pays = append(pays, pkh)
	}
	generate(b, ctx, node, int(chain.RegtestParams.CoinbaseMaturity)+fans)
	var coin uint64
	for h := 1; h <= fans; h++ {
		coin = fanOutCoinbase(b, ctx, node, h, perFan, fanFee, pays...).Outputs[0].Value
	}
	generate(b, ctx, node, 1)
	if n := mempoolSize(b, ctx, node); n != 0 {
		b.Fatalf("%d fan-outs left unmined", n)
	}
	var unspent []struct{}
	if err := jsonUnmarshal(cli.run(0, "w.json", "listunspent", "--json"), &unspent); err != nil || len(unspent) != fans*perFan {
		b.Fatalf("wallet lists %d unspent outputs, want %d (%v)", len(unspent), fans*perFan, err)
	}

	b.Run("balance", func(b *testing.B) {
		want := wallet.FormatAmount(fans * perFan * coin)
		for b.Loop() {
			var bal struct {
				Confirmed json.Number `json:"confirmed"`
			}
			if err := jsonUnmarshal(cli.run(0, "w.json", "balance", "--json"), &bal); err != nil || bal.Confirmed.String() != want {
				b.Fatalf("balance %q, want %s (%v)", bal.Confirmed, want, err)
			}
		}
	})
	// The same command for a wallet of no outputs: the keystore's argon2id
	// (DefaultKDF, paid by every command that opens the wallet) and the
	// process start, which the 10,000 outputs add to.
	cli.run(0, "empty.json", "create")
	b.Run("balance-empty-wallet", func(b *testing.B) {
		for b.Loop() {
			cli.run(0, "empty.json", "balance", "--json")
		}
	})
	b.Run("send100", func(b *testing.B) {
		// 99.5 outputs' worth: 99 are too few, and 100 leave half an output
		// for the fee (about 15 kB at 1 unit per byte) and change.
		amount := wallet.FormatAmount(coin*99 + coin/2)
		to := e2eAddress(chain.RegtestParams)
		for b.Loop() {
			var sent struct {
				TxID string `json:"txid"`
			}
			if err := jsonUnmarshal(cli.run(0, "w.json", "send", to, amount, "--fee-rate", "1", "--json"), &sent); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			var tx struct {
				Vin []struct{} `json:"vin"`
			}
			if err := node.Call(ctx, "getrawtransaction", []any{sent.TxID, true}, &tx); err != nil || len(tx.Vin) != 100 {
				b.Fatalf("send %s has %d inputs, want 100 (%v)", sent.TxID, len(tx.Vin), err)
			}
			b.StartTimer()
		}
	})
	b.Run("estimatesmartfee", func(b *testing.B) {
		for b.Loop() {
			var est struct {
				Blocks int `json:"blocks"`
			}
			if err := node.Call(ctx, "estimatesmartfee", []any{2}, &est); err != nil {
				b.Fatal(err)
			}
		}
	})
}
