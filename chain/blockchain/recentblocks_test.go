package blockchain

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// smallBlocks are n blocks of one transaction each, all different.
func smallBlocks(n int) []*chain.Block {
	blocks := make([]*chain.Block, n)
	for i := range blocks {
		blocks[i] = &chain.Block{Header: chain.Header{Nonce: uint32(i)}, Txs: []*chain.Tx{{Outputs: []chain.TxOut{{Value: uint64(i)}}}}}
	}
	return blocks
}

func connected(blocks []*chain.Block, from int32) []Event {
	events := make([]Event, len(blocks))
	for i, b := range blocks {
		events[i] = Event{Kind: BlockConnected, Block: b, TxIDs: b.TxIDs(), Hash: b.Hash(), Height: from + int32(i)}
	}
	return events
}

func keptHeights(r *recentBlocks, blocks []*chain.Block) []bool {
	kept := make([]bool, len(blocks))
	for i, b := range blocks {
		_, _, kept[i] = r.get(b.Hash())
	}
	return kept
}

// The followers' blocks are kept until every follower applied them, and
// never beyond recentBlocksBytes, the oldest dropped first.
func TestRecentBlocksBounds(t *testing.T) {
	blocks := smallBlocks(4)
	r := newRecentBlocks()
	r.add(append(connected(blocks, 1), Event{Kind: BlockDisconnected, Block: blocks[0], Hash: chain.Hash{1}, Height: 9}))
	if _, _, ok := r.get(chain.Hash{1}); ok {
		t.Fatal("a disconnected block was kept")
	}
	blk, txids, ok := r.get(blocks[2].Hash())
	if !ok || blk != blocks[2] || len(txids) != 1 || txids[0] != blocks[2].Txs[0].TxID() {
		t.Fatalf("block 3: got %v %v %v, want the block connected and its txids", blk, txids, ok)
	}
	r.applied(2)
	if got := keptHeights(r, blocks); got[0] || got[1] || !got[2] || !got[3] {
		t.Fatalf("kept %v after every follower applied height 2: want heights 3 and 4 only", got)
	}
	if want := blocks[2].SerializeSize() + blocks[3].SerializeSize(); r.bytes != want {
		t.Fatalf("counts %d bytes, want %d", r.bytes, want)
	}

	// Large blocks push out the oldest, the last one kept.
	var large []*chain.Block
	for i := range 6 {
		large = append(large, &chain.Block{Header: chain.Header{Nonce: uint32(100 + i)}, Txs: []*chain.Tx{{Outputs: make([]chain.TxOut, recentBlocksBytes/4/28)}}})
	}
	r.add(connected(large, 5))
	if got := keptHeights(r, blocks); got[2] || got[3] {
		t.Fatalf("kept %v past the bound", got)
	}
	if got := keptHeights(r, large); !got[len(large)-1] || got[0] {
		t.Fatalf("of the large blocks, kept %v: want the last, not the first", got)
	}
	if r.bytes > recentBlocksBytes || len(r.blocks) != len(r.order) {
		t.Fatalf("holds %d bytes in %d blocks (%d in order), bound %d", r.bytes, len(r.blocks), len(r.order), recentBlocksBytes)
	}
}
