package mempool

import (
	"bytes"
	"container/heap"
	"fmt"
	"slices"

	"github.com/quarrychain/quarry/chain"
)

// Template is a block on the current tip filled from the pool, ready for the
// nonce search: only Header.Nonce is left to set (and the extra nonce, by
// building another template).
type Template struct {
	Block  *chain.Block
	Height int32
	// Txs describes Block.Txs[1:], in the same order.
	Txs []TemplateTx
	// Fees is what the transactions pay; CoinbaseValue is the subsidy plus
	// Fees, all claimed by the coinbase.
	Fees          uint64
	CoinbaseValue uint64
	// MinTime is the earliest time the header may carry (median time past + 1).
	MinTime int64
	// Size is the encoded size of the block.
	Size int
}

// TemplateTx describes one transaction of a template, as getblocktemplate
// lists it.
type TemplateTx struct {
	TxID chain.Hash
	Fee  uint64
	Size int
	// Depends are the positions in Block.Txs of the template transactions it
	// spends from; as the coinbase is at 0 they are getblocktemplate's 1-based
	// indexes into its transaction list.
	Depends []int
}

// templateReserve is room left in a block for the transaction count.
const templateReserve = 9

// BlockTemplate builds a block on the tip paying subsidy and fees to payTo,
// with extraNonce and free bytes in the coinbase data. Transactions go in by
// ancestor fee rate, as Core's CreateNewBlock picks them: a transaction with
// its unconfirmed ancestors is a package whose rate is their fees over their
// size, so a child paying well pulls in a cheap parent (child pays for
// parent), and parents always come before children.
func (p *Pool) BlockTemplate(payTo [chain.PubKeyHashSize]byte, extraNonce uint64, free []byte) (*Template, error) {
	if n := len(chain.CoinbaseData(0, extraNonce, free)); n > chain.MaxCoinbaseDataLen {
		return nil, fmt.Errorf("coinbase data of %d bytes is over the %d-byte limit", n, chain.MaxCoinbaseDataLen)
	}
	p.settle()
	p.tmplMu.Lock()
	p.mu.RLock()
	t, leaves := p.fillTemplate(payTo, extraNonce, free)
	p.mu.RUnlock()
	p.tmplMu.Unlock()
	// Hashing needs no lock: transactions never change.
	leaves[0] = t.Block.Txs[0].WitnessHash()
	t.Block.Header.MerkleRoot = chain.MerkleRoot(leaves)
	t.Size = t.Block.SerializeSize()
	return t, nil
}

// fillTemplate picks the transactions and builds the block but for its
// merkle root; it returns the merkle leaves but the coinbase's. The caller
// holds the read lock and tmplMu.
func (p *Pool) fillTemplate(payTo [chain.PubKeyHashSize]byte, extraNonce uint64, free []byte) (*Template, []chain.Hash) {
	tip := p.tip
	height := tip.Height + 1
	coinbase := chain.NewCoinbase(height, extraNonce, free, 0, payTo)
	budget := int64(p.blockMaxSize - chain.HeaderSize - templateReserve - coinbase.SerializeSize())
	selected := p.selectPackages(budget)

	t := &Template{Height: height, MinTime: tip.MedianTime + 1, Txs: make([]TemplateTx, len(selected))}
	txs := make([]*chain.Tx, 1, len(selected)+1)
	txs[0] = coinbase
	pos := make(map[*entry]int, len(selected))
	for i, e := range selected {
		pos[e] = i + 1
		txs = append(txs, e.tx)
		tt := TemplateTx{TxID: e.txid, Fee: e.fee, Size: int(e.size)}
		for _, par := range e.parents {
			tt.Depends = append(tt.Depends, pos[par])
		}
		slices.Sort(tt.Depends)
		t.Txs[i] = tt
		t.Fees += e.fee
	}
	t.CoinbaseValue = p.params.Subsidy(height) + t.Fees
	coinbase.Outputs[0].Value = t.CoinbaseValue
	t.Block = &chain.Block{
		Header: chain.Header{
			Version:   1,
			PrevBlock: tip.Hash,
			Time:      uint32(max(p.now().Unix(), t.MinTime)),
			Bits:      tip.NextBits,
		},
		Txs: txs,
	}
	leaves := make([]chain.Hash, len(txs))
	for i, e := range selected {
		leaves[i+1] = e.wtxid
	}
	return t, leaves
}

// pkgState is a template candidate's package as the block being built sees
// it: its ancestors already in the block no longer count.
type pkgState struct {
	anc      famStats
	modified bool // anc differs from the entry's: an ancestor is in the block
	inBlock  bool
	failed   bool
	version  uint32 // bumped with anc, to spot stale heap items
	visit    uint32
}

// selectPackages picks transactions of at most budget bytes, best ancestor
// fee rate first. Ancestor stats are kept by the pool as it changes, so the
// order comes from one sort; only packages whose ancestors got into the
// block are re-rated, through a heap. The caller holds the read lock and
// tmplMu.
func (p *Pool) selectPackages(budget int64) []*entry {
	all := make([]*entry, 0, len(p.entries))
	for _, e := range p.entries {
		e.tmpl = int32(len(all))
		all = append(all, e)
	}
	st := make([]pkgState, len(all))
	for i, e := range all {
		st[i].anc = e.anc
	}
	// Sort by ancestor fee rate on float keys: rounding is monotonic, so
	// distinct keys order as the exact rates do, and only equal keys need the
	// exact comparison. Sorting is most of the work of a template.
	keyed := make([]rated, len(all))
	for i, e := range all {
		keyed[i] = rated{key: float64(e.anc.fees) / float64(e.anc.size), e: e}
	}
	slices.SortFunc(keyed, func(a, b rated) int {
		switch {
		case a.key > b.key:
			return -1
		case a.key < b.key:
			return 1
		}
		if c := cmpRate(b.e.anc.fees, b.e.anc.size, a.e.anc.fees, a.e.anc.size); c != 0 {
			return c
		}
		return bytes.Compare(a.e.txid[:], b.e.txid[:])
	})
	order := make([]int32, len(keyed))
	for i := range keyed {
		order[i] = keyed[i].e.tmpl
	}

	var (
		selected []*entry
		modified pkgHeap
		used     int64
		failures int
		cursor   int
		stamp    uint32
		pkg      []*entry
		queue    []*entry
	)
	for {
		for cursor < len(order) {
			s := &st[order[cursor]]
			if !s.inBlock && !s.failed && !s.modified {
				break
			}
			cursor++
		}
		for modified.Len() > 0 {
			top := modified.items[0]
			if s := &st[top.idx]; !s.inBlock && !s.failed && s.version == top.version {
				break
			}
			heap.Pop(&modified)
		}
		fromHeap := modified.Len() > 0 && (cursor >= len(order) ||
			modified.better(modified.items[0], pkgItem{idx: order[cursor], anc: st[order[cursor]].anc, txid: all[order[cursor]].txid}))
		var e *entry
		switch {
		case fromHeap:
			e = all[modified.items[0].idx]
		case cursor < len(order):
			e = all[order[cursor]]
		default:
			return selected
		}
		s := &st[e.tmpl]
		if used+s.anc.size > budget {
			s.failed = true
			// Core's heuristic: once nearly full, stop after many misses.
			if failures++; failures > 1000 && used > budget-4000 {
				return selected
			}
			continue
		}
		failures = 0

		// The package: e and its ancestors not yet in the block.
		stamp++
		pkg = append(pkg[:0], e)
		st[e.tmpl].visit = stamp
		for i := 0; i < len(pkg); i++ {
			for _, par := range pkg[i].parents {
				if ps := &st[par.tmpl]; !ps.inBlock && ps.visit != stamp {
					ps.visit = stamp
					pkg = append(pkg, par)
				}
			}
		}
		slices.SortFunc(pkg, func(a, b *entry) int {
			if a.anc.count != b.anc.count {
				return a.anc.count - b.anc.count
			}
			return bytes.Compare(a.txid[:], b.txid[:])
		})
		for _, x := range pkg {
			st[x.tmpl].inBlock = true
			selected = append(selected, x)
			used += x.size
		}
		// Their descendants' packages shrink by what went in.
		for _, x := range pkg {
			stamp++
			queue = append(queue[:0], x.children...)
			for i := 0; i < len(queue); i++ {
				d := queue[i]
				ds := &st[d.tmpl]
				if ds.visit == stamp {
					continue
				}
				ds.visit = stamp
				queue = append(queue, d.children...)
				if ds.inBlock {
					continue
				}
				ds.anc.sub(x.self())
				ds.modified = true
				ds.version++
				heap.Push(&modified, pkgItem{idx: d.tmpl, version: ds.version, anc: ds.anc, txid: d.txid})
			}
		}
	}
}

// rated is an entry with its ancestor fee rate as a sort key.
type rated struct {
	key float64
	e   *entry
}

// pkgItem is a heap entry for a package whose rate changed.
type pkgItem struct {
	idx     int32
	version uint32
	anc     famStats
	txid    chain.Hash
}

// pkgHeap is a max-heap of packages by ancestor fee rate.
type pkgHeap struct{ items []pkgItem }

func (h *pkgHeap) better(a, b pkgItem) bool {
	if c := cmpRate(a.anc.fees, a.anc.size, b.anc.fees, b.anc.size); c != 0 {
		return c > 0
	}
	return bytes.Compare(a.txid[:], b.txid[:]) < 0
}

func (h *pkgHeap) Len() int           { return len(h.items) }
func (h *pkgHeap) Less(i, j int) bool { return h.better(h.items[i], h.items[j]) }
func (h *pkgHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pkgHeap) Push(x any)         { h.items = append(h.items, x.(pkgItem)) }
func (h *pkgHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}
