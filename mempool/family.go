package mempool

import "github.com/quarrychain/quarry/chain"

// Ancestors returns the pool transactions txid spends from, directly or not,
// as one consistent snapshot; ok is false when txid is not in the pool.
func (p *Pool) Ancestors(txid chain.Hash) (family []Entry, ok bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e := p.entries[txid]
	if e == nil {
		return nil, false
	}
	return infos(ancestorsOf(e.parents).list), true
}

// Descendants returns the pool transactions spending from txid, directly or
// not, as one consistent snapshot; ok is false when txid is not in the pool.
func (p *Pool) Descendants(txid chain.Hash) (family []Entry, ok bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e := p.entries[txid]
	if e == nil {
		return nil, false
	}
	return infos(descendantsOf(e).list[1:]), true
}

func infos(list []*entry) []Entry {
	out := make([]Entry, len(list))
	for i, e := range list {
		out[i] = e.info()
	}
	return out
}
