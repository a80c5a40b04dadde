//go:build unix

package testnet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
)

type e2eSend struct {
	TxID     string `json:"txid"`
	Payments []struct {
		To     string     `json:"to"`
		Amount rpc.Amount `json:"amount"`
	} `json:"payments"`
	Fee           rpc.Amount `json:"fee"`
	FeeRate       uint64     `json:"fee_rate"`
	FeeRateSource string     `json:"fee_rate_source"`
	Size          int        `json:"size"`
}

type e2eBalance struct {
	Confirmed   rpc.Amount `json:"confirmed"`
	Unconfirmed rpc.Amount `json:"unconfirmed"`
	Immature    rpc.Amount `json:"immature"`
	Total       rpc.Amount `json:"total"`
}

// One transaction pays three addresses of another wallet exactly; that
// wallet's sendall then leaves it empty, paying the fee it reported.
func TestE2EWalletSendManyAndSendAll(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 1})
	ctx := testCtx(t, 3*time.Minute)
	cli := newWalletCLI(t, ctx, tn)
	node := tn.Node(0)
	mine := func(blocks int) {
		t.Helper()
		if err := node.Call(ctx, "generatetoaddress", []any{blocks, e2eAddress(chain.RegtestParams)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	balance := func(file string) e2eBalance {
		t.Helper()
		var b e2eBalance
		if err := jsonUnmarshal(cli.run(0, file, "balance", "--json"), &b); err != nil {
			t.Fatal(err)
		}
		return b
	}

	cli.run(0, "alice.json", "create")
	cli.run(0, "bob.json", "create")
	cli.run(0, "carol.json", "create")
	alice := cli.run(0, "alice.json", "newaddress")
	if err := node.Call(ctx, "generatetoaddress", []any{101, alice}, nil); err != nil {
		t.Fatal(err)
	}
	bob := []string{cli.run(0, "bob.json", "newaddress"), cli.run(0, "bob.json", "newaddress"), cli.run(0, "bob.json", "newaddress")}
	amounts := []rpc.Amount{1_1000_0000, 2_2000_0000, 3_3000_0000}

	var sent e2eSend
	if err := jsonUnmarshal(cli.run(0, "alice.json", "send", bob[0], "1.1", bob[1], "2.2", bob[2], "3.3", "--json"), &sent); err != nil {
		t.Fatal(err)
	}
	if len(sent.Payments) != 3 || sent.FeeRateSource == "" || sent.Fee < rpc.Amount(sent.FeeRate)*rpc.Amount(sent.Size) {
		t.Fatalf("send: %+v", sent)
	}
	mine(1)
	if c := confirmations(t, ctx, node, sent.TxID); c != 1 {
		t.Fatalf("the send has %d confirmations", c)
	}
	var addrs []struct {
		Address string     `json:"address"`
		Balance rpc.Amount `json:"balance"`
	}
	if err := jsonUnmarshal(cli.run(0, "bob.json", "addresses", "--json"), &addrs); err != nil {
		t.Fatal(err)
	}
	for i, a := range addrs {
		if a.Address != bob[i] || a.Balance != amounts[i] {
			t.Errorf("bob's address %d: %+v, want %s with %d", i, a, bob[i], amounts[i])
		}
	}
	if b := balance("bob.json"); b.Confirmed != 6_6000_0000 || b.Total != 6_6000_0000 {
		t.Fatalf("bob's balance %+v, want 6.6 QRY confirmed", b)
	}

	carol := cli.run(0, "carol.json", "newaddress")
	var swept e2eSend
	if err := jsonUnmarshal(cli.run(0, "bob.json", "sendall", carol, "--fee-rate", "3", "--json"), &swept); err != nil {
		t.Fatal(err)
	}
	if swept.FeeRate != 3 || swept.Fee < 3*rpc.Amount(swept.Size) || swept.Fee > 3*rpc.Amount(swept.Size+6) ||
		len(swept.Payments) != 1 || swept.Payments[0].Amount != 6_6000_0000-swept.Fee {
		t.Fatalf("sendall: %+v", swept)
	}
	mine(1)
	if b := balance("bob.json"); b != (e2eBalance{}) {
		t.Errorf("bob's balance after sendall %+v, want zero", b)
	}
	if b := balance("carol.json"); b.Confirmed != 6_6000_0000-swept.Fee {
		t.Errorf("carol's balance %+v, want 6.6 QRY less the %d fee", b, swept.Fee)
	}
}

func mempoolTxIDs(t *testing.T, ctx context.Context, n *Node) map[string]bool {
	t.Helper()
	var ids []string
	if err := n.Call(ctx, "getrawmempool", nil, &ids); err != nil {
		t.Fatal(err)
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// A send at the minimum fee is bumped; the replacement is mined and the
// original never is. A send lost with the node's mempool (the node killed
// before it could save it) is handed to the node again by the next wallet
// command, and mined.
func TestE2EWalletBumpFeeAndRebroadcast(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 1})
	ctx := testCtx(t, 3*time.Minute)
	cli := newWalletCLI(t, ctx, tn)
	node := tn.Node(0)
	mine := func() {
		t.Helper()
		if err := node.Call(ctx, "generatetoaddress", []any{1, e2eAddress(chain.RegtestParams)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	cli.run(0, "alice.json", "create")
	alice := cli.run(0, "alice.json", "newaddress")
	if err := node.Call(ctx, "generatetoaddress", []any{102, alice}, nil); err != nil {
		t.Fatal(err)
	}
	payee := chain.RegtestParams.EncodeAddress([chain.PubKeyHashSize]byte{0xb0})

	var orig e2eSend
	if err := jsonUnmarshal(cli.run(0, "alice.json", "send", payee, "1", "--fee-rate", "1", "--json"), &orig); err != nil {
		t.Fatal(err)
	}
	var bumped struct {
		TxID        string     `json:"txid"`
		OrigTxID    string     `json:"origtxid"`
		Fee         rpc.Amount `json:"fee"`
		OrigFee     rpc.Amount `json:"origfee"`
		FeeRate     uint64     `json:"fee_rate"`
		OrigFeeRate uint64     `json:"origfee_rate"`
	}
	if err := jsonUnmarshal(cli.run(0, "alice.json", "bumpfee", orig.TxID, "--json"), &bumped); err != nil {
		t.Fatal(err)
	}
	if bumped.OrigTxID != orig.TxID || bumped.OrigFee != orig.Fee || bumped.FeeRate < bumped.OrigFeeRate+1 || bumped.Fee <= orig.Fee {
		t.Fatalf("bumpfee: %+v after %+v", bumped, orig)
	}
	if pool := mempoolTxIDs(t, ctx, node); !pool[bumped.TxID] || pool[orig.TxID] {
		t.Fatalf("mempool %v: want the replacement %s, not the original %s", pool, bumped.TxID, orig.TxID)
	}
	var history []struct {
		TxID     string `json:"txid"`
		Replaces string `json:"replaces"`
	}
	if err := jsonUnmarshal(cli.run(0, "alice.json", "history", "--json"), &history); err != nil {
		t.Fatal(err)
	}
	if last := history[len(history)-1]; last.TxID != bumped.TxID || last.Replaces != orig.TxID {
		t.Errorf("history ends with %+v, want %s replacing %s", last, bumped.TxID, orig.TxID)
	}
	mine()
	if c := confirmations(t, ctx, node, bumped.TxID); c != 1 {
		t.Errorf("the replacement has %d confirmations", c)
	}
	if c := confirmations(t, ctx, node, orig.TxID); c != -1 {
		t.Errorf("the original is known with %d confirmations", c)
	}

	var lost e2eSend
	if err := jsonUnmarshal(cli.run(0, "alice.json", "send", payee, "2", "--json"), &lost); err != nil {
		t.Fatal(err)
	}
	if err := node.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if mempoolTxIDs(t, ctx, node)[lost.TxID] {
		t.Fatal("the killed node kept its mempool")
	}
	cli.run(0, "alice.json", "balance")
	if !mempoolTxIDs(t, ctx, node)[lost.TxID] {
		t.Fatal("the next wallet command did not hand the lost send to the node")
	}
	mine()
	if c := confirmations(t, ctx, node, lost.TxID); c != 1 {
		t.Errorf("the rebroadcast send has %d confirmations", c)
	}
}

// A watch-only wallet, made from a signing wallet's xpub, follows the
// balance and writes a send unsigned; the signing wallet, in its own file and
// process with no node at all, signs it; the watch-only wallet broadcasts it
// and the node mines it.
func TestE2EWalletWatchOnlyAndOfflineSigning(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 1})
	ctx := testCtx(t, 3*time.Minute)
	cli := newWalletCLI(t, ctx, tn)
	node := tn.Node(0)
	cli.run(0, "signer.json", "create")
	xpub := cli.run(0, "signer.json", "xpub")
	cli.run(0, "online.json", "create", "--watch-only", xpub)
	addr := cli.run(0, "online.json", "newaddress")
	if signers := cli.run(0, "signer.json", "newaddress"); signers != addr {
		t.Fatalf("the watch-only wallet gave %s, the signer %s", addr, signers)
	}
	if err := node.Call(ctx, "generatetoaddress", []any{101, addr}, nil); err != nil {
		t.Fatal(err)
	}
	var b e2eBalance
	if err := jsonUnmarshal(cli.run(0, "online.json", "balance", "--json"), &b); err != nil || b.Total != 101*50*chain.Coin {
		t.Fatalf("watch-only balance %+v, %v", b, err)
	}
	if _, err := cli.try(0, "online.json", "send", chain.RegtestParams.EncodeAddress([20]byte{1}), "1"); err == nil {
		t.Fatal("a watch-only wallet sent without --unsigned")
	}
	file := filepath.Join(cli.dir, "payment.json")
	payee := chain.RegtestParams.EncodeAddress([chain.PubKeyHashSize]byte{0xc0})
	cli.run(0, "online.json", "send", payee, "7.5", "--unsigned", file)
	if _, err := cli.try(0, "online.json", "broadcast", file); err == nil {
		t.Fatal("an unsigned file was broadcast")
	}

	// The signer has no node: its RPC address is a closed port.
	signer := exec.CommandContext(ctx, cli.bin, "--network", "regtest", "--wallet", filepath.Join(cli.dir, "signer.json"),
		"--rpc-url", "http://127.0.0.1:1", "--rpc-user", "nobody", "--rpc-password", "x", "sign", file)
	signer.Env = append(os.Environ(), "QUARRY_WALLET_PASSPHRASE=e2e passphrase")
	shown, err := signer.CombinedOutput()
	if err != nil {
		t.Fatalf("sign: %v\n%s", err, shown)
	}
	if !strings.Contains(string(shown), "pays   7.50000000 QRY to "+payee) || !strings.Contains(string(shown), "fee ") {
		t.Errorf("the signer showed:\n%s", shown)
	}
	var sent struct {
		TxID string `json:"txid"`
	}
	if err := jsonUnmarshal(cli.run(0, "online.json", "broadcast", file, "--json"), &sent); err != nil {
		t.Fatal(err)
	}
	if err := node.Call(ctx, "generatetoaddress", []any{1, e2eAddress(chain.RegtestParams)}, nil); err != nil {
		t.Fatal(err)
	}
	if c := confirmations(t, ctx, node, sent.TxID); c != 1 {
		t.Errorf("the offline-signed send has %d confirmations", c)
	}
}
