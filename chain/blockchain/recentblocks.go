package blockchain

import (
	"sync"

	"github.com/quarrychain/quarry/chain"
)

// recentBlocksBytes bounds the encoded size of the blocks recentBlocks
// keeps. A syncing node's indexes apply the blocks connected in the last
// tenth of a second or so (indexGatherDelay): a few hundred small blocks, or
// a few large ones.
const recentBlocksBytes = 8 << 20

// recentBlocks hands the blocks the chain just connected, with the txids it
// hashed to check them, to the index followers, which otherwise read each
// block back from the chain database, decode it and hash its transactions
// again. It keeps them until every follower applied them, or until newer
// blocks push them past recentBlocksBytes; a follower behind that reads the
// block back. A block's hash fixes its transactions, so what it holds is
// never stale, whatever the main chain did since.
type recentBlocks struct {
	mu     sync.Mutex
	blocks map[chain.Hash]recentBlock
	order  []chain.Hash // oldest first
	bytes  int
}

type recentBlock struct {
	block  *chain.Block
	txids  []chain.Hash
	height int32
	size   int
}

func newRecentBlocks() *recentBlocks {
	return &recentBlocks{blocks: make(map[chain.Hash]recentBlock)}
}

// add keeps the blocks of the connect events.
func (r *recentBlocks) add(events []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range events {
		if e.Kind != BlockConnected {
			continue
		}
		if _, ok := r.blocks[e.Hash]; ok {
			continue
		}
		size := e.Block.SerializeSize()
		r.blocks[e.Hash] = recentBlock{block: e.Block, txids: e.TxIDs, height: e.Height, size: size}
		r.order = append(r.order, e.Hash)
		r.bytes += size
	}
	for r.bytes > recentBlocksBytes {
		r.dropOldest()
	}
}

// get returns the block hash and its txids, if kept.
func (r *recentBlocks) get(hash chain.Hash) (*chain.Block, []chain.Hash, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.blocks[hash]
	return b.block, b.txids, ok
}

// applied drops the oldest blocks while they are at most height, the lowest
// every follower reached.
func (r *recentBlocks) applied(height int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.order) > 0 && r.blocks[r.order[0]].height <= height {
		r.dropOldest()
	}
}

func (r *recentBlocks) dropOldest() {
	h := r.order[0]
	r.order = r.order[1:]
	r.bytes -= r.blocks[h].size
	delete(r.blocks, h)
}
