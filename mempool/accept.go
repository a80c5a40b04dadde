package mempool

import (
	"fmt"
	"slices"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// AcceptResult says what became of a transaction handed to Accept.
type AcceptResult struct {
	TxID chain.Hash
	Size int
	Fee  uint64
	// Replaced lists the pool transactions it evicted: those spending the same
	// outputs and their descendants.
	Replaced []chain.Hash
	// Orphan reports that its inputs are unknown and it waits in the orphan
	// pool for MissingParents.
	Orphan         bool
	MissingParents []chain.Hash
	// Resolved lists orphans that entered the pool after it, their missing
	// parent, did; the pool announces them to subscribers like any other.
	Resolved []chain.Hash
	// RejectedOrphans lists orphans found invalid once their parents arrived,
	// with the peer each came from, so p2p can penalise consensus failures.
	RejectedOrphans []OrphanRejection
}

// OrphanRejection is an orphan that failed once its parents were known.
type OrphanRejection struct {
	TxID chain.Hash
	Peer PeerID
	Err  error
}

// acceptMode says where a transaction comes from and what may be skipped.
type acceptMode struct {
	// test checks everything and changes nothing but the signature cache
	// (testmempoolaccept).
	test bool
	// reorg: the transaction is back from a disconnected block. Fee and
	// family limits do not apply, as in Core: it was valid in a block and the
	// user paid what the miner asked.
	reorg bool
	// entryTime is the time to record; zero means now.
	entryTime time.Time
	// maxFeeRate, if not zero, refuses a higher fee rate: the submitter's
	// guard against a fee typed wrong (sendrawtransaction's maxfeerate).
	maxFeeRate FeeRate
}

// candidate is a transaction being checked and what the checks found.
type candidate struct {
	tx    *chain.Tx
	txid  chain.Hash
	wtxid chain.Hash
	size  int64

	chainPrev []*chain.UtxoEntry // per input, from the chain's UTXO set; nil if not there
	prev      []chain.UtxoEntry  // per input, from the chain or the pool
	parents   []*entry
	ancestors *entrySet
	conflicts []*entry // pool transactions spending one of its inputs
	evicted   []*entry // conflicts and their descendants
	missing   []chain.Hash
	fee       uint64
	coinbase  bool   // spends a coinbase output
	gen       uint64 // the pool's gen when it was last checked
}

// Accept checks tx against the chain's tip and the pool and adds it if it
// passes, evicting what it replaces. From a peer, a transaction with unknown
// inputs waits as an orphan (the result says so; the error is nil); from
// LocalPeer it is rejected. Orphans waiting for tx are accepted after it.
// The pool keeps tx: the caller must not modify it afterwards.
// Every refusal is a *RejectError, except ErrClosed after Close.
func (p *Pool) Accept(tx *chain.Tx, peer PeerID) (*AcceptResult, error) {
	return p.acceptAndResolve(tx, peer, acceptMode{})
}

// AcceptLocal is Accept for a transaction submitted on this node, as by
// sendrawtransaction: it refuses a fee rate above maxFeeRate (zero: no limit)
// with ReasonMaxFeeExceeded once every other check has passed, as Bitcoin
// Core's maxfeerate does.
func (p *Pool) AcceptLocal(tx *chain.Tx, maxFeeRate FeeRate) (*AcceptResult, error) {
	return p.acceptAndResolve(tx, LocalPeer, acceptMode{maxFeeRate: maxFeeRate})
}

func (p *Pool) acceptAndResolve(tx *chain.Tx, peer PeerID, mode acceptMode) (*AcceptResult, error) {
	res, err := p.accept(tx, peer, mode)
	if err == nil && !res.Orphan {
		p.resolveOrphans(res, res.TxID)
	}
	p.notifier.deliver()
	return res, err
}

// TestAccept runs every check AcceptLocal runs, signatures and maxFeeRate
// included, and changes nothing but the signature cache, which keeps the
// signatures that verified: testmempoolaccept.
func (p *Pool) TestAccept(tx *chain.Tx, maxFeeRate FeeRate) (*AcceptResult, error) {
	return p.accept(tx, LocalPeer, acceptMode{test: true, maxFeeRate: maxFeeRate})
}

// accept validates in three steps so that two submitters on two cores verify
// signatures at the same time: inputs and policy are checked under the read
// lock, signatures without any lock, and the other checks run again under the
// write lock, where the transaction goes in. The chain is read again only if
// a block came in between.
func (p *Pool) accept(tx *chain.Tx, peer PeerID, mode acceptMode) (*AcceptResult, error) {
	c, err := newCandidate(tx)
	if err != nil {
		return nil, err
	}
	p.settle()

	p.mu.RLock()
	gen := p.gen
	p.mu.RUnlock()
	// The chain is read without the pool lock; gen tells below whether a
	// block came in between. A block whose event is still on its way is
	// harmless: its event removes what it mined or made invalid.
	p.lookupChain(c)
	p.mu.RLock()
	if p.gen != gen {
		gen = p.gen
		p.lookupChain(c)
	}
	c.gen = gen
	err = p.check(c, mode)
	p.mu.RUnlock()
	if err != nil {
		return p.refused(c, peer, mode, err)
	}

	// A test fills the signature cache too, as Bitcoin Core's does: the cache
	// holds only signatures that verified, and a client that tests before it
	// sends (testmempoolaccept, then sendrawtransaction) has each checked once.
	if err := chain.VerifyTxSignatures(tx, c.prev, p.sigCache); err != nil {
		return nil, ruleReject(err)
	}
	// Last, as Bitcoin Core reports it: a transaction refused for another
	// reason says that reason, not that its fee is high.
	// No details, as Core gives none: the limit is the caller's own.
	if mode.maxFeeRate > 0 && c.fee > mode.maxFeeRate.Fee(c.size) {
		return nil, &RejectError{Reason: ReasonMaxFeeExceeded}
	}
	if mode.test {
		return &AcceptResult{TxID: c.txid, Size: int(c.size), Fee: c.fee}, nil
	}

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if p.gen != gen {
		p.lookupChain(c)
	}
	c.gen = p.gen
	// The signatures stay verified whatever changed meanwhile: an outpoint
	// names a txid, which commits to the value and key hash of the output,
	// all a signature covers.
	if err := p.check(c, mode); err != nil {
		p.mu.Unlock()
		return p.refused(c, peer, mode, err)
	}
	res, err := p.commit(c, mode)
	p.mu.Unlock()
	return res, err
}

func newCandidate(tx *chain.Tx) (*candidate, error) {
	if tx == nil {
		return nil, reject("bad-txns", "no transaction")
	}
	if err := chain.CheckTxSanity(tx); err != nil {
		return nil, ruleReject(err)
	}
	if tx.IsCoinbase() {
		// A peer relaying one loose breaks a consensus rule: a coinbase is
		// valid only as the first transaction of a block.
		return nil, &RejectError{Reason: ReasonCoinbase, Err: &chain.RuleError{
			Kind: chain.ErrMultipleCoinbases, Description: "a coinbase transaction is only valid as the first of a block"}}
	}
	size := int64(tx.SerializeSize())
	if size > MaxStandardTxSize {
		return nil, reject(ReasonTxSize, "transaction of %d bytes is over the %d-byte standard limit", size, MaxStandardTxSize)
	}
	return &candidate{
		tx:        tx,
		txid:      tx.TxID(),
		wtxid:     tx.WitnessHash(),
		size:      size,
		chainPrev: make([]*chain.UtxoEntry, len(tx.Inputs)),
		prev:      make([]chain.UtxoEntry, len(tx.Inputs)),
	}, nil
}

// lookupChain reads the outputs c spends from the chain's UTXO set.
func (p *Pool) lookupChain(c *candidate) {
	for i := range c.tx.Inputs {
		c.chainPrev[i] = p.chain.LookupUtxo(c.tx.Inputs[i].PrevOut)
	}
}

// refused finishes a failed acceptance: a transaction with missing inputs is
// already confirmed, or an orphan to keep when a peer sent it.
func (p *Pool) refused(c *candidate, peer PeerID, mode acceptMode, err error) (*AcceptResult, error) {
	if !IsMissingInputs(err) {
		return nil, err
	}
	// Its inputs look spent: perhaps by itself, in a block. The transaction
	// index answers that in one lookup, where probing each of its outputs in
	// the UTXO set would let a peer's orphans cost thousands (and loading its
	// block, a megabyte decoded for each relay of an old transaction).
	if p.isConfirmed(c.txid) {
		return nil, &RejectError{Reason: ReasonAlreadyInChain, Err: fmt.Errorf("transaction %s is confirmed", c.txid)}
	}
	if peer == LocalPeer || mode.test || len(c.missing) == 0 {
		return nil, err
	}
	res := &AcceptResult{TxID: c.txid, Size: int(c.size), Orphan: true, MissingParents: c.missing}
	if p.orphans.has(c.txid) {
		return res, nil
	}
	if !p.orphans.add(&orphan{tx: c.tx, txid: c.txid, size: int(c.size), peer: peer, missing: c.missing}, p.now()) {
		return nil, err
	}
	// A parent may have come, into the pool or a block, after the check and
	// before the orphan was filed, and looked for orphans waiting for it in
	// between: then nothing would wake this one up. Try again instead.
	p.mu.RLock()
	moved := p.gen != c.gen
	for _, id := range c.missing {
		moved = moved || p.entries[id] != nil
	}
	p.mu.RUnlock()
	if moved && p.orphans.remove(c.txid) {
		return p.accept(c.tx, peer, mode)
	}
	p.log.Debug("orphan transaction", "txid", c.txid, "peer", peer, "missing", len(c.missing))
	return res, nil
}

// check applies every rule but the signatures to c against the tip and the
// pool, in Core's order, and records what it finds in c. The caller holds
// p.mu, for reading at least.
func (p *Pool) check(c *candidate, mode acceptMode) error {
	if e := p.entries[c.txid]; e != nil {
		if e.wtxid == c.wtxid {
			return &RejectError{Reason: ReasonAlreadyInMempool, Err: fmt.Errorf("transaction %s is in the mempool", c.txid)}
		}
		return reject(ReasonSameNonWitness, "transaction %s is in the mempool with other witnesses", c.txid)
	}
	height := p.tip.Height + 1
	if !chain.IsFinalTx(c.tx, height, p.tip.MedianTime) {
		return &RejectError{Reason: ReasonNonFinal, Err: &chain.RuleError{Kind: chain.ErrUnfinalizedTx, Description: fmt.Sprintf(
			"lock time %d is not final in the next block (height %d, median time %d)", c.tx.LockTime, height, p.tip.MedianTime)}}
	}

	c.conflicts = c.conflicts[:0]
	for i := range c.tx.Inputs {
		if s := p.spends[c.tx.Inputs[i].PrevOut]; s != nil && !slices.Contains(c.conflicts, s) {
			c.conflicts = append(c.conflicts, s)
		}
	}
	if len(c.conflicts) > 0 && p.rejectReplacements {
		return reject(ReasonMempoolConflict, "transaction spends an output %s already spends", c.conflicts[0].txid)
	}

	c.parents, c.missing, c.coinbase = c.parents[:0], c.missing[:0], false
	for i := range c.tx.Inputs {
		op := c.tx.Inputs[i].PrevOut
		if cp := c.chainPrev[i]; cp != nil {
			c.prev[i] = *cp
			c.coinbase = c.coinbase || cp.Coinbase
			continue
		}
		if par := p.entries[op.TxID]; par != nil {
			if int(op.Index) >= len(par.tx.Outputs) {
				// Not an orphan: the parent is known and has no such output.
				return ruleReject(&chain.RuleError{Kind: chain.ErrMissingTxOut, Description: fmt.Sprintf(
					"input %d spends output %d of %s, which has %d", i, op.Index, op.TxID, len(par.tx.Outputs))})
			}
			out := &par.tx.Outputs[op.Index]
			c.prev[i] = chain.UtxoEntry{Value: out.Value, PubKeyHash: out.PubKeyHash, Height: height}
			if !slices.Contains(c.parents, par) {
				c.parents = append(c.parents, par)
			}
			continue
		}
		if !slices.Contains(c.missing, op.TxID) {
			c.missing = append(c.missing, op.TxID)
		}
	}
	if len(c.missing) > 0 {
		return ruleReject(&chain.RuleError{Kind: chain.ErrMissingTxOut, Description: fmt.Sprintf(
			"%d of the transactions it spends from are neither confirmed nor in the mempool, or their outputs are spent", len(c.missing))})
	}
	fee, _, err := chain.CheckTxInputs(c.tx, &inputView{tx: c.tx, prev: c.prev}, height, p.params)
	if err != nil {
		return ruleReject(err)
	}
	c.fee = fee

	if !mode.reorg {
		if minFee := p.minFeeRate().Fee(c.size); minFee > 0 && fee < minFee {
			return reject(ReasonMempoolMinFee, "%d < %d", fee, minFee)
		}
		if minFee := p.minRelay.Fee(c.size); fee < minFee {
			return reject(ReasonMinRelayFee, "%d < %d", fee, minFee)
		}
	}

	c.ancestors = ancestorsOf(c.parents)
	if !mode.reorg {
		ancSize := c.size
		for _, a := range c.ancestors.list {
			ancSize += a.size
		}
		if n := len(c.ancestors.list) + 1; n > AncestorLimit {
			return reject(ReasonTooLongChain, "too many unconfirmed ancestors [limit: %d]", AncestorLimit)
		}
		if ancSize > AncestorSizeLimit {
			return reject(ReasonTooLongChain, "exceeds ancestor size limit [limit: %d]", AncestorSizeLimit)
		}
	}
	for _, x := range c.conflicts {
		if c.ancestors.has(x) {
			return reject(ReasonSpendsConflicting, "%s spends conflicting transaction %s", c.txid, x.txid)
		}
	}
	c.evicted = c.evicted[:0]
	if len(c.conflicts) > 0 {
		if err := p.checkReplacement(c); err != nil {
			return err
		}
	}
	if !mode.reorg {
		return p.checkDescendantLimits(c)
	}
	return nil
}

// checkReplacement applies Core's replace-by-fee rules (BIP125 without the
// signalling: every transaction is replaceable). It fills c.evicted.
func (p *Pool) checkReplacement(c *candidate) error {
	for _, x := range c.conflicts {
		if cmpRate(c.fee, c.size, x.fee, x.size) <= 0 {
			return reject(ReasonInsufficientFee, "rejecting replacement %s; new feerate %s <= old feerate %s",
				c.txid, NewFeeRate(c.fee, c.size), NewFeeRate(x.fee, x.size))
		}
	}
	n := 0
	for _, x := range c.conflicts {
		n += x.desc.count
	}
	if n > MaxReplacements {
		return reject(ReasonTooManyReplacements, "rejecting replacement %s; too many potential replacements (%d > %d)", c.txid, n, MaxReplacements)
	}
	// Rule 2: a replacement may only spend unconfirmed outputs the replaced
	// transactions spent, so it cannot be made cheap to mine only by making
	// it depend on a new, cheap parent.
	conflictParents := make(map[chain.Hash]struct{})
	for _, x := range c.conflicts {
		for i := range x.tx.Inputs {
			conflictParents[x.tx.Inputs[i].PrevOut.TxID] = struct{}{}
		}
	}
	for i := range c.tx.Inputs {
		id := c.tx.Inputs[i].PrevOut.TxID
		if _, ok := conflictParents[id]; !ok && p.entries[id] != nil {
			return reject(ReasonAddsUnconfirmed, "replacement %s adds unconfirmed input, idx %d", c.txid, i)
		}
	}
	c.evicted = descendantsOf(c.conflicts...).list
	var evictedFees uint64
	for _, e := range c.evicted {
		evictedFees += e.fee
	}
	if c.fee < evictedFees {
		return reject(ReasonInsufficientFee, "rejecting replacement %s, less fees than conflicting txs; %d < %d", c.txid, c.fee, evictedFees)
	}
	if extra, relay := c.fee-evictedFees, p.minRelay.Fee(c.size); extra < relay {
		return reject(ReasonInsufficientFee, "rejecting replacement %s, not enough additional fees to relay; %d < %d", c.txid, extra, relay)
	}
	return nil
}

// checkDescendantLimits checks that no ancestor of c ends up with too many
// descendants. What c evicts no longer counts.
func (p *Pool) checkDescendantLimits(c *candidate) error {
	var gone map[*entry]famStats
	if len(c.evicted) > 0 {
		gone = make(map[*entry]famStats)
		for _, e := range c.evicted {
			for _, a := range ancestorsOf(e.parents).list {
				s := gone[a]
				s.add(e.self())
				gone[a] = s
			}
		}
	}
	for _, a := range c.ancestors.list {
		d := a.desc
		if s, ok := gone[a]; ok {
			d.sub(s)
		}
		if d.count+1 > DescendantLimit {
			return reject(ReasonTooLongChain, "too many descendants for tx %s [limit: %d]", a.txid, DescendantLimit)
		}
		if d.size+c.size > DescendantSizeLimit {
			return reject(ReasonTooLongChain, "exceeds descendant size limit for tx %s [limit: %d]", a.txid, DescendantSizeLimit)
		}
	}
	return nil
}

// commit adds a checked candidate, evicting what it replaces, and keeps the
// pool within its bounds. The caller holds the write lock.
func (p *Pool) commit(c *candidate, mode acceptMode) (*AcceptResult, error) {
	res := &AcceptResult{TxID: c.txid, Size: int(c.size), Fee: c.fee}
	if len(c.evicted) > 0 {
		for _, e := range c.evicted {
			res.Replaced = append(res.Replaced, e.txid)
		}
		p.log.Debug("transactions replaced", "by", c.txid, "count", len(c.evicted))
		p.removeSet(c.evicted, ReasonReplaced)
	}
	now := p.now()
	e := &entry{
		tx:             c.tx,
		txid:           c.txid,
		wtxid:          c.wtxid,
		size:           c.size,
		fee:            c.fee,
		usage:          memUsage(c.tx, c.size),
		time:           now,
		height:         p.tip.Height,
		spendsCoinbase: c.coinbase,
	}
	if !mode.entryTime.IsZero() {
		e.time = mode.entryTime
	}
	p.insert(e, slices.Clone(c.parents), c.ancestors.list)
	added := Event{Kind: TxAdded, TxID: e.txid, Tx: e.tx, Fee: e.fee, Size: int(e.size)}
	if mode.reorg {
		added.Reason = ReasonReorg
	}
	p.notifier.enqueue(added)
	if mode.reorg {
		return res, nil
	}
	p.expire()
	p.trim()
	if p.entries[c.txid] != e {
		return nil, reject(ReasonMempoolFull, "the pool is full and the transaction pays less than what it holds")
	}
	return res, nil
}

// resolveOrphans accepts the orphans waiting for parents, and those waiting
// for them in turn, and records the outcome in res.
func (p *Pool) resolveOrphans(res *AcceptResult, parents ...chain.Hash) {
	for queue := parents; len(queue) > 0; queue = queue[1:] {
		for _, o := range p.orphans.takeChildren(queue[0]) {
			r, err := p.accept(o.tx, o.peer, acceptMode{})
			switch {
			case err != nil:
				p.log.Debug("orphan transaction rejected", "txid", o.txid, "peer", o.peer, "err", err)
				res.RejectedOrphans = append(res.RejectedOrphans, OrphanRejection{TxID: o.txid, Peer: o.peer, Err: err})
			case !r.Orphan:
				res.Resolved = append(res.Resolved, o.txid)
				queue = append(queue, o.txid)
			}
			// Otherwise it still misses another parent and waits again.
		}
	}
}

// inputView serves CheckTxInputs the outputs a candidate spends, in input order.
type inputView struct {
	tx   *chain.Tx
	prev []chain.UtxoEntry
	next int
}

func (v *inputView) LookupUtxo(op chain.OutPoint) *chain.UtxoEntry {
	if v.next < len(v.tx.Inputs) && v.tx.Inputs[v.next].PrevOut == op {
		v.next++
		return &v.prev[v.next-1]
	}
	for i := range v.tx.Inputs {
		if v.tx.Inputs[i].PrevOut == op {
			return &v.prev[i]
		}
	}
	return nil
}

// isConfirmed reports whether txid is in a main-chain block with two key
// reads at most. The UTXO set answers first, as Core's txn-already-known
// check does, while the transaction's first output is unspent: that covers a
// transaction just confirmed, which the background transaction index may not
// have reached yet, and a node running without the index. The index answers
// for the rest.
func (p *Pool) isConfirmed(txid chain.Hash) bool {
	return p.chain.LookupUtxo(chain.OutPoint{TxID: txid, Index: 0}) != nil || p.txIndex.Has(txid)
}
