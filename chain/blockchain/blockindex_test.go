package blockchain

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// ancestor follows skip pointers to the same block a walk up the parents
// reaches, on a long chain and on a fork of it, in few steps.
func TestAncestorSkipPointers(t *testing.T) {
	const length = 5000
	header := func(parent *blockNode, nonce uint32) *chain.Header {
		h := &chain.Header{Version: 1, Bits: chain.RegtestParams.PowLimitBits, Nonce: nonce}
		if parent != nil {
			h.PrevBlock = parent.hash
		}
		return h
	}
	main := []*blockNode{newBlockNode(header(nil, 0), nil)}
	for i := 1; i < length; i++ {
		main = append(main, newBlockNode(header(main[i-1], 0), main[i-1]))
	}
	fork := []*blockNode{main[length/2]}
	for i := 1; i < length/2; i++ {
		fork = append(fork, newBlockNode(header(fork[i-1], 1), fork[i-1]))
	}
	walk := func(n *blockNode, height int32) *blockNode {
		for n.height > height {
			n = n.parent
		}
		return n
	}
	for _, from := range []*blockNode{main[length-1], main[length-2], main[1234], fork[len(fork)-1], fork[777]} {
		for height := int32(0); height <= from.height; height++ {
			if got, want := from.ancestor(height), walk(from, height); got != want {
				t.Fatalf("ancestor(%d) of block at %d: block at %d %s, want %s", height, from.height, got.height, got.hash, want.hash)
			}
		}
		if from.ancestor(from.height+1) != nil || from.ancestor(-1) != nil {
			t.Fatalf("ancestor out of range of block at %d is not nil", from.height)
		}
	}
	// Steps: Core's bound is 110 for 2^18 blocks.
	tip := main[length-1]
	for height := int32(0); height < tip.height; height += 97 {
		steps := 0
		for n := tip; n.height > height; steps++ {
			n = n.towards(height)
		}
		if steps > 110 {
			t.Errorf("%d steps from %d to %d", steps, tip.height, height)
		}
	}
}
