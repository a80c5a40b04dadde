package indexers_test

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// BenchmarkAddrIndexUtxos measures the unspent outputs query of an address
// with a long history, which reads the whole history of the address: 5,000
// transactions of an address paying itself along 50 chains (50 outputs
// unspent), and 5,000 transactions each paying an address once (5,000
// unspent).
func BenchmarkAddrIndexUtxos(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a chain of 10,000 transactions")
	}
	const chains, blocks = 50, 100
	ix := indexers.NewAddrIndex()
	c, g, base := openOnBase(b, ix, 101)
	self, payer, payee := g.NewKey(), g.NewKey(), g.NewKey()
	outs := make([]chain.TxOut, 2*chains)
	for i := range outs {
		outs[i] = chain.TxOut{Value: 10_000_000, PubKeyHash: self}
		if i >= chains {
			outs[i].PubKeyHash = payer
		}
	}
	fund := g.SpendTo([]chain.OutPoint{g.Coinbase(base[0].Hash())}, outs...)
	tip := g.NextBlock(base[100].Hash(), fund)
	chaintest.MustProcess(b, c, tip)
	heads := make([]chain.OutPoint, 2*chains)
	for i := range heads {
		heads[i] = chain.OutPoint{TxID: fund.TxID(), Index: uint32(i)}
	}
	for range blocks {
		txs := make([]*chain.Tx, len(heads))
		for i, op := range heads {
			out, _ := g.Output(op)
			if i < chains {
				txs[i] = g.SpendTo([]chain.OutPoint{op}, chain.TxOut{Value: out.Value, PubKeyHash: self})
				heads[i] = chain.OutPoint{TxID: txs[i].TxID()}
			} else {
				txs[i] = g.SpendTo([]chain.OutPoint{op}, chain.TxOut{Value: out.Value - 1000, PubKeyHash: payer}, chain.TxOut{Value: 1000, PubKeyHash: payee})
				heads[i] = chain.OutPoint{TxID: txs[i].TxID()}
			}
		}
		tip = g.NextBlock(tip.Hash(), txs...)
		chaintest.MustProcess(b, c, tip)
	}
	chaintest.WaitIndexes(b, c)
	for _, bc := range []struct {
		name    string
		pkh     [chain.PubKeyHashSize]byte
		unspent int
	}{{"history=5000/unspent=50", self, chains}, {"history=5000/unspent=5000", payee, chains * blocks}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				utxos, err := ix.Utxos(bc.pkh)
				if err != nil || len(utxos) != bc.unspent {
					b.Fatalf("%d unspent outputs (%v), want %d", len(utxos), err, bc.unspent)
				}
			}
		})
	}
}
