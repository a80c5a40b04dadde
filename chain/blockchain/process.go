package blockchain

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// ProcessBlock takes a block from anywhere (a peer, the miner, RPC): it checks
// the block's sanity and its place in the chain, stores it, and makes the chain
// with the most work the main chain, connecting and disconnecting blocks as
// needed. A block whose parent is unknown waits in the orphan pool. Rule failures
// are *RuleErrors; a block that breaks a rule is remembered as invalid with all
// its descendants and is never checked again.
func (c *Chain) ProcessBlock(b *chain.Block) (ProcessResult, error) {
	c.processMu.Lock()
	defer c.processMu.Unlock()
	out, events := c.processBlocks([]*chain.Block{b}, true)
	c.deliver(events)
	return out[0].ProcessResult, out[0].Err
}

// BlockOutcome is what ProcessBlocks did with one of its blocks: the result
// and the error ProcessBlock would have returned for it.
type BlockOutcome struct {
	ProcessResult
	Err error
}

// ProcessBlocks processes blocks as ProcessBlock would one by one, in order,
// and returns an outcome for each, but makes the best chain the main chain
// once, after every block is stored: the blocks that extend the tip in a
// row are then connected as one run (see connectRun), so the checks of a
// block need not wait for the commit of the one before. It is meant for
// blocks that each extend the one before, as sync brings them: such a
// batch has its blocks connected while its later ones are still being
// checked and stored (earlyRun), and the event of each delivered as it
// commits. A block that
// breaks a rule in the connect leaves its descendants of the batch stored
// and failed by ancestry (ErrInvalidAncestor), as the whole batch was
// stored before any connect; the blocks before it stay connected. A
// failure other than a rule's in the connect (the store's, say) is the
// outcome of every block it left unconnected, or of the last block if none.
// The blocks are requested ones, as ProcessBlock's: none is dropped for its
// low work. Each block is stored on a goroutine of its own and the whole
// batch is held until its connect ends, so the caller bounds the batch (sync
// hands at most four answers, 64 blocks).
func (c *Chain) ProcessBlocks(blocks []*chain.Block) []BlockOutcome {
	c.processMu.Lock()
	defer c.processMu.Unlock()
	out, events := c.processBlocks(blocks, true)
	c.deliver(events)
	return out
}

// processBlocks processes blocks; an unrequested block with less work than
// the tip is dropped (see ProcessUnrequestedBlock), and so is such an orphan
// of it.
func (c *Chain) processBlocks(blocks []*chain.Block, requested bool) ([]BlockOutcome, []Event) {
	out := make([]BlockOutcome, len(blocks))
	accepted := make(map[*blockNode]*runBlock, len(blocks))
	byBlock := make([]*runBlock, len(blocks))
	hashes := make([]chain.Hash, len(blocks))
	for i, b := range blocks {
		hashes[i] = b.Hash()
	}
	early := c.startEarlyRun(blocks, hashes, requested)
	for i, b := range blocks {
		byBlock[i], out[i].ProcessResult, out[i].Err = c.preAccept(b, hashes[i], requested)
		if rb := byBlock[i]; rb != nil {
			accepted[rb.n] = rb
			early.offer(rb)
		}
	}
	failures, activateErr := early.finish(accepted)
	var events []Event
	if activateErr == nil && len(accepted) > 0 {
		var more map[*blockNode]error
		events, more, activateErr = c.activateBestChain(accepted)
		maps.Copy(failures, more)
	}
	// A failure other than a rule's is each unconnected block's, or the
	// last block's if it left none unconnected, so it is never lost.
	last := -1
	for i, rb := range byBlock {
		if rb != nil {
			last = i
		}
	}
	for i, rb := range byBlock {
		if rb == nil {
			continue
		}
		err := failures[rb.n]
		if err == nil && activateErr != nil && (i == last || !c.onMainChain(rb.n)) {
			err = activateErr
		}
		if err == nil {
			err = c.outcomeError(rb.n)
		}
		out[i].Err = c.finishAccept(rb, err)
	}
	for i, rb := range byBlock {
		if rb == nil || out[i].Err != nil {
			continue
		}
		events = append(events, c.acceptOrphans(rb.n)...)
		out[i].MainChain = c.onMainChain(rb.n)
	}
	return out, events
}

func (c *Chain) onMainChain(n *blockNode) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.isMain(n)
}

// preAccept checks b's sanity and its place in the chain and, unless it is
// an orphan or dropped, starts storing it (see storeAccepted) and returns
// it ready to connect.
func (c *Chain) preAccept(b *chain.Block, hash chain.Hash, requested bool) (*runBlock, ProcessResult, error) {
	res := ProcessResult{Hash: hash}
	c.mu.RLock()
	n := c.index[hash]
	orphan := c.orphans.has(hash)
	c.mu.RUnlock()
	switch {
	case n != nil && n.status.invalid():
		return nil, res, chain.NewRuleError(chain.ErrKnownInvalid, fmt.Sprintf("block %s is known to be invalid", hash))
	case n != nil && n.status&statusHaveData != 0, orphan:
		return nil, res, chain.NewRuleError(chain.ErrDuplicateBlock, fmt.Sprintf("block %s is already known", hash))
	}
	txids, err := chain.CheckBlockSanity(b, c.params)
	if err != nil {
		// Not remembered as invalid: a body mutated in transit (say, a bad
		// merkle root) can come with an honest header.
		return nil, res, err
	}

	c.mu.Lock()
	parent := c.index[b.Header.PrevBlock]
	if parent == nil {
		c.orphans.add(b, hash)
		c.mu.Unlock()
		res.Orphan = true
		c.log.Debug("orphan block", "hash", hash, "parent", b.Header.PrevBlock)
		return nil, res, nil
	}
	c.mu.Unlock()
	if !requested && c.lowWorkBlock(&b.Header, parent) {
		res.LowWork = true
		return nil, res, nil
	}
	rb, err := c.storeAccepted(b, hash, parent, txids)
	return rb, res, err
}

// acceptOrphans accepts the orphans waiting for block h, and for their own
// children, now that h is stored.
func (c *Chain) acceptOrphans(h *blockNode) []Event {
	var events []Event
	for queue := []chain.Hash{h.hash}; len(queue) > 0; queue = queue[1:] {
		c.mu.Lock()
		children := c.orphans.takeChildren(queue[0])
		c.mu.Unlock()
		for _, child := range children {
			childHash := child.Hash()
			// Orphans are unrequested: they came by gossip.
			if c.lowWorkBlock(&child.Header, c.node(queue[0])) {
				continue
			}
			more, err := c.acceptBlock(child, childHash, c.node(queue[0]), child.TxIDs())
			events = append(events, more...)
			if err != nil {
				c.log.Info("orphan block rejected", "hash", childHash, "err", err)
				continue
			}
			queue = append(queue, childHash)
		}
	}
	return events
}

func (c *Chain) node(h chain.Hash) *blockNode {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.index[h]
}

// acceptBlock checks a sane block, whose transactions have txids, against its
// known parent, stores it and activates the best chain.
func (c *Chain) acceptBlock(b *chain.Block, hash chain.Hash, parent *blockNode, txids []chain.Hash) ([]Event, error) {
	rb, err := c.storeAccepted(b, hash, parent, txids)
	if err != nil {
		return nil, err
	}
	events, failures, err := c.activateBestChain(map[*blockNode]*runBlock{rb.n: rb})
	if err == nil {
		err = failures[rb.n]
	}
	if err == nil {
		err = c.outcomeError(rb.n)
	}
	return events, c.finishAccept(rb, err)
}

// outcomeError is the error of block n, which the activation that followed
// its store did not connect for a rule of its own: it extends an invalid
// block, or a branch a pruned node cannot follow; nil otherwise.
func (c *Chain) outcomeError(n *blockNode) error {
	c.mu.RLock()
	invalid, beyond := n.status.invalid(), n.beyondPrune
	c.mu.RUnlock()
	switch {
	case invalid:
		return chain.NewRuleError(chain.ErrInvalidAncestor, fmt.Sprintf("block %s extends an invalid block", n.hash))
	case beyond:
		return c.beyondPruneError(n)
	}
	return nil
}

// storeAccepted checks a sane block, whose transactions have txids, against
// its known parent and starts storing it; the block is then a candidate for
// the main chain, and finishAccept must follow the activation.
func (c *Chain) storeAccepted(b *chain.Block, hash chain.Hash, parent *blockNode, txids []chain.Hash) (*runBlock, error) {
	// Read under the lock: an early run may be committing the parent.
	c.mu.RLock()
	parentInvalid := parent.status.invalid()
	c.mu.RUnlock()
	if parentInvalid {
		c.mu.Lock()
		n := c.index[hash]
		if n == nil {
			n = c.addNode(&b.Header, parent, statusFailedParent)
		}
		n.status |= statusFailedParent
		c.mu.Unlock()
		return nil, errors.Join(chain.NewRuleError(chain.ErrInvalidAncestor, fmt.Sprintf("block %s extends invalid block %s", hash, parent.hash)), c.persistStatus(n))
	}
	c.mu.Lock()
	n := c.index[hash]
	c.mu.Unlock()
	if n == nil {
		if err := c.checkHeaderContext(&b.Header, parent); err != nil {
			if !errors.Is(err, chain.ErrTimeTooNew) {
				// A header from the future may become valid; any other failure is final.
				c.mu.Lock()
				n = c.addNode(&b.Header, parent, statusFailed)
				c.mu.Unlock()
				return nil, errors.Join(err, c.persistStatus(n))
			}
			return nil, err
		}
	}
	if err := chain.CheckBlockContext(b, parent.height+1, parent.medianTimePast()); err != nil {
		c.mu.Lock()
		if n == nil {
			n = c.addNode(&b.Header, parent, statusFailed)
		}
		n.status |= statusFailed
		c.mu.Unlock()
		return nil, errors.Join(err, c.persistStatus(n))
	}

	c.mu.Lock()
	if n == nil {
		n = c.addNode(&b.Header, parent, 0)
	}
	c.mu.Unlock()
	// The block is written while its signatures are checked: a goroutine
	// stores it, and its connect waits for the store before committing, as
	// the chain state must never name a block the store lacks. Until then
	// the index says the block has data; a failed store takes that back.
	rec := *n
	rec.status |= statusHaveData
	header := encodeHeaderRecord(&rec)
	stored := make(chan error, 1)
	go func() { stored <- c.storeBlock(hash, b, header) }()
	c.mu.Lock()
	n.status |= statusHaveData
	c.markDataChain(n)
	c.mu.Unlock()
	return &runBlock{n: n, b: b, txids: txids, stored: sync.OnceValue(func() error { return <-stored })}, nil
}

// finishAccept waits for the store of rb, accepted by storeAccepted, once
// the activation after it ended with err for it, and returns err with the
// store's failure.
func (c *Chain) finishAccept(rb *runBlock, err error) error {
	n := rb.n
	if serr := rb.stored(); serr != nil {
		c.mu.Lock()
		c.unmarkData(n)
		c.mu.Unlock()
		return errors.Join(err, fmt.Errorf("store block %s: %w", n.hash, serr))
	}
	// An ancestor that broke a rule while the block was being stored marked
	// it invalid in a record the store, committing later, overwrote.
	c.mu.RLock()
	invalid := n.status.invalid()
	c.mu.RUnlock()
	if invalid {
		if perr := c.persistStatus(n); perr != nil {
			return errors.Join(err, perr)
		}
	}
	return err
}

// storeBlock writes block b and its header record.
func (c *Chain) storeBlock(hash chain.Hash, b *chain.Block, header []byte) error {
	body := b.Encode()
	commit := func(txn *badger.Txn) error { return txn.Commit() }
	if testHookCommit != nil {
		commit = func(txn *badger.Txn) error { return testHookCommit("block", txn) }
	}
	txn := c.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set(key(prefixBlock, hash[:]), body); err != nil {
		return err
	}
	if err := txn.Set(key(prefixHeader, hash[:]), header); err != nil {
		return err
	}
	if err := commit(txn); err != nil {
		return err
	}
	c.prune.stored.Add(int64(len(body)))
	return nil
}

// unmarkData takes back that n has data, after its store failed: neither n
// nor the descendants that markDataChain made candidates through it are
// candidates any more. The caller holds mu.
func (c *Chain) unmarkData(n *blockNode) {
	n.status &^= statusHaveData
	for queue := []*blockNode{n}; len(queue) > 0; queue = queue[1:] {
		it := queue[0]
		it.dataChain = false
		delete(c.candidates, it)
		for _, child := range it.children {
			if child.dataChain {
				queue = append(queue, child)
			}
		}
	}
}

// checkHeaderContext applies chain.CheckHeaderContext to a header on parent.
func (c *Chain) checkHeaderContext(h *chain.Header, parent *blockNode) error {
	return chain.CheckHeaderContext(h, parent.context(c.params), c.now(), c.params)
}

// AcceptHeaders adds headers to the index ahead of their bodies, for
// headers-first sync. Each must extend a known header and follow the header
// rules; the first failure stops and is returned. Unless the branch they
// extend reaches HeadersWorkThreshold, none is stored and the error is
// ErrLowWork.
func (c *Chain) AcceptHeaders(headers []chain.Header) (err error) {
	c.processMu.Lock()
	defer c.processMu.Unlock()
	if err := c.checkHeadersWork(headers); err != nil {
		return err
	}
	// The records of the headers added are written together, in
	// transactions of headersPerWrite, not one transaction per header: a
	// headers message costs a few commits, not 2,000. Those added before a
	// failing header are written too.
	var added []*blockNode
	defer func() {
		for len(added) > 0 {
			batch := added[:min(len(added), headersPerWrite)]
			added = added[len(batch):]
			if perr := c.persistStatus(batch...); perr != nil {
				err = errors.Join(err, perr)
				return
			}
		}
	}()
	for i := range headers {
		h := &headers[i]
		hash := h.Hash()
		if c.node(hash) != nil {
			continue
		}
		parent := c.node(h.PrevBlock)
		if parent == nil {
			return chain.NewRuleError(chain.ErrBadPrevBlock, fmt.Sprintf("header %s extends unknown block %s", hash, h.PrevBlock))
		}
		if parent.status.invalid() {
			return chain.NewRuleError(chain.ErrInvalidAncestor, fmt.Sprintf("header %s extends invalid block %s", hash, parent.hash))
		}
		if err := chain.CheckProofOfWork(h, c.params); err != nil {
			return err
		}
		if err := c.checkHeaderContext(h, parent); err != nil {
			return err
		}
		c.mu.Lock()
		added = append(added, c.addNode(h, parent, 0))
		c.mu.Unlock()
	}
	return nil
}

// headersPerWrite bounds the header records AcceptHeaders writes in one
// Badger transaction, well inside Badger's transaction size limit even for
// a presync's 100,000 headers handed over at once.
const headersPerWrite = 2_000

// persistStatus writes n's header record.
func (c *Chain) persistStatus(nodes ...*blockNode) error {
	return c.db.Update(func(txn *badger.Txn) error {
		for _, n := range nodes {
			c.mu.RLock()
			rec := encodeHeaderRecord(n)
			c.mu.RUnlock()
			if err := txn.Set(key(prefixHeader, n.hash[:]), rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// activateBestChain reorganises to the valid candidate with the most work. A
// block of the new branch that breaks a rule is marked invalid with its
// descendants, and the search starts over, which brings the chain back to the
// best valid branch (often the one it left). known holds the blocks the
// caller is processing, whose bodies and txids are used as they are rather
// than read back from the store and hashed again, and whose stores each
// connect waits for. It returns the main chain's changes, the rule failure
// of each block of known that broke a rule, and any other failure, which
// stops it.
func (c *Chain) activateBestChain(known map[*blockNode]*runBlock) ([]Event, map[*blockNode]error, error) {
	var events []Event
	failures := make(map[*blockNode]error)
	body := func(n *blockNode) (*runBlock, error) {
		if rb := known[n]; rb != nil {
			return rb, nil
		}
		b, err := c.loadBlock(n.hash)
		if err != nil {
			return nil, err
		}
		return &runBlock{n: n, b: b, txids: b.TxIDs()}, nil
	}
	for {
		c.mu.RLock()
		best, tip := c.bestCandidate(), c.tip()
		c.mu.RUnlock()
		if best == tip {
			c.mu.Lock()
			c.pruneCandidates()
			c.mu.Unlock()
			return events, failures, nil
		}
		fork := forkPoint(tip, best)
		// Checked before anything is disconnected: a reorganisation that
		// stopped at a pruned block would leave the chain on neither branch.
		if root := unreachableRoot(tip, best, fork); root != nil {
			c.refuseBeyondPrune(root, best, fork)
			continue
		}
		for n := tip; n != fork; n = n.parent {
			b, err := c.loadBlock(n.hash)
			if err != nil {
				return events, failures, err
			}
			txids := b.TxIDs()
			if err := c.disconnectBlock(n, b, txids); err != nil {
				return events, failures, fmt.Errorf("disconnect block %s: %w", n.hash, err)
			}
			c.mu.Lock()
			c.mainChain = c.mainChain[:n.height]
			c.mu.Unlock()
			events = append(events, Event{Kind: BlockDisconnected, Block: b, TxIDs: txids, Hash: n.hash, Height: n.height})
			if err := c.maybeFlush(); err != nil {
				return events, failures, err
			}
		}
		path := make([]*blockNode, best.height-fork.height)
		for n := best; n != fork; n = n.parent {
			path[n.height-fork.height-1] = n
		}
		for len(path) > 0 {
			run := path[:min(len(path), maxRunBlocks)]
			path = path[len(run):]
			connected, err := c.connectRun(run, body)
			events = appendConnected(events, connected)
			if err == nil {
				continue
			}
			if err := c.runFailed(run, len(connected), err, known, failures); err != nil {
				return events, failures, err
			}
			break
		}
	}
}

// appendConnected appends to events the connect event of each block of a
// run connected.
func appendConnected(events []Event, connected []*runBlock) []Event {
	for _, rb := range connected {
		events = append(events, Event{Kind: BlockConnected, Block: rb.b, TxIDs: rb.txids, Hash: rb.n.hash, Height: rb.n.height})
	}
	return events
}

// runFailed deals with err, which stopped a run of path's blocks after
// connected of them: a rule's marks the block that broke it invalid with its
// descendants, and is its failure in failures if it is of known, the blocks
// being processed; any other failure is returned, for it stops the
// activation. Such a failure may come after the last block committed (the
// flush or the pruning at its end), when there is no block after them.
func (c *Chain) runFailed(path []*blockNode, connected int, err error, known map[*blockNode]*runBlock, failures map[*blockNode]error) error {
	var re *chain.RuleError
	if !errors.As(err, &re) {
		return err
	}
	n := path[connected]
	c.log.Warn("invalid block", "hash", n.hash, "height", n.height, "err", err)
	if perr := c.markInvalid(n); perr != nil {
		return perr
	}
	if known[n] != nil {
		failures[n] = err
	}
	return nil
}

// markInvalid marks n as failed and its descendants as failed by ancestry, in
// memory and in the store, and rebuilds the candidate tips.
func (c *Chain) markInvalid(n *blockNode) error {
	c.mu.Lock()
	n.status |= statusFailed
	marked := []*blockNode{n}
	for queue := slices.Clone(n.children); len(queue) > 0; queue = queue[1:] {
		d := queue[0]
		d.status |= statusFailedParent
		marked = append(marked, d)
		queue = append(queue, d.children...)
	}
	c.rebuildCandidates()
	c.bestHeader = c.tip()
	for _, it := range c.index {
		if !it.status.invalid() && moreWork(it, c.bestHeader) {
			c.bestHeader = it
		}
	}
	c.mu.Unlock()
	return c.persistStatus(marked...)
}

// loadBlock reads a stored block.
func (c *Chain) loadBlock(hash chain.Hash) (*chain.Block, error) {
	var b *chain.Block
	err := c.db.View(func(txn *badger.Txn) error {
		raw, err := getValue(txn, key(prefixBlock, hash[:]))
		if err != nil {
			return err
		}
		if raw == nil {
			return fmt.Errorf("block %s is not stored", hash)
		}
		b, err = chain.DecodeBlock(raw)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load block %s: %w", hash, err)
	}
	return b, nil
}
