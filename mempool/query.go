package mempool

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// Entry describes a pool transaction as getmempoolentry shows it. The family
// figures include the transaction itself. Tx is shared with the pool and must
// not be modified.
type Entry struct {
	Tx          *chain.Tx
	TxID        chain.Hash
	WitnessHash chain.Hash
	Size        int
	Fee         uint64
	Time        time.Time
	// Height is the tip's height when the transaction entered.
	Height          int32
	AncestorCount   int
	AncestorSize    int64
	AncestorFees    uint64
	DescendantCount int
	DescendantSize  int64
	DescendantFees  uint64
	// Depends are the pool transactions it spends from; SpentBy those
	// spending from it.
	Depends []chain.Hash
	SpentBy []chain.Hash
}

func (e *entry) info() Entry {
	out := Entry{
		Tx: e.tx, TxID: e.txid, WitnessHash: e.wtxid, Size: int(e.size), Fee: e.fee, Time: e.time, Height: e.height,
		AncestorCount: e.anc.count, AncestorSize: e.anc.size, AncestorFees: e.anc.fees,
		DescendantCount: e.desc.count, DescendantSize: e.desc.size, DescendantFees: e.desc.fees,
	}
	for _, par := range e.parents {
		out.Depends = append(out.Depends, par.txid)
	}
	for _, c := range e.children {
		out.SpentBy = append(out.SpentBy, c.txid)
	}
	sortHashes(out.Depends)
	sortHashes(out.SpentBy)
	return out
}

func sortHashes(h []chain.Hash) {
	slices.SortFunc(h, func(a, b chain.Hash) int { return bytes.Compare(a[:], b[:]) })
}

// Entry returns the pool transaction txid.
func (p *Pool) Entry(txid chain.Hash) (Entry, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e := p.entries[txid]
	if e == nil {
		return Entry{}, false
	}
	return e.info(), true
}

// Entries returns every pool transaction, parents before children.
func (p *Pool) Entries() []Entry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	list := p.sortedLocked()
	out := make([]Entry, len(list))
	for i, e := range list {
		out[i] = e.info()
	}
	return out
}

// sortedLocked lists the entries parents first: a child has every ancestor
// of its parent and the parent too, so ordering by ancestor count suffices;
// then by arrival.
func (p *Pool) sortedLocked() []*entry {
	list := make([]*entry, 0, len(p.entries))
	for _, e := range p.entries {
		list = append(list, e)
	}
	slices.SortFunc(list, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.anc.count, b.anc.count), cmp.Compare(a.seq, b.seq))
	})
	return list
}

// TxIDs returns the txid of every pool transaction, parents before children.
func (p *Pool) TxIDs() []chain.Hash {
	p.mu.RLock()
	defer p.mu.RUnlock()
	list := p.sortedLocked()
	out := make([]chain.Hash, len(list))
	for i, e := range list {
		out[i] = e.txid
	}
	return out
}

// Get returns the pool transaction txid, shared with the pool: it must not be
// modified.
func (p *Pool) Get(txid chain.Hash) (*chain.Tx, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if e := p.entries[txid]; e != nil {
		return e.tx, true
	}
	return nil, false
}

// Has reports whether txid is in the pool.
func (p *Pool) Has(txid chain.Hash) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.entries[txid] != nil
}

// HaveOrphan reports whether txid waits in the orphan pool, so p2p need not
// fetch it again.
func (p *Pool) HaveOrphan(txid chain.Hash) bool { return p.orphans.has(txid) }

// HaveSpent returns the pool transaction spending op, if any: the wallet
// leaves such outputs out of what it can spend.
func (p *Pool) HaveSpent(op chain.OutPoint) (chain.Hash, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if e := p.spends[op]; e != nil {
		return e.txid, true
	}
	return chain.Hash{}, false
}

// ForgetPeer drops the orphans a peer sent, when it disconnects; it returns
// how many.
func (p *Pool) ForgetPeer(peer PeerID) int { return p.orphans.forgetPeer(peer) }

// Info sums up the pool, as getmempoolinfo shows it.
type Info struct {
	// Count is the number of transactions, Bytes their encoded size, Usage
	// the memory they take (what MaxUsage bounds).
	Count     int
	Bytes     int64
	Usage     int64
	MaxUsage  int64
	TotalFees uint64
	// MinFeeRate is what a transaction must pay to enter now (Core's
	// mempoolminfee): the minimum relay rate, or more while the pool is full.
	MinFeeRate      FeeRate
	MinRelayFeeRate FeeRate
	Orphans         int
	OrphanBytes     int
}

// Info returns the pool's totals and current fee floor.
func (p *Pool) Info() Info {
	p.mu.RLock()
	info := Info{
		Count:           len(p.entries),
		Bytes:           p.size,
		Usage:           p.usage,
		MaxUsage:        p.maxUsage,
		TotalFees:       p.fees,
		MinFeeRate:      max(p.minFeeRate(), p.minRelay),
		MinRelayFeeRate: p.minRelay,
	}
	p.mu.RUnlock()
	info.Orphans, info.OrphanBytes = p.orphans.stats()
	return info
}
