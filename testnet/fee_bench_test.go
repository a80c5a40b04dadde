//go:build unix

package testnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// BenchmarkFeeEstimateUnderLoad measures how good estimatesmartfee's 2-block
// answer is on a real regtest node whose blocks are bounded to 20,000 bytes
// (--block-max-size; about 110 one-input transactions), so that blocks fill
// and fees decide what waits. Before each block, transactions arrive at fee
// rates spread evenly in log scale over 1..200 base units per byte, from 0.7
// to 1.5 times what a block holds (1.1 on average: a backlog of cheap ones
// builds up). After a warm-up of blocks that gives the estimator a history,
// each block of the measurement adds probes: transactions paying exactly
// estimatesmartfee 2 (in the mode $QUARRY_FEE_MODE, default economical) at
// the tip they were sent at.
//
// Reported: within-2-blocks-%, the share of probes mined at most two blocks
// after they were sent (the issue asks for at least 90); probes; unanswered,
// blocks for which the estimator answered with errors and no rate (no
// probes then); full-blocks-%, the measured blocks filled to within 400
// bytes of the bound; estimate-units/B, the median estimate; backlog, the
// transactions left waiting at the end; estimatesmartfee-ms, the mean time
// of the RPC call with this history.
//
// Run: go test ./testnet -run '^$' -bench FeeEstimateUnderLoad -benchtime 1x
// (QUARRY_FEE_WARMUP_BLOCKS, default 30, and QUARRY_FEE_BLOCKS, default 40,
// set the length; the arrivals are seeded, so a run is repeatable.)
func BenchmarkFeeEstimateUnderLoad(b *testing.B) {
	if testing.Short() {
		b.Skip("runs a node process")
	}
	const (
		blockMaxSize   = 20_000
		probesPerBlock = 5
		minRate        = 1.0   // base units per byte
		maxRate        = 200.0 // base units per byte
	)
	warmup, measured := envInt("QUARRY_FEE_WARMUP_BLOCKS", 30), envInt("QUARRY_FEE_BLOCKS", 40)
	tn := New(b, Options{Nodes: 1, LogLevel: "warn", Spec: func(int) NodeSpec {
		return NodeSpec{Args: []string{"--block-max-size", strconv.Itoa(blockMaxSize)}}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	node := tn.Node(0)
	mode := os.Getenv("QUARRY_FEE_MODE")
	if mode == "" {
		mode = "economical"
	}
	w := &feeLoad{tb: b, ctx: ctx, node: node, mode: mode}
	capacity := blockMaxSize / w.spendSize()
	w.fund((warmup + measured) * (capacity*3/2 + probesPerBlock))
	rng := rand.New(rand.NewPCG(16, 90))

	for b.Loop() {
		var (
			probes      = map[chain.Hash]int64{} // txid: the tip's height when sent
			unanswered  int
			fullBlocks  int
			estimates   []float64
			estimateDur time.Duration
		)
		for i := range warmup + measured {
			arrivals := int(float64(capacity) * (0.7 + 0.8*rng.Float64()))
			for range arrivals {
				rate := minRate * math.Pow(maxRate/minRate, rng.Float64())
				w.send(rate)
			}
			if i >= warmup {
				start := time.Now()
				rate, ok := w.estimate()
				estimateDur += time.Since(start)
				if !ok {
					unanswered++
				}
				for j := 0; ok && j < probesPerBlock; j++ {
					probes[w.send(rate)] = w.height
					estimates = append(estimates, rate)
				}
			}
			if size := w.mine(); i >= warmup && size > blockMaxSize-400 {
				fullBlocks++
			}
		}
		w.mine()
		w.mine()
		within := 0
		for txid, sent := range probes {
			if h := w.confirmedAt(txid); h > 0 && h <= sent+2 {
				within++
			}
		}
		slices.Sort(estimates)
		b.ReportMetric(100*float64(within)/float64(max(len(probes), 1)), "within-2-blocks-%")
		b.ReportMetric(float64(len(probes)), "probes")
		b.ReportMetric(float64(unanswered), "unanswered")
		b.ReportMetric(100*float64(fullBlocks)/float64(measured), "full-blocks-%")
		if len(estimates) > 0 {
			b.ReportMetric(estimates[len(estimates)/2], "estimate-units/B")
		}
		b.ReportMetric(float64(mempoolSize(b, ctx, node)), "backlog")
		b.ReportMetric(float64(estimateDur.Microseconds())/1000/float64(measured), "estimatesmartfee-ms")
	}
}

// feeLoad sends one-input transactions from e2eKey's coins to one node and
// mines them there.
type feeLoad struct {
	tb     testing.TB
	ctx    context.Context
	node   *Node
	coins  []chain.OutPoint
	values map[chain.OutPoint]uint64
	height int64  // the node's tip
	mode   string // estimatesmartfee's estimate_mode
}

// fund fans coinbases out into at least n coins, 500 to a transaction so
// that each fits a bounded block, and mines them.
func (w *feeLoad) fund(n int) {
	const perFan, fanFee = 500, 100_000
	fans := (n + perFan - 1) / perFan
	generate(w.tb, w.ctx, w.node, int(chain.RegtestParams.CoinbaseMaturity)+fans)
	pkh := chain.PubKeyHash(e2eKey.PubKey().SerializeCompressed())
	w.values = make(map[chain.OutPoint]uint64, fans*perFan)
	for h := 1; h <= fans; h++ {
		fan := fanOutCoinbase(w.tb, w.ctx, w.node, h, perFan, fanFee, pkh)
		for i, out := range fan.Outputs {
			op := chain.OutPoint{TxID: fan.TxID(), Index: uint32(i)}
			w.coins = append(w.coins, op)
			w.values[op] = out.Value
		}
	}
	for mempoolSize(w.tb, w.ctx, w.node) > 0 {
		w.mine()
	}
}

// spend signs a transaction spending op back to e2eKey at fee rate (base
// units per byte) or up to 1% over: the fee is reckoned on the size with a
// signature two bytes longer than the draft's, as a DER signature's length
// changes with what it signs.
func (w *feeLoad) spend(op chain.OutPoint, rate float64) *chain.Tx {
	pkh := chain.PubKeyHash(e2eKey.PubKey().SerializeCompressed())
	value := w.values[op]
	tx := &chain.Tx{Version: 1, Inputs: []chain.TxIn{{PrevOut: op}}, Outputs: []chain.TxOut{{PubKeyHash: pkh}}}
	sign := func() {
		tx.Inputs[0].Witness = nil
		chain.SignInput(tx, chain.NewSigHasher(tx, []chain.TxOut{{Value: value, PubKeyHash: pkh}}), 0, e2eKey)
	}
	sign()
	tx.Outputs[0].Value = value - uint64(math.Ceil(rate*float64(tx.SerializeSize()+2)))
	sign()
	return tx
}

// spendSize is the size of the transactions spend makes.
func (w *feeLoad) spendSize() int {
	return w.spend(chain.OutPoint{}, 1).SerializeSize()
}

// send spends the next coin at rate and returns the transaction's id.
func (w *feeLoad) send(rate float64) chain.Hash {
	if len(w.coins) == 0 {
		w.tb.Fatal("out of coins")
	}
	tx := w.spend(w.coins[0], rate)
	w.coins = w.coins[1:]
	if err := w.node.Call(w.ctx, "sendrawtransaction", []any{hex.EncodeToString(tx.Encode())}, nil); err != nil {
		w.tb.Fatalf("sendrawtransaction at %.2f units/B: %v", rate, err)
	}
	return tx.TxID()
}

// estimate is estimatesmartfee 2 in w.mode, in base units per byte, or false if the
// node has too little data to answer.
func (w *feeLoad) estimate() (float64, bool) {
	var est struct {
		FeeRate json.Number `json:"feerate"`
	}
	if err := w.node.Call(w.ctx, "estimatesmartfee", []any{2, w.mode}, &est); err != nil {
		w.tb.Fatal(err)
	}
	perKB, err := est.FeeRate.Float64() // QRY per 1,000 bytes
	if err != nil || perKB <= 0 {
		return 0, false
	}
	return math.Round(perKB*1e8) / 1000, true
}

// mine makes one block and returns its size.
func (w *feeLoad) mine() int {
	hashes := generate(w.tb, w.ctx, w.node, 1)
	var block struct {
		Size   int   `json:"size"`
		Height int64 `json:"height"`
	}
	if err := w.node.Call(w.ctx, "getblock", []any{hashes[0], 1}, &block); err != nil {
		w.tb.Fatal(err)
	}
	w.height = block.Height
	return block.Size
}

// confirmedAt is the height of the block holding txid, or 0 if none does.
func (w *feeLoad) confirmedAt(txid chain.Hash) int64 {
	var tx struct {
		Confirmations int64 `json:"confirmations"`
	}
	if err := w.node.Call(w.ctx, "getrawtransaction", []any{txid.String(), true}, &tx); err != nil {
		w.tb.Fatal(err)
	}
	if tx.Confirmations == 0 {
		return 0
	}
	return w.height - tx.Confirmations + 1
}
