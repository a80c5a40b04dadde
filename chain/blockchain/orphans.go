package blockchain

import "github.com/quarrychain/quarry/chain"

// orphanPool holds blocks whose parent is unknown, bounded in count and bytes;
// when full, the oldest go first. It is guarded by Chain.mu.
type orphanPool struct {
	byHash   map[chain.Hash]*chain.Block
	byParent map[chain.Hash][]chain.Hash
	order    []chain.Hash // oldest first
	bytes    int
	maxCount int
	maxBytes int
}

func newOrphanPool(maxCount, maxBytes int) *orphanPool {
	return &orphanPool{byHash: make(map[chain.Hash]*chain.Block), byParent: make(map[chain.Hash][]chain.Hash), maxCount: maxCount, maxBytes: maxBytes}
}

func (p *orphanPool) has(h chain.Hash) bool {
	_, ok := p.byHash[h]
	return ok
}

func (p *orphanPool) add(b *chain.Block, hash chain.Hash) {
	size := b.SerializeSize()
	if size > p.maxBytes {
		return
	}
	for len(p.order) > 0 && (len(p.order) >= p.maxCount || p.bytes+size > p.maxBytes) {
		p.remove(p.order[0])
	}
	p.byHash[hash] = b
	p.byParent[b.Header.PrevBlock] = append(p.byParent[b.Header.PrevBlock], hash)
	p.order = append(p.order, hash)
	p.bytes += size
}

func (p *orphanPool) remove(hash chain.Hash) {
	b, ok := p.byHash[hash]
	if !ok {
		return
	}
	delete(p.byHash, hash)
	p.bytes -= b.SerializeSize()
	for i, h := range p.order {
		if h == hash {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
	siblings := p.byParent[b.Header.PrevBlock]
	for i, h := range siblings {
		if h == hash {
			siblings = append(siblings[:i], siblings[i+1:]...)
			break
		}
	}
	if len(siblings) == 0 {
		delete(p.byParent, b.Header.PrevBlock)
	} else {
		p.byParent[b.Header.PrevBlock] = siblings
	}
}

// takeChildren removes and returns the orphans whose parent is parent.
func (p *orphanPool) takeChildren(parent chain.Hash) []*chain.Block {
	hashes := p.byParent[parent]
	children := make([]*chain.Block, 0, len(hashes))
	for _, h := range hashes {
		children = append(children, p.byHash[h])
	}
	for _, h := range hashes {
		p.remove(h)
	}
	return children
}

// orphanRoot follows orphan parents back from hash to the first block not in
// the pool: the block a peer should be asked for.
func (p *orphanPool) root(hash chain.Hash) chain.Hash {
	for {
		b, ok := p.byHash[hash]
		if !ok {
			return hash
		}
		hash = b.Header.PrevBlock
	}
}
