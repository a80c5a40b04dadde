package blockchain

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// blockView is the UTXO set as a block being connected sees it: the chain
// state, minus what earlier transactions of the block spent, plus what they
// created.
type blockView struct {
	utxos   *utxoCache
	created map[chain.OutPoint]*chain.UtxoEntry
	spent   map[chain.OutPoint]struct{}
	err     error // first storage error; rule checks cannot see it, so it is checked after
}

func (v *blockView) LookupUtxo(op chain.OutPoint) *chain.UtxoEntry {
	if _, gone := v.spent[op]; gone {
		return nil
	}
	if e, ok := v.created[op]; ok {
		return e
	}
	e, err := v.utxos.fetch(op)
	if err != nil {
		v.err = errors.Join(v.err, err)
		return nil
	}
	return e
}

// connectBlock checks the block against the UTXO set at its parent, which must
// be the tip. Once every rule holds it writes the block's undo data, the
// height index and the new tip in one Badger transaction, and then applies the
// block to the UTXO cache; the indexes follow in the background. A rule
// failure is returned as a *RuleError and changes nothing.
//
// Signatures are checked on all cores while this goroutine goes on with the
// sequential work: each transaction is handed to the verifiers as soon as its
// inputs are found, and the writes are staged while the last signatures are
// checked; the transaction commits only once every signature has verified.
func (c *Chain) connectBlock(n *blockNode, b *chain.Block) error {
	txids := b.TxIDs()
	spent := make([][]chain.UtxoEntry, len(b.Txs))
	var undoBytes int
	// sigs stays nil when assumevalid vouches for the block's signatures.
	var sigs *blockVerifier
	if !c.skipSignatures(n) {
		sigs = c.startVerifier(b)
		defer sigs.stop()
	}
	err := c.db.Update(func(txn *badger.Txn) error {
		view := &blockView{utxos: c.utxos, created: make(map[chain.OutPoint]*chain.UtxoEntry), spent: make(map[chain.OutPoint]struct{})}
		var fees uint64
		for i, tx := range b.Txs {
			if i > 0 {
				fee, prev, err := chain.CheckTxInputs(tx, view, n.height, c.params)
				if view.err != nil {
					return view.err
				}
				if err != nil {
					return fmt.Errorf("transaction %s: %w", txids[i], err)
				}
				if fees += fee; fees > chain.MaxMoney {
					return chain.NewRuleError(chain.ErrBadFees, "block fees exceed the money supply")
				}
				spent[i] = prev
				if sigs != nil {
					sigs.check(i, prev)
				}
				for _, in := range tx.Inputs {
					view.spent[in.PrevOut] = struct{}{}
					delete(view.created, in.PrevOut)
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
			return chain.NewRuleError(chain.ErrBadCoinbaseValue, fmt.Sprintf("coinbase claims %d, more than subsidy and fees of %d", claimed, limit))
		}
		var err error
		if undoBytes, err = c.writeConnect(txn, n, spent); err != nil {
			return err
		}
		if sigs == nil {
			return nil
		}
		return sigs.wait()
	})
	if err != nil {
		return err
	}
	c.prune.stored.Add(int64(undoBytes))
	c.utxos.connect(b, txids, n.height, false)
	c.utxos.best = n.hash
	return nil
}

// blockVerifier checks the signatures of a block's transactions on all cores,
// taking them as the caller finds their spent outputs.
type blockVerifier struct {
	block  *chain.Block
	cache  *chain.SigCache
	jobs   chan sigJob
	wg     sync.WaitGroup
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

func (c *Chain) startVerifier(b *chain.Block) *blockVerifier {
	v := &blockVerifier{block: b, cache: c.sigCache, jobs: make(chan sigJob, len(b.Txs)), errIdx: -1}
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
	v.stop()
	if v.err != nil {
		return fmt.Errorf("transaction %s: %w", v.block.Txs[v.errIdx].TxID(), v.err)
	}
	return nil
}

// stop ends the workers; it may be called more than once.
func (v *blockVerifier) stop() {
	if !v.closed {
		v.closed = true
		close(v.jobs)
	}
	v.wg.Wait()
}

// writeConnect stores what must exist before the chain state that depends on
// it: the block's undo data (its spent outputs, in input order), whose size
// it returns, and the new tip.
func (c *Chain) writeConnect(txn *badger.Txn, n *blockNode, spent [][]chain.UtxoEntry) (int, error) {
	var undo []chain.UtxoEntry
	for _, s := range spent {
		undo = append(undo, s...)
	}
	enc := encodeUndo(undo)
	if err := txn.Set(key(prefixUndo, n.hash[:]), enc); err != nil {
		return 0, err
	}
	return len(enc), writeTip(txn, n, statusValid)
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

// disconnectBlock undoes the tip block n: the tip moves to its parent, and
// then the UTXO cache loses the block's outputs and gets back those it spent.
// The undo data stays: the stored UTXO set may still be at n until the next
// flush, and a replay after a crash, or an index following the chain, needs it
// to get back.
func (c *Chain) disconnectBlock(n *blockNode, b *chain.Block) error {
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
	c.utxos.disconnect(b, b.TxIDs(), undo)
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
