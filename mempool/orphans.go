package mempool

import (
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// orphan is a transaction from a peer whose inputs are not all known yet.
type orphan struct {
	tx      *chain.Tx
	txid    chain.Hash
	size    int
	peer    PeerID
	expires time.Time
	seq     uint64
	missing []chain.Hash // txids of the parents it waits for
}

// orphanPool keeps orphans until a parent arrives, bounded in count and bytes
// in total and in bytes per peer. When over a bound, the peer using the most
// bytes loses its oldest orphan: a peer flooding the pool evicts its own
// orphans, not an honest peer's.
type orphanPool struct {
	mu        sync.Mutex
	byID      map[chain.Hash]*orphan
	byParent  map[chain.Hash][]*orphan
	peerBytes map[PeerID]int
	bytes     int
	seq       uint64
	nextCheck time.Time // earliest expiry, zero if none

	maxCount, maxBytes, maxPeerBytes int
	ttl                              time.Duration
}

func newOrphanPool(maxCount, maxBytes, maxPeerBytes int, ttl time.Duration) *orphanPool {
	return &orphanPool{
		byID:         make(map[chain.Hash]*orphan),
		byParent:     make(map[chain.Hash][]*orphan),
		peerBytes:    make(map[PeerID]int),
		maxCount:     maxCount,
		maxBytes:     maxBytes,
		maxPeerBytes: maxPeerBytes,
		ttl:          ttl,
	}
}

// add keeps o unless it is known or too big for any bound; it reports whether
// o is kept after the bounds are enforced.
func (op *orphanPool) add(o *orphan, now time.Time) bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.expireLocked(now)
	if _, dup := op.byID[o.txid]; dup || o.size > op.maxBytes || o.size > op.maxPeerBytes {
		return false
	}
	op.seq++
	o.seq = op.seq
	o.expires = now.Add(op.ttl)
	op.byID[o.txid] = o
	for _, parent := range o.missing {
		op.byParent[parent] = append(op.byParent[parent], o)
	}
	op.bytes += o.size
	op.peerBytes[o.peer] += o.size
	if op.nextCheck.IsZero() {
		op.nextCheck = o.expires
	}
	for op.peerBytes[o.peer] > op.maxPeerBytes {
		op.removeLocked(op.oldestOf(o.peer))
	}
	for len(op.byID) > op.maxCount || op.bytes > op.maxBytes {
		var worst PeerID
		most := -1
		for peer, n := range op.peerBytes {
			if n > most || (n == most && peer < worst) {
				worst, most = peer, n
			}
		}
		op.removeLocked(op.oldestOf(worst))
	}
	_, kept := op.byID[o.txid]
	return kept
}

func (op *orphanPool) oldestOf(peer PeerID) *orphan {
	var oldest *orphan
	for _, o := range op.byID {
		if o.peer == peer && (oldest == nil || o.seq < oldest.seq) {
			oldest = o
		}
	}
	return oldest
}

func (op *orphanPool) removeLocked(o *orphan) {
	delete(op.byID, o.txid)
	for _, parent := range o.missing {
		waiting := op.byParent[parent]
		for i, w := range waiting {
			if w == o {
				waiting = append(waiting[:i], waiting[i+1:]...)
				break
			}
		}
		if len(waiting) == 0 {
			delete(op.byParent, parent)
		} else {
			op.byParent[parent] = waiting
		}
	}
	op.bytes -= o.size
	if op.peerBytes[o.peer] -= o.size; op.peerBytes[o.peer] == 0 {
		delete(op.peerBytes, o.peer)
	}
}

func (op *orphanPool) expireLocked(now time.Time) {
	if op.nextCheck.IsZero() || now.Before(op.nextCheck) {
		return
	}
	op.nextCheck = time.Time{}
	for _, o := range op.byID {
		if !now.Before(o.expires) {
			op.removeLocked(o)
		} else if op.nextCheck.IsZero() || o.expires.Before(op.nextCheck) {
			op.nextCheck = o.expires
		}
	}
}

// takeChildren removes and returns the orphans waiting for parent, oldest
// first.
func (op *orphanPool) takeChildren(parent chain.Hash) []*orphan {
	op.mu.Lock()
	defer op.mu.Unlock()
	waiting := append([]*orphan(nil), op.byParent[parent]...)
	for _, o := range waiting {
		op.removeLocked(o)
	}
	return waiting
}

// removeForBlock drops the orphans a block mined or made invalid by spending
// one of their inputs, and expires old ones.
func (op *orphanPool) removeForBlock(b *chain.Block, txids []chain.Hash, now time.Time) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.expireLocked(now)
	if len(op.byID) == 0 {
		return
	}
	spent := make(map[chain.OutPoint]struct{})
	for _, tx := range b.Txs[1:] {
		for _, in := range tx.Inputs {
			spent[in.PrevOut] = struct{}{}
		}
	}
	for _, id := range txids {
		if o := op.byID[id]; o != nil {
			op.removeLocked(o)
		}
	}
	for _, o := range op.byID {
		for _, in := range o.tx.Inputs {
			if _, gone := spent[in.PrevOut]; gone {
				op.removeLocked(o)
				break
			}
		}
	}
}

// remove takes one orphan out; it reports whether it was there.
func (op *orphanPool) remove(txid chain.Hash) bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	o := op.byID[txid]
	if o != nil {
		op.removeLocked(o)
	}
	return o != nil
}

func (op *orphanPool) forgetPeer(peer PeerID) int {
	op.mu.Lock()
	defer op.mu.Unlock()
	n := 0
	for _, o := range op.byID {
		if o.peer == peer {
			op.removeLocked(o)
			n++
		}
	}
	return n
}

func (op *orphanPool) has(txid chain.Hash) bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	_, ok := op.byID[txid]
	return ok
}

func (op *orphanPool) stats() (count, bytes int) {
	op.mu.Lock()
	defer op.mu.Unlock()
	return len(op.byID), op.bytes
}
