package blockchain

import (
	"fmt"
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
func (c *Chain) prefetch(b *chain.Block, position map[chain.Hash]int, from int, done <-chan struct{}, wg *sync.WaitGroup) <-chan fetchedBatch {
	out := make(chan fetchedBatch, 4)
	wg.Go(func() {
		defer close(out)
		var ops []chain.OutPoint
		for from < len(b.Txs) {
			var batch fetchedBatch
			batch, ops = c.fetchBatch(b, position, from, ops[:0])
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
// split), but those an earlier transaction of the block creates; ops is
// where it lists them, returned for the next batch to reuse.
func (c *Chain) fetchBatch(b *chain.Block, position map[chain.Hash]int, from int, ops []chain.OutPoint) (fetchedBatch, []chain.OutPoint) {
	to := from
	for ; to < len(b.Txs) && len(ops) < prefetchInputs; to++ {
		for j := range b.Txs[to].Inputs {
			op := b.Txs[to].Inputs[j].PrevOut
			if p, ok := position[op.TxID]; !ok || p >= to {
				ops = append(ops, op)
			}
		}
	}
	batch := fetchedBatch{upTo: to, found: make(map[chain.OutPoint]*chain.UtxoEntry, len(ops))}
	batch.err = c.utxos.fetchMany(ops, batch.found)
	return batch, ops
}

// testHookCommit, nil but in tests, commits the transaction that stores a
// block ("block") or connects it ("connect") in place of Badger, to make it
// fail.
var testHookCommit func(what string, txn *badger.Txn) error

// connectBlock checks the block against the UTXO set at its parent, which must
// be the tip; txids are its transactions' ids, and stored, if not nil, waits
// for the block's own store to end (the commit waits for it, and so does a
// failure: a header record written after it must not be overwritten by it).
// Once every rule holds it writes
// the block's undo data, the height index and the new tip in one Badger
// transaction, and applies the block to the UTXO cache; the indexes follow in
// the background. A rule failure is returned as a *RuleError and changes
// nothing; so does a failed commit, whose cache changes are rolled back.
//
// Signatures are checked on all cores while this goroutine goes on with the
// sequential work: each transaction is handed to the verifiers as soon as its
// inputs are found, and the undo data is encoded and the cache's changes
// collected while the last signatures are checked. No Badger write
// transaction is open meanwhile; the commit and the cache's update run
// together once every signature verified.
func (c *Chain) connectBlock(n *blockNode, b *chain.Block, txids []chain.Hash, stored func() error) (err error) {
	if stored != nil {
		defer func() {
			if serr := stored(); serr != nil && err == nil {
				err = fmt.Errorf("store: %w", serr)
			}
		}()
	}
	// sigs stays nil when assumevalid vouches for the block's signatures.
	var sigs *blockVerifier
	if !c.skipSignatures(n) {
		sigs = c.startVerifier(b, txids)
		defer sigs.stop()
	}
	changes, undo, err := c.checkInputs(n, b, txids, sigs)
	if err != nil {
		return err
	}
	if sigs != nil {
		if err := sigs.wait(); err != nil {
			return err
		}
	}
	txn := c.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set(key(prefixUndo, n.hash[:]), undo); err != nil {
		return err
	}
	if err := writeTip(txn, n, statusValid); err != nil {
		return err
	}
	if stored != nil {
		if err := stored(); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	// The cache takes the block's changes while Badger commits; they are
	// taken back if the commit fails, so the cache never runs ahead of the
	// stored tip. Readers wait for the outcome: the mempool must not accept
	// a transaction spending an output that is then taken back.
	if err := c.utxos.applyCommitted(changes, func(committed chan<- error) {
		if testHookCommit != nil {
			go func() { committed <- testHookCommit("connect", txn) }()
		} else {
			txn.CommitWith(func(err error) { committed <- err })
		}
	}); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	c.prune.stored.Add(int64(len(undo)))
	c.utxos.best = n.hash
	return nil
}

// checkInputs applies the rules that need the UTXO set to the block's
// transactions in order, handing each to sigs (if not nil) once its spent
// outputs are known. It returns the block's changes to the UTXO set and its
// encoded undo data (the spent outputs, in input order).
func (c *Chain) checkInputs(n *blockNode, b *chain.Block, txids []chain.Hash, sigs *blockVerifier) (*blockChanges, []byte, error) {
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
	first, _ := c.fetchBatch(b, position, 1, nil)
	if first.err != nil {
		return nil, nil, first.err
	}
	var batches <-chan fetchedBatch
	if first.upTo < len(b.Txs) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(done)
		batches = c.prefetch(b, position, first.upTo, done, &wg)
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

// blockVerifier checks the signatures of a block's transactions on all cores,
// taking them as the caller finds their spent outputs.
type blockVerifier struct {
	block *chain.Block
	txids []chain.Hash
	cache *chain.SigCache
	jobs  chan sigJob
	wg    sync.WaitGroup
	// failed is set at the first failure, and by stop: what is queued then
	// is not checked.
	failed atomic.Bool
	mu     sync.Mutex
	errIdx int // index of the first failing transaction, or -1
	err    error
	closed bool
}

type sigJob struct {
	index int
	prev  []chain.UtxoEntry
}

func (c *Chain) startVerifier(b *chain.Block, txids []chain.Hash) *blockVerifier {
	v := &blockVerifier{block: b, txids: txids, cache: c.sigCache, jobs: make(chan sigJob, len(b.Txs)), errIdx: -1}
	for range min(runtime.GOMAXPROCS(0), max(len(b.Txs)-1, 1)) {
		v.wg.Go(func() {
			for job := range v.jobs {
				if v.failed.Load() {
					continue
				}
				if err := chain.VerifyTxSignatures(v.block.Txs[job.index], job.prev, v.cache); err != nil {
					v.fail(job.index, err)
				}
			}
		})
	}
	return v
}

func (v *blockVerifier) check(i int, prev []chain.UtxoEntry) { v.jobs <- sigJob{i, prev} }

func (v *blockVerifier) fail(i int, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.failed.Store(true)
	if v.errIdx < 0 || i < v.errIdx {
		v.errIdx, v.err = i, err
	}
}

// wait returns once every queued transaction is checked, with the failure of
// the first transaction (in block order) that failed.
func (v *blockVerifier) wait() error {
	v.close()
	if v.err != nil {
		return fmt.Errorf("transaction %s: %w", v.txids[v.errIdx], v.err)
	}
	return nil
}

// stop ends the workers, skipping what is still queued: the block failed
// another rule. It may be called after wait, and more than once.
func (v *blockVerifier) stop() {
	v.failed.Store(true)
	v.close()
}

func (v *blockVerifier) close() {
	if !v.closed {
		v.closed = true
		close(v.jobs)
	}
	v.wg.Wait()
}

// writeTip records n as the tip and as main chain at its height, with status
// bits added to its header record.
func writeTip(txn *badger.Txn, n *blockNode, add blockStatus) error {
	rec := *n
	rec.status |= add
	if err := txn.Set(key(prefixHeader, n.hash[:]), encodeHeaderRecord(&rec)); err != nil {
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
