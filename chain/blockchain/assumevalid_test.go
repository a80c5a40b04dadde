package blockchain_test

import (
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// badSignatureTx spends op with a signature of the right key over another
// message: well formed, but false.
func badSignatureTx(g *chaintest.Generator, op chain.OutPoint) *chain.Tx {
	tx := g.SpendAll(op, 1000)
	other := g.SpendAll(op, 2000)
	tx.Inputs[0].Witness = other.Inputs[0].Witness
	return tx
}

// Under assumevalid the signatures of the named block's ancestors on the best
// header chain are not checked, and nothing else changes: a false signature
// passes there, but not in a block outside that chain or with no work on top,
// and an overspend is rejected all the same.
func TestAssumeValid(t *testing.T) {
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 101)
	tip := base[100].Hash()
	falseSig := g.NextBlock(tip, badSignatureTx(g, g.Coinbase(base[0].Hash())))
	above := g.Chain(falseSig.Hash(), 2)
	overspend := g.NextBlock(tip, g.Spend([]chain.OutPoint{g.Coinbase(base[1].Hash())}, chain.RegtestParams.Subsidy(1)+1))
	aboveOverspend := g.Chain(overspend.Hash(), 2)
	headers := func(blocks ...*chain.Block) []chain.Header {
		var hs []chain.Header
		for _, b := range blocks {
			hs = append(hs, b.Header)
		}
		return hs
	}
	for _, tc := range []struct {
		name        string
		assumeValid chain.Hash
		headers     []chain.Header // accepted before the block
		block       *chain.Block
		want        error // nil: connects
	}{
		{"ancestor of the assumed-valid block", above[1].Hash(), headers(falseSig, above[0], above[1]), falseSig, nil},
		{"assumevalid off", chain.Hash{}, headers(falseSig, above[0], above[1]), falseSig, chain.ErrBadSignature},
		{"assumed-valid block unknown", above[1].Hash(), nil, falseSig, chain.ErrBadSignature},
		{"the assumed-valid block itself, no work on top", falseSig.Hash(), headers(falseSig), falseSig, chain.ErrBadSignature},
		{"not an ancestor", base[50].Hash(), headers(falseSig, above[0], above[1]), falseSig, chain.ErrBadSignature},
		{"overspend under assumevalid", aboveOverspend[1].Hash(), headers(overspend, aboveOverspend[0], aboveOverspend[1]), overspend, chain.ErrSpendTooHigh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: quietLog, AssumeValid: &tc.assumeValid})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			chaintest.MustProcess(t, c, base...)
			if err := c.AcceptHeaders(tc.headers); err != nil {
				t.Fatal(err)
			}
			_, err = c.ProcessBlock(tc.block)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("ProcessBlock = %v, want %v", err, tc.want)
			}
		})
	}
}
