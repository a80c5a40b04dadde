package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// A delivery is one getblocks request on its way to the chain. Its reader
// (fetchBlocks) takes the blocks off the stream and decodes them without
// waiting for the chain; one processor goroutine hands them to the chain in
// the order the requests were made, which is the order of their heights. So
// the network, the decoding and the chain's work on the block before all
// overlap, and blocks reach the chain parent first: a block that came before
// its parent would be stored, and read back and decoded again to connect.
//
// A request counts against its peer's maxBlockRequestsPerPeer until its
// blocks are processed, which bounds the blocks held in memory; its items
// stay assigned to the peer until then, so they are not asked of anyone else.
type delivery struct {
	peer  peer.ID
	ps    *peerState
	items []*wantItem
	// arrived has room for every item, so the reader never waits for the
	// processor; the reader closes it when the answer ends.
	arrived chan arrival
}

type arrival struct {
	item  *wantItem
	block *chain.Block
}

func newDelivery(p peer.ID, ps *peerState, items []*wantItem) *delivery {
	return &delivery{peer: p, ps: ps, items: items, arrived: make(chan arrival, len(items))}
}

// processLoop hands the blocks of each delivery to the chain, oldest request
// first.
func (n *Node) processLoop() {
	for {
		n.mu.Lock()
		var d *delivery
		if len(n.sync.deliveries) > 0 {
			d = n.sync.deliveries[0]
			n.sync.deliveries = n.sync.deliveries[1:]
		}
		n.mu.Unlock()
		if d == nil {
			select {
			case <-n.ctx.Done():
				return
			case <-n.kickProcess:
			}
			continue
		}
		n.process(d)
	}
}

// process hands d's blocks to the chain as they arrive, until its reader is
// done. A block that breaks a rule is the serving peer's fault; the rest of
// its delivery is dropped.
func (n *Node) process(d *delivery) {
	var failed error
	var last *chain.Block
	for a := range d.arrived {
		if failed != nil || n.ctx.Err() != nil {
			continue
		}
		err := n.processSynced(a.block)
		switch fault, broke := chain.BlockFault(err); {
		case err == nil:
			last = a.block
		case broke && fault == chain.FaultTime:
			n.skipPeer(a.item, d.peer, d.ps)
		default:
			failed = err
		}
	}
	n.mu.Lock()
	d.ps.blocksInFlight--
	if failed != nil {
		d.ps.pauseUntil = time.Now().Add(failurePause)
	}
	for _, it := range d.items {
		if it.peer == d.peer {
			it.peer = ""
		}
	}
	n.mu.Unlock()
	kick(n.kickSync)
	if failed != nil {
		n.peerFailed(d.peer, failed)
		return
	}
	// A node that caught up by sync passes its new tip on, as it would a
	// block it mined: peers that missed the gossip learn of it.
	if last != nil && n.chain.Best().Hash == last.Hash() && !n.IsInitialBlockDownload() {
		if err := n.PublishBlock(last); err != nil {
			n.log.Debug("announce synced tip", "hash", last.Hash(), "err", err)
		}
	}
}

// maxPreverifyInputs bounds the inputs waiting for the preverifier, well
// inside the chain's signature cache (blockchain.DefaultSigCacheSize), so
// that what it verifies is still cached when the block connects. Blocks
// beyond it are verified when they connect, as any other block.
const maxPreverifyInputs = 20_000

// The preverifier checks the signatures of blocks that arrived by sync and
// wait for the chain, on every core, into the chain's signature cache. The
// chain connects one block at a time, and much of that (finding the spent
// outputs, storing the block and its undo data, applying it to the UTXO
// set, telling the subscribers) runs on one core while the other cores have
// no signature left to check; the preverifier gives them the next blocks'.
// A block then connects finding its signatures in the cache.
//
// It changes nothing the chain decides: a cache entry binds the signed
// message (which commits to the spent outputs), the key and the signature,
// so an entry made for an input whose spent output was looked up wrongly
// never matches, and the chain checks every input it does not find cached,
// a false signature included. An input whose spent output is not in the
// UTXO set yet (created by a block still waiting) is left to the chain, and
// so are the blocks assumevalid vouches for.
type preverifier struct {
	mu     sync.Mutex
	queue  []preverifyJob // in arrival order, which is height order
	inputs int            // inputs of the queued transactions not yet taken
	wake   chan struct{}
}

// preverifyJob is a block's transactions from next on.
type preverifyJob struct {
	block  *chain.Block
	height int32
	next   int
}

// preverify queues the signatures of a block that arrived by sync.
func (n *Node) preverify(b *chain.Block, height int32) {
	// Not yet checked for sanity: it may lack even a coinbase.
	if len(b.Txs) < 2 || n.nextToConnect(height) || n.chain.SignaturesAssumed(b.Hash()) {
		return
	}
	var inputs int
	for _, tx := range b.Txs[1:] {
		inputs += len(tx.Inputs)
	}
	pv := &n.preverifier
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if pv.inputs+inputs > maxPreverifyInputs {
		return
	}
	pv.queue = append(pv.queue, preverifyJob{block: b, height: height, next: 1})
	pv.inputs += inputs
	kick(pv.wake)
}

// take returns the next transaction to check, or nil when none is queued.
func (pv *preverifier) take() (*chain.Tx, int32) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	for len(pv.queue) > 0 {
		job := &pv.queue[0]
		if job.next == len(job.block.Txs) {
			pv.queue[0] = preverifyJob{}
			pv.queue = pv.queue[1:]
			continue
		}
		tx := job.block.Txs[job.next]
		job.next++
		pv.inputs -= len(tx.Inputs)
		if len(pv.queue) > 1 || job.next < len(job.block.Txs) {
			// More work: wake another worker.
			kick(pv.wake)
		}
		return tx, job.height
	}
	return nil, 0
}

// preverifyLoop is one of the preverifier's workers.
func (n *Node) preverifyLoop() {
	pv := &n.preverifier
	cache := n.chain.SigCache()
	for {
		tx, height := pv.take()
		if tx == nil {
			select {
			case <-n.ctx.Done():
				return
			case <-pv.wake:
			}
			continue
		}
		if n.nextToConnect(height) {
			continue
		}
		prev := make([]chain.UtxoEntry, len(tx.Inputs))
		found := true
		for i := 0; found && i < len(tx.Inputs); i++ {
			e, err := n.chain.FetchUtxo(tx.Inputs[i].PrevOut)
			if found = err == nil; found {
				prev[i] = *e
			}
		}
		if found {
			// A false signature is the chain's to find and blame on the
			// peer when the block connects.
			_ = chain.VerifyTxSignatures(tx, prev, cache)
		}
	}
}

// nextToConnect reports whether a block at height is the chain's next to
// connect, or below: the chain checks its signatures itself, on all cores,
// and checking them here too would check them twice.
func (n *Node) nextToConnect(height int32) bool {
	return height <= n.chain.Best().Height+1
}
