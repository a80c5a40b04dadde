//go:build unix

package testnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/rpc"
)

// End-to-end tests: real node processes on 127.0.0.1, driven over RPC, as
// btcd's rpctest and Bitcoin Core's functional tests drive theirs.

func skipE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs node processes")
	}
	if _, err := exec.LookPath("go"); err != nil && os.Getenv(NodeBinEnv) == "" {
		t.Skip("go is not on PATH and $" + NodeBinEnv + " is not set")
	}
}

// e2eKey is the key the tests mine to and spend from.
var e2eKey = secp256k1.PrivKeyFromBytes([]byte("quarry end-to-end test key 32 by"))

func e2eAddress(p *chain.Params) string {
	return p.EncodeAddress(chain.PubKeyHash(e2eKey.PubKey().SerializeCompressed()))
}

func generate(tb testing.TB, ctx context.Context, n *Node, blocks int) []string {
	tb.Helper()
	var hashes []string
	if err := n.Call(ctx, "generatetoaddress", []any{blocks, e2eAddress(chain.RegtestParams)}, &hashes); err != nil {
		tb.Fatalf("%s generatetoaddress: %v", n, err)
	}
	return hashes
}

// spendCoinbase signs a transaction spending the coinbase of the block at
// height (mined to e2eKey) back to e2eKey, and returns its hex and txid.
func spendCoinbase(t *testing.T, ctx context.Context, n *Node, height int, fee uint64) (string, string) {
	t.Helper()
	txid := coinbaseTxID(t, ctx, n, height)
	value := chain.RegtestParams.Subsidy(int32(height))
	pkh := chain.PubKeyHash(e2eKey.PubKey().SerializeCompressed())
	tx := &chain.Tx{Version: 1,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: txid}}},
		Outputs: []chain.TxOut{{Value: value - fee, PubKeyHash: pkh}}}
	chain.SignInput(tx, chain.NewSigHasher(tx, []chain.TxOut{{Value: value, PubKeyHash: pkh}}), 0, e2eKey)
	return hex.EncodeToString(tx.Encode()), tx.TxID().String()
}

func confirmations(t *testing.T, ctx context.Context, n *Node, txid string) int64 {
	t.Helper()
	var res struct {
		Confirmations int64 `json:"confirmations"`
	}
	if err := n.Call(ctx, "getrawtransaction", []any{txid, true}, &res); err != nil {
		return -1
	}
	return res.Confirmations
}

// Three nodes, one mining: every block reaches the others, which agree on the tip.
func TestE2EBlocksReachEveryNode(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 3, Topology: Line})
	ctx := testCtx(t, 2*time.Minute)
	for round := 0; round < 5; round++ {
		hashes := generate(t, ctx, tn.Node(0), 4)
		tip, err := tn.WaitForTip(ctx, int64(4*(round+1)))
		if err != nil {
			t.Fatal(err)
		}
		if tip != hashes[len(hashes)-1] {
			t.Fatalf("round %d: nodes agree on %s, the miner made %s", round, tip, hashes[len(hashes)-1])
		}
	}
}

// walletCLI runs the wallet binary against the testnet's nodes, with its
// files in dir.
type walletCLI struct {
	t     testing.TB
	ctx   context.Context
	tn    *Network
	bin   string
	dir   string
	stdin string
}

func newWalletCLI(t testing.TB, ctx context.Context, tn *Network) *walletCLI {
	t.Helper()
	bin, err := WalletBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &walletCLI{t: t, ctx: ctx, tn: tn, bin: bin, dir: t.TempDir()}
}

// run runs the wallet of file through node and returns its output; a
// failure fails the test.
func (w *walletCLI) run(node int, file string, args ...string) string {
	w.t.Helper()
	out, err := w.try(node, file, args...)
	if err != nil {
		w.t.Fatalf("wallet %v: %v\n%s", args, err, out)
	}
	return out
}

// try runs the wallet and returns its output, or its error with standard
// error in it.
func (w *walletCLI) try(node int, file string, args ...string) (string, error) {
	n := w.tn.Node(node)
	all := append([]string{"--network", "regtest", "--wallet", filepath.Join(w.dir, file),
		"--rpc-url", n.RPCURL(), "--rpc-cookie", n.CookieFile()}, args...)
	cmd := exec.CommandContext(w.ctx, w.bin, all...)
	cmd.Stdin = strings.NewReader(w.stdin)
	cmd.Env = append(os.Environ(), "QUARRY_WALLET_PASSPHRASE=e2e passphrase")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return strings.TrimSpace(string(out)), err
}

// A wallet sends through one node, another node mines it, and a third node's
// wallet sees it, exact to the base unit.
func TestE2EWalletAcrossNodes(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 3})
	ctx := testCtx(t, 3*time.Minute)
	cli := newWalletCLI(t, ctx, tn)
	wallet := cli.run
	var created struct {
		Mnemonic string `json:"mnemonic"`
	}
	if err := jsonUnmarshal(wallet(0, "alice.json", "create", "--json"), &created); err != nil || created.Mnemonic == "" {
		t.Fatalf("create --json gave no mnemonic: %v", err)
	}
	wallet(2, "bob.json", "create")
	alice := wallet(0, "alice.json", "newaddress")
	bob := wallet(2, "bob.json", "newaddress")

	if err := tn.Node(1).Call(ctx, "generatetoaddress", []any{101, alice}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.WaitForTip(ctx, 101); err != nil {
		t.Fatal(err)
	}
	out := wallet(0, "alice.json", "send", bob, "12.5", "--json")
	var sent struct {
		TxID string `json:"txid"`
	}
	if err := jsonUnmarshal(out, &sent); err != nil || sent.TxID == "" {
		t.Fatalf("send output %q: %v", out, err)
	}
	if err := tn.WaitForTx(ctx, sent.TxID); err != nil {
		t.Fatal(err)
	}
	generate(t, ctx, tn.Node(1), 1)
	if _, err := tn.WaitForTip(ctx, 102); err != nil {
		t.Fatal(err)
	}
	var balance struct {
		Confirmed rpc.Amount `json:"confirmed"`
	}
	if err := jsonUnmarshal(wallet(2, "bob.json", "balance", "--json"), &balance); err != nil {
		t.Fatal(err)
	}
	if balance.Confirmed != 12_5000_0000 {
		t.Fatalf("bob's confirmed balance %d, want 1250000000", balance.Confirmed)
	}
	// Alice restored from her mnemonic, through a third node, has the balance
	// she has through the first.
	var aliceBalance, restoredBalance struct {
		Confirmed rpc.Amount `json:"confirmed"`
		Immature  rpc.Amount `json:"immature"`
	}
	if err := jsonUnmarshal(wallet(0, "alice.json", "balance", "--json"), &aliceBalance); err != nil {
		t.Fatal(err)
	}
	cli.stdin = created.Mnemonic + "\n"
	wallet(2, "alice-restored.json", "restore")
	cli.stdin = ""
	if err := jsonUnmarshal(wallet(2, "alice-restored.json", "balance", "--json"), &restoredBalance); err != nil {
		t.Fatal(err)
	}
	if restoredBalance != aliceBalance || aliceBalance.Confirmed == 0 {
		t.Fatalf("restored balance %+v, original %+v", restoredBalance, aliceBalance)
	}
}

// Partition and heal: two groups mine apart, the group with more work wins
// when they meet again, and the transaction of the losing branch returns to
// the mempools and is mined again.
func TestE2EPartitionAndHeal(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 4})
	ctx := testCtx(t, 3*time.Minute)
	generate(t, ctx, tn.Node(0), 101)
	if _, err := tn.WaitForTip(ctx, 101); err != nil {
		t.Fatal(err)
	}
	for _, a := range []int{0, 1} {
		for _, b := range []int{2, 3} {
			if err := tn.Disconnect(ctx, a, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	groupA, groupB := []*Node{tn.Node(0), tn.Node(1)}, []*Node{tn.Node(2), tn.Node(3)}

	rawTx, txid := spendCoinbase(t, ctx, tn.Node(0), 1, 10_000)
	if err := tn.Node(0).Call(ctx, "sendrawtransaction", []any{rawTx}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tn.WaitForTx(ctx, txid, groupA...); err != nil {
		t.Fatal(err)
	}
	generate(t, ctx, tn.Node(0), 1)
	if _, err := tn.WaitForTip(ctx, 102, groupA...); err != nil {
		t.Fatal(err)
	}
	if confirmations(t, ctx, tn.Node(1), txid) != 1 {
		t.Fatal("the transaction is not mined on group A's branch")
	}
	winner := generate(t, ctx, tn.Node(2), 3)
	if _, err := tn.WaitForTip(ctx, 104, groupB...); err != nil {
		t.Fatal(err)
	}

	for _, a := range []int{0, 1} {
		for _, b := range []int{2, 3} {
			if err := tn.Reconnect(ctx, a, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	tip, err := tn.WaitForTip(ctx, 104)
	if err != nil {
		t.Fatal(err)
	}
	if tip != winner[2] {
		t.Fatalf("nodes agree on %s, want group B's tip %s", tip, winner[2])
	}
	// The losing branch's transaction is back in the mempools of the nodes
	// that had mined it...
	if err := tn.WaitForTx(ctx, txid, groupA...); err != nil {
		t.Fatal(err)
	}
	// ...and is mined again. (They also re-announce it, once, to the other
	// group; gossip delivery of that single announcement is best effort, so
	// the test mines on a node of the group that certainly has it.)
	generate(t, ctx, tn.Node(1), 1)
	if _, err := tn.WaitForTip(ctx, 105); err != nil {
		t.Fatal(err)
	}
	for _, n := range tn.Nodes() {
		if c := confirmations(t, ctx, n, txid); c != 1 {
			t.Fatalf("%s: transaction has %d confirmations, want 1", n, c)
		}
	}
}

// A late joiner syncs the whole chain.
func TestE2ELateJoinerSyncs(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 3, Topology: Line})
	ctx := testCtx(t, 3*time.Minute)
	late := tn.Node(2)
	if err := late.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 5 {
		generate(t, ctx, tn.Node(0), 200)
	}
	if _, err := tn.WaitForTip(ctx, 1000, tn.Node(0), tn.Node(1)); err != nil {
		t.Fatal(err)
	}
	t.Logf("1,000 blocks mined and relayed to a peer in %v", time.Since(start))
	start = time.Now()
	if err := late.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.WaitForTip(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	t.Logf("a late joiner synced 1,000 blocks in %v", time.Since(start))
}

// On testnet, one node mines with its own loop while the other follows. The
// miner is killed with SIGKILL five times at random moments; each restart
// comes back consistent and the two agree again (same tip and the same UTXO
// set hash). Meanwhile the chain passes two retarget heights, and both nodes
// agree that the bits changed at the second.
func TestE2EKillMinerAndRetarget(t *testing.T) {
	skipE2E(t)
	addr := e2eAddress(chain.TestnetParams)
	tn := New(t, Options{Nodes: 2, Network: "testnet", Spec: func(i int) NodeSpec {
		if i == 0 {
			return NodeSpec{Args: []string{"--mine", "--mine-address", addr, "--mine-threads", "1"}}
		}
		return NodeSpec{}
	}})
	ctx := testCtx(t, 4*time.Minute)
	miner, follower := tn.Node(0), tn.Node(1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := range 5 {
		if err := tn.WaitForHeight(ctx, int64(3*(round+1)), miner); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		if err := miner.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := miner.Start(ctx); err != nil {
			t.Fatalf("round %d: restart after kill -9: %v", round, err)
		}
		requireSameUtxoSet(t, ctx, miner, follower)
	}
	interval := int(chain.TestnetParams.RetargetInterval)
	if err := tn.WaitForHeight(ctx, int64(2*interval+1)); err != nil {
		t.Fatal(err)
	}
	for _, n := range tn.Nodes() {
		before, at := headerBits(t, ctx, n, 2*interval-1), headerBits(t, ctx, n, 2*interval)
		if before != "1e03ffff" || at == before {
			t.Fatalf("%s: bits %s before the second retarget height and %s at it", n, before, at)
		}
	}
}

// requireSameUtxoSet waits until a and b report the same tip in
// gettxoutsetinfo and then compares their UTXO set hashes.
func requireSameUtxoSet(t *testing.T, ctx context.Context, a, b *Node) {
	t.Helper()
	type info struct {
		BestBlock string `json:"bestblock"`
		Hash      string `json:"hash_serialized_3"`
	}
	for ctx.Err() == nil {
		var ia, ib info
		if err := a.Call(ctx, "gettxoutsetinfo", nil, &ia); err != nil {
			t.Fatal(err)
		}
		if err := b.Call(ctx, "gettxoutsetinfo", nil, &ib); err != nil {
			t.Fatal(err)
		}
		if ia.BestBlock == ib.BestBlock {
			if ia.Hash != ib.Hash || ia.Hash == "" {
				t.Fatalf("same tip %s, UTXO set hashes %s and %s", ia.BestBlock, ia.Hash, ib.Hash)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("nodes never agreed on a tip")
}

func headerBits(t *testing.T, ctx context.Context, n *Node, height int) string {
	t.Helper()
	var hash string
	if err := n.Call(ctx, "getblockhash", []any{height}, &hash); err != nil {
		t.Fatal(err)
	}
	var h struct {
		Bits string `json:"bits"`
	}
	if err := n.Call(ctx, "getblockheader", []any{hash}, &h); err != nil {
		t.Fatal(err)
	}
	return h.Bits
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func mustDecodeTx(t *testing.T, rawHex string) *chain.Tx { return chaintest.DecodeHexTx(t, rawHex) }
