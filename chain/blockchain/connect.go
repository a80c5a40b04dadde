package blockchain

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// blockView is the UTXO set as a block being connected sees it: the chain
// state, minus what earlier transactions of the block spent, plus what they
// created. The outputs its inputs spend are fetched ahead of the checks, in
// batches (see prefetch).
type blockView struct {
	fetched map[chain.OutPoint]*chain.UtxoEntry // the current batch's
	created map[chain.OutPoint]*chain.UtxoEntry
	spent   map[chain.OutPoint]struct{}
}

func (v *blockView) LookupUtxo(op chain.OutPoint) *chain.UtxoEntry {
	if _, gone := v.spent[op]; gone {
		return nil
	}
	if e, ok := v.created[op]; ok {
		return e
	}
	return v.fetched[op]
}

// prefetchInputs is how many inputs are fetched at a time: enough that the
// cache's lock and a Badger read transaction, taken once per batch, cost
// nothing per input; few enough that the verifiers get their first
// transactions at once.
const prefetchInputs = 128

// fetchedBatch holds the spent outputs of the inputs of a block's
// transactions up to upTo, but those the block creates itself.
type fetchedBatch struct {
	upTo  int
	found map[chain.OutPoint]*chain.UtxoEntry
	err   error
}

// prefetch fetches the outputs spent by b's transactions from from on, on a
// goroutine of its own, a few batches ahead of the checks, which it sends
// them to in block order; so the checks do not wait for the disk, and a block
// whose signatures are cached connects on two cores. position maps the ids
// of b's transactions to their positions. It stops at the first error or
// when done is closed; the caller waits for it on wg.
func (c *Chain) prefetch(b *chain.Block, position map[chain.Hash]int, layer *runLayer, from int, done <-chan struct{}, wg *sync.WaitGroup) <-chan fetchedBatch {
	out := make(chan fetchedBatch, 4)
	wg.Go(func() {
		defer close(out)
		var ops []chain.OutPoint
		for from < len(b.Txs) {
			var batch fetchedBatch
			batch, ops = c.fetchBatch(b, position, layer, from, ops[:0])
			select {
			case out <- batch:
			case <-done:
				return
			}
			if batch.err != nil {
				return
			}
			from = batch.upTo
		}
	})
	return out
}

// txPositions maps the ids of a block's transactions to their positions.
func txPositions(txids []chain.Hash) map[chain.Hash]int {
	position := make(map[chain.Hash]int, len(txids))
	for i, id := range txids {
		position[id] = i
	}
	return position
}

// fetchBatch fetches the outputs spent by b's transactions from from on, for
// prefetchInputs inputs or a little more (a transaction's inputs are not
// split), but those an earlier transaction of the block creates, in layer
// or else in the cache; ops is where it lists those it looks for in the
// cache, returned for the next batch to reuse.
func (c *Chain) fetchBatch(b *chain.Block, position map[chain.Hash]int, layer *runLayer, from int, ops []chain.OutPoint) (fetchedBatch, []chain.OutPoint) {
	batch := fetchedBatch{found: make(map[chain.OutPoint]*chain.UtxoEntry)}
	to := from
	for ; to < len(b.Txs) && len(ops)+len(batch.found) < prefetchInputs; to++ {
		for j := range b.Txs[to].Inputs {
			op := b.Txs[to].Inputs[j].PrevOut
			if p, ok := position[op.TxID]; ok && p < to {
				continue
			}
			if e, ok := layer.lookup(op); ok {
				batch.found[op] = e
			} else {
				ops = append(ops, op)
			}
		}
	}
	batch.upTo = to
	batch.err = c.utxos.fetchMany(ops, batch.found)
	return batch, ops
}

// testHookCommit, nil but in tests, commits the transaction that stores a
// block ("block") or connects it ("connect") in place of Badger, to make it
// fail.
var testHookCommit func(what string, txn *badger.Txn) error

// maxRunBlocks bounds the blocks connected as one run: the run's layer of
// changes not yet committed, and the checked blocks waiting for their
// signatures, stay small whatever the length of the branch connected.
const maxRunBlocks = 64

// runBlock is a block of a run to connect: its node, its body, its
// transactions' ids, and, if not nil, a wait for its own store to end (its
// commit waits for it, and so does its failure: a header record written
// after it must not be overwritten by it).
type runBlock struct {
	n      *blockNode
	b      *chain.Block
	txids  []chain.Hash
	stored func() error
}

// checkedBlock is a block of a run whose rules but its signatures hold: its
// changes to the UTXO set, its encoded undo data, and its signatures, nil
// when assumevalid vouches for them. err, if not nil, is the failure of the
// block's sequential checks, and the run's last item.
type checkedBlock struct {
	rb      *runBlock
	changes *blockChanges
	undo    []byte
	sigs    *blockSigs
	err     error
}

// runLayer is what the blocks of a run checked so far change in the UTXO
// set, private to the run's sequential checks: the blocks before the one
// checked may not be committed yet, and no reader may see their changes
// before they are (Core's layered CCoinsViewCache).
type runLayer struct {
	created map[chain.OutPoint]*chain.UtxoEntry
	spent   map[chain.OutPoint]struct{}
}

// lookup finds op in the layer: the output, nil if spent, and whether the
// layer knows op at all.
func (l *runLayer) lookup(op chain.OutPoint) (*chain.UtxoEntry, bool) {
	if _, gone := l.spent[op]; gone {
		return nil, true
	}
	e, ok := l.created[op]
	return e, ok
}

func (l *runLayer) apply(ch *blockChanges) {
	for _, op := range ch.spent {
		delete(l.created, op)
		l.spent[op] = struct{}{}
	}
	for i := range ch.created {
		c := &ch.created[i]
		delete(l.spent, c.op)
		l.created[c.op] = &c.entry
	}
}

// connectRun connects path, blocks each extending the one before, the first
// extending the tip, body giving each block's body. It returns the blocks
// connected, in order, and the failure of the block after them, if any: a
// *RuleError if that block broke a rule (the blocks after it are not
// connected), else the failure that stopped the run, the block after them
// unconnected and nothing of it left in the cache.
func (c *Chain) connectRun(path []*blockNode, body func(*blockNode) (*runBlock, error)) ([]*runBlock, error) {
	r := c.startRun(len(path), nil)
	for _, n := range path {
		r.add(func() (*runBlock, error) {
			rb, err := body(n)
			if err != nil {
				return &runBlock{n: n}, err
			}
			return rb, nil
		})
	}
	return r.wait()
}

// A run is a pipelined connect under way: it takes blocks, each extending
// the one before, the first extending the tip, as they are added, and
// connects each as soon as it can, so a caller can still be storing the
// run's later blocks while it connects the first ones.
//
// The blocks go through a pipeline, so the cores never wait for a block's
// boundary: a goroutine applies the rules that need the UTXO set to each
// block in turn, against the UTXO cache and the changes of the run's blocks
// before it (runLayer), and hands each transaction to one pool of verifiers
// for the whole run as soon as its spent outputs are known; meanwhile
// another commits each block, in order, once its signatures verified: its
// undo data, the height index and the new tip in one Badger transaction,
// then its changes to the UTXO cache (applyCommitted), then the main chain
// in memory. So each block's commit is atomic as it was when blocks were
// connected one by one, and readers see only committed blocks.
type run struct {
	// bodies are the run's blocks to come, each read by the checks when
	// they reach it.
	bodies    chan func() (*runBlock, error)
	pool      *sigPool
	stop      chan struct{}
	halt      sync.Once
	checks    sync.WaitGroup
	committed chan struct{}
	// connected and err are commitRun's outcome, set once committed is
	// closed.
	connected []*runBlock
	err       error
}

// startRun starts a run of at most size blocks; the caller adds them and
// then waits for it. The run's channels hold all size blocks, so adding
// never waits for the checks, nor the checks for the commits. committed, if
// not nil, is called with each block once it is committed, in order, on
// the goroutine that commits.
func (c *Chain) startRun(size int, committed func(*runBlock)) *run {
	r := &run{bodies: make(chan func() (*runBlock, error), size), pool: c.startSigPool(), stop: make(chan struct{}), committed: make(chan struct{})}
	checked := make(chan checkedBlock, size)
	r.checks.Go(func() {
		defer close(checked)
		c.checkRun(r.bodies, r.pool, checked, r.stop)
	})
	go func() {
		defer close(r.committed)
		r.connected, r.err = c.commitRun(checked, committed)
		if r.err != nil {
			// An early run is still fed while its batch is stored: the
			// blocks after a failure are not checked, nor their
			// signatures verified, on a hostile peer's word.
			r.stopChecks()
		}
	}()
	return r
}

// stopChecks drops what is still checked or queued.
func (r *run) stopChecks() {
	r.halt.Do(func() {
		close(r.stop)
		r.pool.stopped.Store(true)
	})
}

// add gives the run its next block, which body returns when the checks
// reach it, or fails to return (with the block's node).
func (r *run) add(body func() (*runBlock, error)) { r.bodies <- body }

// wait ends the run once the blocks added are connected, or one failed,
// and returns the blocks connected and the failure that stopped the run (see
// connectRun).
func (r *run) wait() ([]*runBlock, error) {
	close(r.bodies)
	<-r.committed
	// The run stopped early: what is still checked or queued is dropped.
	r.stopChecks()
	r.checks.Wait()
	r.pool.close()
	return r.connected, r.err
}

// checkRun applies the sequential checks to the blocks of bodies in order,
// sending each checked block on checked, until a block fails, bodies is
// closed or stop is.
func (c *Chain) checkRun(bodies <-chan func() (*runBlock, error), pool *sigPool, checked chan<- checkedBlock, stop <-chan struct{}) {
	layer := &runLayer{created: make(map[chain.OutPoint]*chain.UtxoEntry), spent: make(map[chain.OutPoint]struct{})}
	for body := range bodies {
		select {
		case <-stop:
			return
		default:
		}
		rb, err := body()
		if err != nil {
			checked <- checkedBlock{rb: rb, err: err}
			return
		}
		n := rb.n
		cb := checkedBlock{rb: rb}
		if !c.skipSignatures(n) {
			cb.sigs = pool.block(rb.b, rb.txids)
		}
		cb.changes, cb.undo, cb.err = c.checkInputs(n, rb.b, rb.txids, layer, cb.sigs)
		if cb.err != nil {
			if _, broke := chain.BlockFault(cb.err); !broke {
				cb.err = fmt.Errorf("connect block %s: %w", n.hash, cb.err)
			}
			if cb.sigs != nil {
				cb.sigs.abandon()
			}
			checked <- cb
			return
		}
		layer.apply(cb.changes)
		checked <- cb
	}
}

// commitRun commits the checked blocks in order, each once its signatures
// verified, calling committed (if not nil) with each, and returns those
// committed and the failure that stopped it.
func (c *Chain) commitRun(checked <-chan checkedBlock, committed func(*runBlock)) ([]*runBlock, error) {
	var connected []*runBlock
	for cb := range checked {
		err := cb.err
		if err == nil && cb.sigs != nil {
			err = cb.sigs.wait()
		}
		if err == nil {
			err = c.commitBlock(cb)
		} else if cb.rb.stored != nil {
			// The block is marked invalid next, in a record its store,
			// committing later, would overwrite; the store's own failure
			// is the accept's to report.
			_ = cb.rb.stored()
		}
		if err != nil {
			return connected, err
		}
		n := cb.rb.n
		c.mu.Lock()
		n.status |= statusValid
		c.mainChain = append(c.mainChain, n)
		c.mu.Unlock()
		connected = append(connected, cb.rb)
		if committed != nil {
			committed(cb.rb)
		}
		if err := c.maybeFlush(); err != nil {
			return connected, err
		}
	}
	return connected, nil
}

// commitBlock writes a checked block's undo data, the height index and the
// new tip in one Badger transaction, after the block's own store, and
// applies the block to the UTXO cache; the indexes follow in the
// background. A failed commit changes nothing: the cache's changes are
// rolled back.
func (c *Chain) commitBlock(cb checkedBlock) error {
	n := cb.rb.n
	txn := c.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set(key(prefixUndo, n.hash[:]), cb.undo); err != nil {
		return fmt.Errorf("connect block %s: %w", n.hash, err)
	}
	if err := writeTip(txn, n, statusValid); err != nil {
		return fmt.Errorf("connect block %s: %w", n.hash, err)
	}
	if cb.rb.stored != nil {
		if err := cb.rb.stored(); err != nil {
			return fmt.Errorf("connect block %s: store: %w", n.hash, err)
		}
	}
	// The cache takes the block's changes while Badger commits; they are
	// taken back if the commit fails, so the cache never runs ahead of the
	// stored tip. Readers wait for the outcome: the mempool must not accept
	// a transaction spending an output that is then taken back.
	if err := c.utxos.applyCommitted(cb.changes, func(committed chan<- error) {
		if testHookCommit != nil {
			go func() { committed <- testHookCommit("connect", txn) }()
		} else {
			txn.CommitWith(func(err error) { committed <- err })
		}
	}); err != nil {
		return fmt.Errorf("connect block %s: commit: %w", n.hash, err)
	}
	c.prune.stored.Add(int64(len(cb.undo)))
	c.utxos.best = n.hash
	return nil
}

// checkInputs applies the rules that need the UTXO set to the block's
// transactions in order, against the UTXO cache and layer (the changes of
// the run's blocks before it), handing each transaction to sigs
// (if not nil) once its spent outputs are known. It returns the block's
// changes to the UTXO set and its encoded undo data (the spent outputs, in
// input order).
func (c *Chain) checkInputs(n *blockNode, b *chain.Block, txids []chain.Hash, layer *runLayer, sigs *blockSigs) (*blockChanges, []byte, error) {
	var inputs, outputs int
	for _, tx := range b.Txs {
		inputs += len(tx.Inputs)
		outputs += len(tx.Outputs)
	}
	inputs-- // the coinbase's
	view := &blockView{created: make(map[chain.OutPoint]*chain.UtxoEntry, outputs), spent: make(map[chain.OutPoint]struct{}, inputs)}
	// The first batch is fetched here: the checks wait for it anyway, and
	// a goroutine would add its start and a handoff to the critical path of
	// a small block, which needs no other batch.
	position := txPositions(txids)
	first, _ := c.fetchBatch(b, position, layer, 1, nil)
	if first.err != nil {
		return nil, nil, first.err
	}
	var batches <-chan fetchedBatch
	if first.upTo < len(b.Txs) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(done)
		batches = c.prefetch(b, position, layer, first.upTo, done, &wg)
	}
	undo := newUndo(inputs)
	changes := &blockChanges{spent: make([]chain.OutPoint, 0, inputs)}
	var fees uint64
	view.fetched = first.found
	fetchedTo := first.upTo // transactions before it have their inputs fetched
	for i, tx := range b.Txs {
		if i > 0 {
			if i == fetchedTo {
				batch := <-batches
				if batch.err != nil {
					return nil, nil, batch.err
				}
				view.fetched, fetchedTo = batch.found, batch.upTo
			}
			fee, prev, err := chain.CheckTxInputs(tx, view, n.height, c.params)
			if err != nil {
				return nil, nil, fmt.Errorf("transaction %s: %w", txids[i], err)
			}
			if fees += fee; fees > chain.MaxMoney {
				return nil, nil, chain.NewRuleError(chain.ErrBadFees, "block fees exceed the money supply")
			}
			if sigs != nil {
				sigs.check(i, prev)
			}
			for j := range tx.Inputs {
				op := tx.Inputs[j].PrevOut
				view.spent[op] = struct{}{}
				if _, ok := view.created[op]; ok {
					// Created and spent within the block: the cache never sees it.
					delete(view.created, op)
				} else {
					changes.spent = append(changes.spent, op)
				}
				undo = appendUtxo(undo, &prev[j])
			}
		}
		for idx, out := range tx.Outputs {
			view.created[chain.OutPoint{TxID: txids[i], Index: uint32(idx)}] = &chain.UtxoEntry{
				Value: out.Value, PubKeyHash: out.PubKeyHash, Height: n.height, Coinbase: i == 0,
			}
		}
	}
	claimed, _ := b.Txs[0].TotalOut() // sanity checked: no overflow
	if limit := c.params.Subsidy(n.height) + fees; claimed > limit {
		return nil, nil, chain.NewRuleError(chain.ErrBadCoinbaseValue, fmt.Sprintf("coinbase claims %d, more than subsidy and fees of %d", claimed, limit))
	}
	// In no order: the cache's map does not care, and a flush sorts its
	// writes.
	changes.created = make([]createdOutput, 0, len(view.created))
	for op, e := range view.created {
		changes.created = append(changes.created, createdOutput{op, *e})
	}
	return changes, undo, nil
}

// sigPool checks signatures on all cores for a run of blocks, taking each
// transaction as the run's checks find its spent outputs.
type sigPool struct {
	cache *chain.SigCache
	jobs  chan sigJob
	wg    sync.WaitGroup
	// stopped: the run ended early, what is queued is not checked.
	stopped atomic.Bool
}

type sigJob struct {
	blk   *blockSigs
	index int
	prev  []chain.UtxoEntry
}

// sigQueue is how many transactions may wait for the verifiers: enough for
// the sequential checks to run a block or two ahead of them.
const sigQueue = 1024

func (c *Chain) startSigPool() *sigPool {
	p := &sigPool{cache: c.sigCache, jobs: make(chan sigJob, sigQueue)}
	for range runtime.GOMAXPROCS(0) {
		p.wg.Go(func() {
			for job := range p.jobs {
				blk := job.blk
				if !p.stopped.Load() && !blk.skip(job.index) {
					if err := chain.VerifyTxSignatures(blk.block.Txs[job.index], job.prev, p.cache); err != nil {
						blk.fail(job.index, err)
					}
				}
				blk.pending.Done()
			}
		})
	}
	return p
}

// close ends the workers once the queue is drained; nothing may be queued
// after.
func (p *sigPool) close() {
	close(p.jobs)
	p.wg.Wait()
}

// block returns the signature checks of block b, whose transactions have
// txids, queued on p.
func (p *sigPool) block(b *chain.Block, txids []chain.Hash) *blockSigs {
	s := &blockSigs{pool: p, block: b, txids: txids}
	s.first.Store(math.MaxInt64)
	return s
}

// blockSigs are the signature checks of one block of a run.
type blockSigs struct {
	pool    *sigPool
	block   *chain.Block
	txids   []chain.Hash
	pending sync.WaitGroup
	// first is the index of the first transaction known to fail, or of none
	// (math.MaxInt64), or -1 once the block failed another rule: the
	// transactions after it are not checked, those before still are, so the
	// failure reported is the first in block order whatever the order the
	// verifiers took them in.
	first atomic.Int64
	mu    sync.Mutex
	err   error // of transaction first
}

// check queues transaction i, whose spent outputs are prev.
func (s *blockSigs) check(i int, prev []chain.UtxoEntry) {
	s.pending.Add(1)
	s.pool.jobs <- sigJob{s, i, prev}
}

// skip says whether transaction i need not be checked.
func (s *blockSigs) skip(i int) bool { return int64(i) > s.first.Load() }

func (s *blockSigs) fail(i int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(i) < s.first.Load() {
		s.first.Store(int64(i))
		s.err = err
	}
}

// abandon skips what is still queued: the block failed another rule.
func (s *blockSigs) abandon() { s.first.Store(-1) }

// wait returns once every transaction queued is checked, with the failure of
// the first transaction (in block order) that failed; every transaction must
// be queued.
func (s *blockSigs) wait() error {
	s.pending.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return fmt.Errorf("transaction %s: %w", s.txids[s.first.Load()], s.err)
	}
	return nil
}

// writeTip records n as the tip and as main chain at its height, with status
// bits added to its header record.
func writeTip(txn *badger.Txn, n *blockNode, add blockStatus) error {
	if err := txn.Set(key(prefixHeader, n.hash[:]), encodeHeaderStatus(n, n.status|add)); err != nil {
		return err
	}
	if err := txn.Set(heightKey(n.height), n.hash[:]); err != nil {
		return err
	}
	return txn.Set(key(prefixMeta, []byte(metaTip)), n.hash[:])
}

// disconnectBlock undoes the tip block n, whose transactions have txids: the
// tip moves to its parent, and then the UTXO cache loses the block's outputs
// and gets back those it spent.
// The undo data stays: the stored UTXO set may still be at n until the next
// flush, and a replay after a crash, or an index following the chain, needs it
// to get back.
func (c *Chain) disconnectBlock(n *blockNode, b *chain.Block, txids []chain.Hash) error {
	undo, err := c.loadUndo(n, b)
	if err != nil {
		return err
	}
	err = c.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(heightKey(n.height)); err != nil {
			return err
		}
		return txn.Set(key(prefixMeta, []byte(metaTip)), n.parent.hash[:])
	})
	if err != nil {
		return err
	}
	c.utxos.disconnect(b, txids, undo)
	c.utxos.best = n.parent.hash
	return nil
}

// loadUndo reads the undo data of block n, checked against the block's inputs.
func (c *Chain) loadUndo(n *blockNode, b *chain.Block) ([]chain.UtxoEntry, error) {
	var raw []byte
	err := c.db.View(func(txn *badger.Txn) (err error) {
		raw, err = getValue(txn, key(prefixUndo, n.hash[:]))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read undo data of block %s: %w", n.hash, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("undo data of block %s is missing", n.hash)
	}
	undo, err := decodeUndo(raw)
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", n.hash, err)
	}
	var inputs int
	for _, tx := range b.Txs[1:] {
		inputs += len(tx.Inputs)
	}
	if len(undo) != inputs {
		return nil, fmt.Errorf("undo data of block %s has %d entries for %d inputs", n.hash, len(undo), inputs)
	}
	return undo, nil
}
