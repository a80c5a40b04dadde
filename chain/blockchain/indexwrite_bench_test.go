//go:build unix

package blockchain_test

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// indexBenchChain is BenchmarkInitialSync's chain, 5,000 blocks carrying
// 100,000 payments, as the index followers get it: each block with its
// txids and the outputs it spends. Built once per process.
var indexBenchChain = sync.OnceValue(func() []*blockchain.BlockUpdate {
	blocks := chaintest.PaymentChain(5000, 100_000)
	outputs := make(map[chain.OutPoint]chain.UtxoEntry)
	updates := make([]*blockchain.BlockUpdate, len(blocks))
	for h, blk := range blocks {
		u := &blockchain.BlockUpdate{Block: blk, TxIDs: blk.TxIDs(), Hash: blk.Hash(), Height: int32(h + 1)}
		for i, tx := range blk.Txs {
			if i > 0 {
				for _, in := range tx.Inputs {
					u.Spent = append(u.Spent, outputs[in.PrevOut])
					delete(outputs, in.PrevOut)
				}
			}
			for idx, out := range tx.Outputs {
				outputs[chain.OutPoint{TxID: u.TxIDs[i], Index: uint32(idx)}] = chain.UtxoEntry{Value: out.Value, PubKeyHash: out.PubKeyHash, Height: u.Height, Coinbase: i == 0}
			}
		}
		updates[h] = u
	}
	return updates
})

// BenchmarkIndexWrite measures what the transaction index and the address
// index cost a node that follows BenchmarkInitialSync's chain: each
// iteration applies the whole chain to both indexes, in batches of a given
// number of blocks (1: a node at the tip; 32: about what a syncing node's
// followers gather in indexGatherDelay; 144: an index catching up), and
// writes them to a new index database. Reported per transaction: the
// elapsed time and the process's CPU time, which counts the index
// database's own goroutines (memtable flushes, compactions) that run
// beside the writer.
func BenchmarkIndexWrite(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a chain of 100,000 transactions")
	}
	updates := indexBenchChain()
	var txs int
	for _, u := range updates {
		txs += len(u.TxIDs)
	}
	for _, batch := range []int{1, 32, 144} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var cpu time.Duration
			for range b.N {
				b.StopTimer()
				w, err := blockchain.OpenIndexWriter(b.TempDir(), indexers.NewTxIndex(), indexers.NewAddrIndex())
				if err != nil {
					b.Fatal(err)
				}
				cpuStart := processCPU(b)
				b.StartTimer()
				for start := 0; start < len(updates); start += batch {
					if err := w.Connect(updates[start:min(start+batch, len(updates))]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				cpu += processCPU(b) - cpuStart
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*txs), "ns/tx")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*txs), "cpu-ns/tx")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
