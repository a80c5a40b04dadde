package mempool

import (
	"container/heap"
	"slices"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// onChainEvent follows the main chain. A connected block takes out what it
// mined and what conflicts with it; a disconnected block's transactions come
// back once the reorganisation is over (see finishReorg).
func (p *Pool) onChainEvent(ev blockchain.Event) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.gen++
	// The chain delivers a block's event once the block committed, while
	// it may be committing the next ones, so the tip and the UTXO set read
	// now may be ahead of this event, never behind:
	// what is checked against them now, the events still to come clean up.
	p.tip = p.chain.Best()
	if ev.Kind == blockchain.BlockDisconnected {
		p.disconnected = append(p.disconnected, ev.Block)
		p.reorgPending.Store(true)
		p.mu.Unlock()
		return
	}
	p.finishReorg()
	txids := ev.TxIDs
	p.removeForBlock(ev.Block, txids)
	p.settleRollingFee()
	p.expire()
	p.mu.Unlock()

	p.orphans.removeForBlock(ev.Block, txids, p.now())
	// Orphans may have waited for a parent that got mined without passing
	// through the pool.
	var res AcceptResult
	p.resolveOrphans(&res, txids[1:]...)
	p.notifier.deliver()
}

// removeForBlock takes out the transactions b mined and, with their
// descendants, those spending an output b spent. The caller holds the write
// lock.
func (p *Pool) removeForBlock(b *chain.Block, txids []chain.Hash) {
	var mined []*entry
	for _, id := range txids[1:] {
		if e := p.entries[id]; e != nil {
			mined = append(mined, e)
		}
	}
	if len(mined) > 0 {
		// A mined transaction's pool parents are mined too, earlier in the
		// block, so the set is closed under ancestors.
		p.removeSet(mined, ReasonBlock)
	}
	var conflicts []*entry
	for _, tx := range b.Txs[1:] {
		for i := range tx.Inputs {
			if s := p.spends[tx.Inputs[i].PrevOut]; s != nil && !slices.Contains(conflicts, s) {
				conflicts = append(conflicts, s)
			}
		}
	}
	if len(conflicts) > 0 {
		set := descendantsOf(conflicts...).list
		p.log.Debug("transactions conflict with a block", "block", b.Hash(), "count", len(set))
		p.removeSet(set, ReasonConflict)
	}
}

// settle finishes a reorganisation whose blocks were disconnected but whose
// transactions have not come back yet. A reorganisation normally finishes at
// the first block connected after it; this covers a chain left shorter.
func (p *Pool) settle() {
	if !p.reorgPending.Load() {
		return
	}
	p.mu.Lock()
	p.finishReorg()
	p.mu.Unlock()
	p.notifier.deliver()
}

// finishReorg brings back the transactions of the disconnected blocks, oldest
// block first and in block order, so that parents come back before their
// children. Each is checked again against the new tip: those the new branch
// mined or double-spent stay out, and so do pool transactions that spent
// their outputs, or outputs of the disconnected coinbases. Fee and family
// limits do not apply to them; the size bound does, afterwards. The caller
// holds the write lock.
func (p *Pool) finishReorg() {
	if len(p.disconnected) == 0 {
		return
	}
	blocks := p.disconnected
	p.disconnected = nil
	p.reorgPending.Store(false)

	var back []*entry
	var vanished []chain.OutPoint
	for i := len(blocks) - 1; i >= 0; i-- {
		txids := blocks[i].TxIDs()
		for j, tx := range blocks[i].Txs {
			if j > 0 {
				e, err := p.readd(tx)
				if err == nil {
					back = append(back, e)
					continue
				}
				p.log.Debug("transaction of a disconnected block stays out", "txid", txids[j], "err", err)
			}
			for k := range tx.Outputs {
				vanished = append(vanished, chain.OutPoint{TxID: txids[j], Index: uint32(k)})
			}
		}
	}
	p.relink(back)

	var invalid []*entry
	for _, op := range vanished {
		if s := p.spends[op]; s != nil && p.entries[op.TxID] == nil && p.chain.LookupUtxo(op) == nil {
			invalid = append(invalid, s)
		}
	}
	for _, e := range p.entries {
		if (e.spendsCoinbase || e.tx.LockTime != 0) && !p.validAtTip(e) {
			invalid = append(invalid, e)
		}
	}
	dropped := 0
	if len(invalid) > 0 {
		set := descendantsOf(invalid...).list
		dropped = len(set)
		p.removeSet(set, ReasonReorg)
	}
	p.trim()
	p.log.Info("reorganisation: transactions back in the mempool", "blocks", len(blocks), "returned", len(back), "dropped", dropped)
}

// readd checks a transaction of a disconnected block against the new tip and
// adds it. The caller holds the write lock.
func (p *Pool) readd(tx *chain.Tx) (*entry, error) {
	c, err := newCandidate(tx)
	if err != nil {
		return nil, err
	}
	p.lookupChain(c)
	mode := acceptMode{reorg: true}
	if err := p.check(c, mode); err != nil {
		return nil, err
	}
	if err := chain.VerifyTxSignatures(tx, c.prev, p.sigCache); err != nil {
		return nil, ruleReject(err)
	}
	if _, err := p.commit(c, mode); err != nil {
		return nil, err
	}
	return p.entries[c.txid], nil
}

// relink makes pool transactions that spent outputs of the returned ones
// (confirmed outputs when they were admitted) their children, and recounts
// the family stats the new links change.
func (p *Pool) relink(back []*entry) {
	var parents, children []*entry
	for _, e := range back {
		for k := range e.tx.Outputs {
			c := p.spends[chain.OutPoint{TxID: e.txid, Index: uint32(k)}]
			if c == nil || slices.Contains(e.children, c) {
				continue
			}
			e.children = append(e.children, c)
			c.parents = append(c.parents, e)
			parents = append(parents, e)
			children = append(children, c)
		}
	}
	if len(children) == 0 {
		return
	}
	for _, d := range descendantsOf(children...).list {
		d.anc = d.self()
		for _, a := range ancestorsOf(d.parents).list {
			d.anc.add(a.self())
		}
	}
	for _, a := range ancestorsOf(parents).list {
		var s famStats
		for _, d := range descendantsOf(a).list {
			s.add(d.self())
		}
		a.desc = s
		heap.Fix(&p.byScore, a.heapIdx)
	}
}

// validAtTip reports whether e's confirmed inputs still exist and are mature,
// and e is final, in the block after the tip.
func (p *Pool) validAtTip(e *entry) bool {
	height := p.tip.Height + 1
	if !chain.IsFinalTx(e.tx, height, p.tip.MedianTime) {
		return false
	}
	for i := range e.tx.Inputs {
		op := e.tx.Inputs[i].PrevOut
		if p.entries[op.TxID] != nil {
			continue
		}
		u := p.chain.LookupUtxo(op)
		if u == nil || (u.Coinbase && height-u.Height < p.params.CoinbaseMaturity) {
			return false
		}
	}
	return true
}
