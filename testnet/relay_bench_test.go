//go:build unix

package testnet

import (
	"context"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// BenchmarkTxRelay offers transactions at a fixed rate for a fixed time to the
// nodes of a 5-node full mesh (regtest), by sendrawtransaction to each node in
// turn, and checks that every node's mempool ends up with every one of them.
// Each node checks each transaction itself, signature included, whether it
// came by RPC or by gossip.
//
// Reported: offered-tx/s, the rate asked for; sent-tx/s, the rate the RPC
// calls achieved (each answers once its node has accepted the transaction,
// so a node that falls behind slows the sender down); lost, the transactions
// missing from the emptiest mempool once no mempool has grown for 30 s;
// drain-s, how long after the last send every node had them all.
//
// Run: go test ./testnet -run '^$' -bench TxRelay -benchtime 1x
// (QUARRY_RELAY_RATE, default 1000 per second, and QUARRY_RELAY_SECONDS,
// default 60, set the load.)
func BenchmarkTxRelay(b *testing.B) {
	if testing.Short() {
		b.Skip("runs 5 node processes")
	}
	rate, seconds := envInt("QUARRY_RELAY_RATE", 1000), envInt("QUARRY_RELAY_SECONDS", 60)
	total := rate * seconds
	tn := New(b, Options{Nodes: 5, LogLevel: "warn"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	raw := fundRelayTxs(b, ctx, tn, total)

	for b.Loop() {
		elapsed, failed := sendPaced(ctx, tn.Nodes(), raw, rate)
		if failed > 0 {
			b.Errorf("%d of %d sendrawtransaction calls failed", failed, total)
		}
		drain, least := waitMempools(b, ctx, tn, total)
		b.ReportMetric(float64(rate), "offered-tx/s")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "sent-tx/s")
		b.ReportMetric(float64(total-least), "lost")
		b.ReportMetric(drain.Seconds(), "drain-s")
	}
}

// fundRelayTxs mines coinbases to the test key on node 0, fans each out into
// 2,000 outputs and confirms the fans, then signs one transaction per output,
// total in all (one input, one output back to the key), and returns them
// encoded in hex.
func fundRelayTxs(b *testing.B, ctx context.Context, tn *Network, total int) []string {
	const perFan, fanFee, fee = 2000, 100_000, 1000
	miner := tn.Node(0)
	fans := (total + perFan - 1) / perFan
	generate(b, ctx, miner, int(chain.RegtestParams.CoinbaseMaturity)+fans)
	pkh := chain.PubKeyHash(e2eKey.PubKey().SerializeCompressed())
	raw := make([]string, 0, total)
	for h := 1; h <= fans; h++ {
		fan := fanOutCoinbase(b, ctx, miner, h, perFan, fanFee, pkh)
		for i, out := range fan.Outputs[:min(perFan, total-len(raw))] {
			spend := &chain.Tx{Version: 1,
				Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: fan.TxID(), Index: uint32(i)}}},
				Outputs: []chain.TxOut{{Value: out.Value - fee, PubKeyHash: pkh}}}
			chain.SignInput(spend, chain.NewSigHasher(spend, []chain.TxOut{out}), 0, e2eKey)
			raw = append(raw, hex.EncodeToString(spend.Encode()))
		}
	}
	for mempoolSize(b, ctx, miner) > 0 {
		generate(b, ctx, miner, 1) // a block holds ~17 fans
	}
	if _, err := tn.WaitForTip(ctx, 0); err != nil {
		b.Fatal(err)
	}
	return raw
}

// fanOutCoinbase spends the coinbase of n's block at height (mined to
// e2eKey, and mature) into outputs equal outputs paying to pays in turn,
// less fee, and hands it to n.
func fanOutCoinbase(tb testing.TB, ctx context.Context, n *Node, height, outputs int, fee uint64, pays ...[chain.PubKeyHashSize]byte) *chain.Tx {
	tb.Helper()
	value := chain.RegtestParams.Subsidy(int32(height))
	outs := make([]chain.TxOut, outputs)
	for i := range outs {
		outs[i] = chain.TxOut{Value: (value - fee) / uint64(outputs), PubKeyHash: pays[i%len(pays)]}
	}
	fan := &chain.Tx{Version: 1, Inputs: []chain.TxIn{{PrevOut: chain.OutPoint{TxID: coinbaseTxID(tb, ctx, n, height)}}}, Outputs: outs}
	pkh := chain.PubKeyHash(e2eKey.PubKey().SerializeCompressed())
	chain.SignInput(fan, chain.NewSigHasher(fan, []chain.TxOut{{Value: value, PubKeyHash: pkh}}), 0, e2eKey)
	if err := n.Call(ctx, "sendrawtransaction", []any{hex.EncodeToString(fan.Encode())}, nil); err != nil {
		tb.Fatalf("fan-out of the coinbase at height %d: %v", height, err)
	}
	return fan
}

// sendPaced sends raw[i] to nodes[i%len(nodes)] no sooner than i/rate seconds
// after the start, from enough goroutines that a slow answer does not hold
// back the next send, and returns how long it took and how many calls failed.
func sendPaced(ctx context.Context, nodes []*Node, raw []string, rate int) (time.Duration, int64) {
	jobs := make(chan int)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range jobs {
				if err := nodes[i%len(nodes)].Call(ctx, "sendrawtransaction", []any{raw[i]}, nil); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	start := time.Now()
	for i := range raw {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return time.Since(start), failed.Load()
}

// waitMempools waits until every node's mempool holds want transactions, or
// none has grown for 30 s, and returns how long that took and the size of the
// emptiest mempool.
func waitMempools(b *testing.B, ctx context.Context, tn *Network, want int) (time.Duration, int) {
	start := time.Now()
	lastGrowth, lastTotal := start, -1
	for {
		least, sum := want, 0
		for _, n := range tn.Nodes() {
			size := mempoolSize(b, ctx, n)
			least, sum = min(least, size), sum+size
		}
		if least >= want || time.Since(lastGrowth) > 30*time.Second || ctx.Err() != nil {
			return time.Since(start), least
		}
		if sum != lastTotal {
			lastGrowth, lastTotal = time.Now(), sum
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mempoolSize is how many transactions n's mempool holds.
func mempoolSize(tb testing.TB, ctx context.Context, n *Node) int {
	tb.Helper()
	var info struct {
		Size int `json:"size"`
	}
	if err := n.Call(ctx, "getmempoolinfo", nil, &info); err != nil {
		tb.Fatalf("%s getmempoolinfo: %v", n, err)
	}
	return info.Size
}

// coinbaseTxID returns the txid of the coinbase of n's main-chain block at height.
func coinbaseTxID(tb testing.TB, ctx context.Context, n *Node, height int) chain.Hash {
	tb.Helper()
	var hash string
	if err := n.Call(ctx, "getblockhash", []any{height}, &hash); err != nil {
		tb.Fatal(err)
	}
	var block struct {
		Tx []string `json:"tx"`
	}
	if err := n.Call(ctx, "getblock", []any{hash, 1}, &block); err != nil {
		tb.Fatal(err)
	}
	txid, err := chain.ParseHash(block.Tx[0])
	if err != nil {
		tb.Fatal(err)
	}
	return txid
}
