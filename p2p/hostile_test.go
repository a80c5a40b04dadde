package p2p

import (
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// Once its tip is recent the node has left initial block download for good:
// a peer announcing a header with more work and withholding its body does
// not put it back (it would stop serving block templates and, past 50,000
// such headers, stop syncing headers).
func TestInitialBlockDownloadLatchesOff(t *testing.T) {
	tn := newTestNode(t, nil)
	base := mainBlocks(2)
	tn.process(base[0])
	if err := tn.chain.AcceptHeaders([]chain.Header{base[1].Header}); err != nil {
		t.Fatal(err)
	}
	if !tn.node.IsInitialBlockDownload() {
		t.Fatal("not in IBD with an old tip and a header ahead of it")
	}
	tn.process(base[1])
	var recent, withheld *chain.Block
	withGen(func(g *chaintest.Generator) {
		recent = g.BuildBlock(base[1].Hash(), func(b *chain.Block) { b.Header.Time = uint32(time.Now().Unix()) })
		withheld = g.NextBlock(recent.Hash())
	})
	tn.process(recent)
	if tn.node.IsInitialBlockDownload() {
		t.Fatal("in IBD at a recent tip with nothing ahead")
	}
	if err := tn.chain.AcceptHeaders([]chain.Header{withheld.Header}); err != nil {
		t.Fatal(err)
	}
	if tn.chain.BestHeaderHeight() != tn.chain.Best().Height+1 {
		t.Fatalf("best header %d, tip %d: the withheld block's header was not taken", tn.chain.BestHeaderHeight(), tn.chain.Best().Height)
	}
	if tn.node.IsInitialBlockDownload() {
		t.Fatal("a header whose body is withheld put a node with a recent tip back into IBD")
	}
}
