package chaintest

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// PaymentChain builds a regtest chain of the given number of blocks after
// genesis carrying txs transactions spread evenly over the blocks after the
// first coinbase matures. Each transaction spends the oldest output not yet
// spent into two halves (less a fee) paying to the next keys of a ring of
// 4,096, so an address index sees many keys, each more than once. The
// initial sync benchmarks connect it: 5,000 blocks of 100,000 transactions
// are blocks of 20, as a busy small chain has.
func PaymentChain(blocks, txs int) []*chain.Block {
	g := New(chain.RegtestParams)
	maturity := int(chain.RegtestParams.CoinbaseMaturity)
	built := g.Chain(chain.RegtestParams.GenesisHash, min(blocks, maturity+1))
	const keys = 4096
	payTo := g.KeyRing(keys)
	// The first coinbase funds everything: fanned out into 4,096 outputs by the
	// first transaction, then each output spent into two, so the queue of
	// outputs to spend only grows.
	fan := make([]chain.TxOut, keys)
	for i := range fan {
		fan[i] = chain.TxOut{Value: chain.RegtestParams.Subsidy(1) / uint64(len(fan)), PubKeyHash: payTo()}
	}
	pending := []*chain.Tx{g.SpendTo([]chain.OutPoint{g.Coinbase(built[0].Hash())}, fan...)}
	var queue []chain.OutPoint
	const fee = 1000
	spread := blocks - len(built)
	for i := range spread {
		count := (i+1)*txs/spread - i*txs/spread
		for len(pending) < count && len(queue) > 0 {
			op := queue[0]
			queue = queue[1:]
			prev, _ := g.Output(op)
			half := (prev.Value - fee) / 2
			pending = append(pending, g.SpendTo([]chain.OutPoint{op},
				chain.TxOut{Value: half, PubKeyHash: payTo()},
				chain.TxOut{Value: prev.Value - fee - half, PubKeyHash: payTo()}))
		}
		blk := g.NextBlock(built[len(built)-1].Hash(), pending...)
		built = append(built, blk)
		for _, tx := range pending {
			id := tx.TxID()
			for idx := range tx.Outputs {
				queue = append(queue, chain.OutPoint{TxID: id, Index: uint32(idx)})
			}
		}
		pending = nil
	}
	return built
}

// VerifyAllCores checks every signature of blocks, a chain from genesis, on
// all cores with nothing else, and returns how long that took: the rate a
// connect or a sync checking every signature can at best reach.
func VerifyAllCores(blocks []*chain.Block) (time.Duration, error) {
	outputs := make(map[chain.OutPoint]chain.UtxoEntry)
	var txs []*chain.Tx
	var prevs [][]chain.UtxoEntry
	for _, blk := range blocks {
		for i, tx := range blk.Txs {
			if i > 0 {
				prev := make([]chain.UtxoEntry, len(tx.Inputs))
				for j, in := range tx.Inputs {
					prev[j] = outputs[in.PrevOut]
				}
				txs, prevs = append(txs, tx), append(prevs, prev)
			}
			id := tx.TxID()
			for idx, out := range tx.Outputs {
				outputs[chain.OutPoint{TxID: id, Index: uint32(idx)}] = chain.UtxoEntry{Value: out.Value, PubKeyHash: out.PubKeyHash}
			}
		}
	}
	var next atomic.Int64
	errs := make([]error, runtime.GOMAXPROCS(0))
	start := time.Now()
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			cache := chain.NewSigCache(1)
			for i := int(next.Add(1)) - 1; i < len(txs) && errs[w] == nil; i = int(next.Add(1)) - 1 {
				errs[w] = chain.VerifyTxSignatures(txs[i], prevs[i], cache)
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}
