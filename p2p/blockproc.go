package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// A delivery is one getblocks request on its way to the chain. Its reader
// (fetchBlocks) takes the blocks off the stream without waiting for the
// chain; one processor goroutine decodes them and hands them to the chain in
// the order the requests were made, which is the order of their heights. So
// the network and the chain's work on the block before overlap, and blocks
// reach the chain parent first: a block that came before its parent would be
// stored, and read back and decoded again to connect.
//
// A request counts against its peer's maxBlockRequestsPerPeer while its
// answer is being read (Core's blocks in transit), its blocks against
// maxQueuedBlocks until they are processed, and the blocks
// read against SyncQueueBytes, which bounds the blocks held in memory
// whatever the number of peers and the size of their blocks; its items stay
// assigned to the peer until then, so they are not asked of anyone else.
// The blocks are held encoded: a block's decoded form may be many times the
// size of its encoding (a hostile peer's garbage, say, of tiny witness
// items), and the chain's checks that find out come later.
type delivery struct {
	peer  peer.ID
	ps    *peerState
	items []*wantItem
	// arrived has room for every item, so the reader never waits for the
	// processor; the reader closes it when the answer ends.
	arrived chan arrival
	// complete: the whole answer was read, n.mu held.
	complete bool
	// released: the request no longer counts against its peer's
	// maxBlockRequestsPerPeer (answerReadLocked), n.mu held.
	released bool
}

type arrival struct {
	item *wantItem
	raw  []byte // the block message
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
			n.sync.processing = d
			// Its reader may read past the queue's budget now.
			n.wakeQueueLocked()
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

// processed is a delivery the processor is on: what it waited for it, the
// last of its blocks the chain took, and the failure that ends it.
type processed struct {
	d      *delivery
	w      waiter
	last   *chain.Block
	failed error
}

// maxBatchBlocks bounds the blocks the processor hands the chain as one
// batch: the blocks of a batch are held, decoded, until its connect ends.
// Four answers: the chain connects them as one run, and pays for a run's
// start and end once for 64 blocks rather than for every answer.
const maxBatchBlocks = 4 * MaxBlocksPerRequest

// process hands d's blocks to the chain as they arrive, until its reader is
// done: each time, every block of d already read (see processArrivals).
// Once d's answer is all read, the blocks already read of the deliveries
// queued next, while they are of the same peer, go in the same batch, up to
// maxBatchBlocks, so that the chain connects them in one run with d's last.
// A block that breaks a rule is the serving peer's fault; the rest of its
// delivery is dropped, and so are the blocks still queued of a peer banned
// meanwhile (here or by its reader, its gossip): they would cost the chain
// their checks and be stored on disk, on a hostile peer's word.
func (n *Node) process(d *delivery) {
	cur := &processed{d: d, w: waiter{d: d}}
	for {
		a, ok := n.nextArrival(&cur.w)
		if !ok {
			n.finish(cur)
			return
		}
		batch, done := takeArrived(cur.d, append(make([]arrival, 0, maxBatchBlocks), a))
		owners := make([]*processed, len(batch))
		for i := range owners {
			owners[i] = cur
		}
		// The deliveries taken after cur, each all taken but the last.
		var taken []*processed
		for last := cur; done && cur.failed == nil && len(batch) < maxBatchBlocks; {
			d2 := n.takeFollowing(last.d)
			if d2 == nil {
				break
			}
			last = &processed{d: d2, w: waiter{d: d2}}
			taken = append(taken, last)
			before := len(batch)
			batch, done = takeArrived(d2, batch)
			for range batch[before:] {
				owners = append(owners, last)
			}
		}
		if cur.failed != nil || n.ctx.Err() != nil || n.IsBanned(cur.d.peer) {
			for _, a := range batch {
				n.releaseQueue(len(a.raw))
			}
		} else {
			n.processArrivals(batch, owners)
		}
		if len(taken) > 0 {
			// cur's reader is done and its blocks all taken, and so are
			// those of every delivery taken but the last.
			n.finish(cur)
			for _, p := range taken[:len(taken)-1] {
				n.finish(p)
			}
			cur = taken[len(taken)-1]
		}
	}
}

// answerReadLocked gives back d's request to its peer's
// maxBlockRequestsPerPeer, once its answer is read or failed: the peer is
// asked for more while the chain connects what it sent, so that the next
// blocks are read by the time the chain is done with these, and the
// processor has more than two answers to hand over as one batch; the
// blocks read still count against maxQueuedBlocks and SyncQueueBytes. n.mu
// must be held.
func (n *Node) answerReadLocked(d *delivery) {
	if !d.released {
		d.released = true
		d.ps.blocksInFlight--
	}
}

// takeFollowing takes the delivery queued next for the processor if it is
// p's and some of its blocks are read, and makes it the one processed.
func (n *Node) takeFollowing(d *delivery) *delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := &n.sync
	if len(q.deliveries) == 0 || q.deliveries[0].peer != d.peer || len(q.deliveries[0].arrived) == 0 {
		return nil
	}
	next := q.deliveries[0]
	q.deliveries = q.deliveries[1:]
	q.processing = next
	n.wakeQueueLocked()
	return next
}

// finish ends the processing of p's delivery, whose blocks are all taken:
// its items and its place in the queue are given back, and its peer, if it
// failed, dealt with.
func (n *Node) finish(p *processed) {
	d := p.d
	n.mu.Lock()
	if n.sync.processing == d {
		n.sync.processing = nil
	}
	n.answerReadLocked(d)
	n.sync.queuedBlocks -= len(d.items)
	if p.failed != nil {
		d.ps.pauseUntil = time.Now().Add(failurePause)
	}
	for _, it := range d.items {
		if it.peer == d.peer {
			it.peer = ""
		}
	}
	n.mu.Unlock()
	kick(n.kickSync)
	if p.failed != nil {
		n.peerFailed(d.peer, p.failed)
		return
	}
	// A node that caught up by sync passes its new tip on, as it would a
	// block it mined: peers that missed the gossip learn of it.
	if last := p.last; last != nil && n.chain.Best().Hash == last.Hash() && !n.IsInitialBlockDownload() {
		if err := n.PublishBlock(last); err != nil {
			n.log.Debug("announce synced tip", "hash", last.Hash(), "err", err)
		}
	}
}

// processArrivals decodes batch, blocks in order each of the delivery of
// its owner (deliveries of one peer), and hands each run of
// them extending the one before to the chain as one batch (ProcessBlocks),
// so the chain's checks of a block need not wait for the commit of the one
// before. A block beside the next in the chain (another branch) goes alone:
// in a batch with the next, of more work, it would not be connected at all,
// and a peer that sent it false not found out. Each owner gets the last of
// its blocks the chain took and the failure of the first block that broke a
// rule or did not decode; the blocks after that one are dropped, but those
// of its batch, handed to the chain with it (as a node storing a whole
// answer before connecting it would, Core's).
func (n *Node) processArrivals(batch []arrival, owners []*processed) {
	blocks := make([]*chain.Block, 0, len(batch))
	var decodeErr error
	for _, a := range batch {
		b, err := decodeBlockMsg(a.raw)
		if err != nil {
			decodeErr = err
			break
		}
		blocks = append(blocks, b)
	}
	var failed error
	for start := 0; start < len(batch); {
		if failed != nil || start == len(blocks) {
			if failed == nil {
				failed = decodeErr
				owners[start].failed = failed
			}
			for _, a := range batch[start:] {
				n.releaseQueue(len(a.raw))
			}
			return
		}
		// The reader checked each block's hash against the item asked for,
		// so the runs are found without hashing the headers again.
		end := start + 1
		for end < len(blocks) && blocks[end].Header.PrevBlock == batch[end-1].item.hash {
			end++
		}
		for i, err := range n.processSynced(blocks[start:end]...) {
			a, o := batch[start+i], owners[start+i]
			n.releaseQueue(len(a.raw))
			switch fault, broke := chain.BlockFault(err); {
			case failed != nil:
			case err == nil:
				o.last = blocks[start+i]
				n.relaxBlockStall()
			case broke && fault == chain.FaultTime:
				n.skipPeer(a.item, o.d.peer, o.d.ps)
			default:
				failed, o.failed = err, err
			}
		}
		start = end
	}
}

// takeArrived appends to batch the blocks of d already read, without
// waiting for more; done says d's reader is done and every block taken.
func takeArrived(d *delivery, batch []arrival) (_ []arrival, done bool) {
	for {
		select {
		case a, ok := <-d.arrived:
			if !ok {
				return batch, true
			}
			batch = append(batch, a)
		default:
			return batch, false
		}
	}
}

// A waiter keeps what the processor has waited for one delivery.
type waiter struct {
	d       *delivery
	waited  time.Duration
	dropped bool
}

// stallRecheck is how often the processor, waiting on a peer past its
// budget, looks again for another peer's blocks queued behind.
const stallRecheck = time.Second

// nextArrival waits for w's delivery's next block; false once its reader is
// done. As Core drops the peer that stalls its download window, a peer whose
// next block the processor has waited the block stall timeout for, while
// another peer's blocks wait behind and the download cannot move on without
// it (downloadStalled), is dropped (not banned: a slow link is no offence) and its
// blocks are asked of others; the timeout doubles. As Core's, the timeout
// is of one block and only with the window full: over a whole answer, 16
// blocks of up to 1 MB, 2 s would drop an honest peer on any link slower
// than 64 Mbit/s, and with room to ask others for more, the download is not
// stalled. The read deadline is per block, so a peer sending each just
// before it would hold the processor, and every peer's blocks queued
// behind, for MaxBlocksPerRequest deadlines a request: one waited for
// StallTimeout over its whole answer, while another peer's blocks wait
// behind, is dropped too, full queue or not. Only the waiting counts, not
// the chain's work on the blocks.
func (n *Node) nextArrival(w *waiter) (arrival, bool) {
	select {
	case a, ok := <-w.d.arrived:
		return a, ok
	default:
	}
	start := time.Now()
	defer func() { w.waited += time.Since(start) }()
	n.mu.Lock()
	stall, whole := n.sync.blockStall, n.sync.maxBlockStall
	n.mu.Unlock()
	timer := time.NewTimer(min(stall, max(whole-w.waited, 0)))
	defer timer.Stop()
	for {
		select {
		case a, ok := <-w.d.arrived:
			return a, ok
		case <-timer.C:
		}
		over := w.waited+time.Since(start) >= whole
		if !w.dropped && n.othersQueuedBehind(w.d.peer) && (over || n.downloadStalled(w.d.peer)) {
			w.dropped = true
			n.log.Info("dropping peer stalling the block processor", "peer", w.d.peer, "waited", w.waited+time.Since(start))
			n.closePeer(w.d.peer)
			n.raiseBlockStall()
		}
		timer.Reset(stallRecheck)
	}
}

// othersQueuedBehind reports whether a peer other than p has blocks waiting
// for the processor.
func (n *Node) othersQueuedBehind(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, d := range n.sync.deliveries {
		if d.peer != p {
			return true
		}
	}
	return false
}

// downloadStalled reports whether the download waits on p's delivery, the
// processor's: schedule can ask for no more blocks, by their number or their
// bytes (Core's full download window), or another peer's whole answer is in
// and waits behind it: the chain could be connecting those blocks, and the
// queue only fills up behind them, for that peer is asked for more as soon
// as its answer is read (so this drops p before Core would, once the window
// is full).
func (n *Node) downloadStalled(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sync.queuedBlocks >= maxQueuedBlocks || n.sync.queuedBytes >= n.sync.maxBytes {
		return true
	}
	for _, d := range n.sync.deliveries {
		if d.peer != p && d.complete {
			return true
		}
	}
	return false
}

// reserveQueue waits until a block of size bytes, of d, fits in the sync
// queue's byte budget, and counts it; the caller then reads it, and
// releaseQueue gives the bytes back once the chain has it or it is dropped.
// The delivery the processor is on reads a block whatever the budget while
// the processor waits for it, for the blocks filling the queue are those of
// later deliveries, which wait on it: so the queue exceeds its budget by at
// most that block and the one the chain is taking, counted until taken. It
// fails only when the node closes.
func (n *Node) reserveQueue(d *delivery, size int) error {
	for {
		n.mu.Lock()
		q := &n.sync
		if q.queuedBytes+size <= q.maxBytes || (q.processing == d && len(d.arrived) == 0) {
			q.queuedBytes += size
			n.mu.Unlock()
			return nil
		}
		freed := q.bytesFreed
		n.mu.Unlock()
		select {
		case <-freed:
		case <-n.ctx.Done():
			return n.ctx.Err()
		}
	}
}

// releaseQueue gives back size bytes reserveQueue counted.
func (n *Node) releaseQueue(size int) {
	if size == 0 {
		return
	}
	n.mu.Lock()
	n.sync.queuedBytes -= size
	n.wakeQueueLocked()
	n.mu.Unlock()
}

// wakeQueueLocked wakes the readers waiting in reserveQueue; n.mu must be
// held.
func (n *Node) wakeQueueLocked() {
	close(n.sync.bytesFreed)
	n.sync.bytesFreed = make(chan struct{})
}

// raiseBlockStall doubles the block stall timeout, up to StallTimeout, after
// a peer was dropped for it: if our own link is what is slow, the next peer
// is given longer rather than dropped too (Core's).
func (n *Node) raiseBlockStall() {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := &n.sync
	if next := min(2*q.blockStall, q.maxBlockStall); next != q.blockStall {
		q.blockStall = next
		n.log.Debug("block stall timeout raised", "timeout", next)
	}
}

// relaxBlockStall takes the block stall timeout a step back towards its
// floor, as each block the processor hands to the chain shows the download
// moving (blocks from gossip or the miner say nothing of it, and need not
// take the node's lock).
func (n *Node) relaxBlockStall() {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := &n.sync
	q.blockStall = max(q.blockStall-time.Duration(float64(q.blockStall)*blockStallDecay), q.blockStallFloor)
}
