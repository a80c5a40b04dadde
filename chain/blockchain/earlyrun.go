package blockchain

import (
	"sync"

	"github.com/quarrychain/quarry/chain"
)

// An earlyRun connects the blocks of a ProcessBlocks batch that extend the
// tip one after another while the batch's later blocks are still being
// checked for sanity and stored: without it, the verifiers would wait for
// the whole batch's sanity checks (hashing every transaction) before its
// first signature, at every batch sync hands over. It takes only what
// activateBestChain would connect first anyway, so the outcome is the same:
// the batch must be a chain extending the tip, the tip the best candidate
// before it, and each block it takes must be, once stored, the best
// candidate, extending the block taken before; from the first block that is
// not, it takes no more, and the activation after the batch deals with the
// rest as it would have.
type earlyRun struct {
	c *Chain
	r *run // nil: the batch connects the usual way only
	// fed are the blocks given to r, in order; last is the tip they
	// extend, the last of them once one is.
	fed     []*blockNode
	last    *blockNode
	stopped bool
	// committed takes each block once it commits to the goroutine that
	// delivers its event (delivering).
	committed  chan *runBlock
	delivering sync.WaitGroup
}

// startEarlyRun starts an early run for blocks, of the given hashes, if they
// can have one: they are requested (an unrequested block may be dropped for its low work,
// which only the activation would tell), more than one (a lone block gains
// nothing), and a chain extending the tip, which is the best candidate.
func (c *Chain) startEarlyRun(blocks []*chain.Block, hashes []chain.Hash, requested bool) *earlyRun {
	e := &earlyRun{c: c}
	if !requested || len(blocks) < 2 {
		return e
	}
	for i := 1; i < len(blocks); i++ {
		if blocks[i].Header.PrevBlock != hashes[i-1] {
			return e
		}
	}
	c.mu.Lock()
	tip, best := c.tip(), c.bestCandidate()
	c.mu.Unlock()
	if best != tip || blocks[0].Header.PrevBlock != tip.hash {
		return e
	}
	// Each block's event goes out as it commits, not with the batch's once
	// the batch is connected: the subscribers' work on it (the mempool's,
	// the fee estimator's, the explorer's, the indexes' wake) is then done
	// while the verifiers work on the blocks after it, not while they wait
	// for the next batch. Readers see the chain at that block or past it,
	// as they would after the batch. A goroutine of its own delivers them,
	// so that the commits do not wait for the subscribers either (a run
	// under assumevalid is bound by its commits).
	size := min(len(blocks), maxRunBlocks)
	e.committed = make(chan *runBlock, size)
	e.delivering.Go(func() {
		for rb := range e.committed {
			c.deliver(appendConnected(nil, []*runBlock{rb}))
		}
	})
	e.r, e.last = c.startRun(size, func(rb *runBlock) { e.committed <- rb }), tip
	return e
}

// offer gives the run rb, just stored, if it extends the run's last block
// and is the best candidate; else the run takes no more.
func (e *earlyRun) offer(rb *runBlock) {
	if e.r == nil || e.stopped {
		return
	}
	e.c.mu.Lock()
	best := e.c.bestCandidate()
	e.c.mu.Unlock()
	if rb.n.parent != e.last || best != rb.n || len(e.fed) == maxRunBlocks {
		e.stopped = true
		return
	}
	e.r.add(func() (*runBlock, error) { return rb, nil })
	e.fed, e.last = append(e.fed, rb.n), rb.n
}

// finish waits for the run to connect what it took and for the events of
// the blocks connected to be delivered. It returns, as activateBestChain
// does, the rule failure of the block of known (the batch) that broke a
// rule, and any other failure, which must stop the activation.
func (e *earlyRun) finish(known map[*blockNode]*runBlock) (map[*blockNode]error, error) {
	failures := make(map[*blockNode]error)
	if e.r == nil {
		return failures, nil
	}
	connected, err := e.r.wait()
	close(e.committed)
	e.delivering.Wait()
	if err != nil {
		err = e.c.runFailed(e.fed, len(connected), err, known, failures)
	}
	return failures, err
}
