package mempool

import (
	"slices"
	"sync"

	"github.com/quarrychain/quarry/chain"
)

// EventKind says whether a transaction entered or left the pool.
type EventKind int

// Event kinds.
const (
	TxAdded EventKind = iota
	TxRemoved
)

// RemovalReason says why a transaction left the pool, in Core's words; for
// TxAdded it is empty, or ReasonReorg for a transaction back from a
// disconnected block.
type RemovalReason string

// Removal reasons.
const (
	ReasonExpiry    RemovalReason = "expiry"
	ReasonSizeLimit RemovalReason = "sizelimit"
	ReasonReorg     RemovalReason = "reorg"
	ReasonBlock     RemovalReason = "block"
	ReasonConflict  RemovalReason = "conflict"
	ReasonReplaced  RemovalReason = "replaced"
)

// Event tells subscribers of a change of the pool.
type Event struct {
	Kind   EventKind
	TxID   chain.Hash
	Tx     *chain.Tx
	Fee    uint64
	Size   int
	Reason RemovalReason
}

// notifier delivers events in the order the pool changed, without a goroutine
// of its own: changes queue events under the pool lock, and whoever finds
// nobody delivering after releasing it delivers everything queued. So a
// subscriber sees a parent's TxAdded before its child's, and may call back
// into the pool.
type notifier struct {
	mu         sync.Mutex
	subs       []subscriber // replaced, never changed in place: deliver reads a copy unlocked
	nextID     uint64
	queue      []Event
	delivering bool
}

type subscriber struct {
	id uint64
	fn func(Event)
}

// Subscribe registers fn to be called with every later change of the pool, in
// order: p2p relays TxAdded transactions, wallets watch both kinds. fn runs on
// one of the goroutines changing the pool (Accept callers, or the chain's
// block processing for blocks and reorganisations), one call at a time and
// without the pool locked; it may call the pool but should return quickly,
// and must not process blocks. Calling the returned cancel ends the
// subscription (a batch already being delivered may still reach fn), as
// blockchain.Chain.Subscribe's does.
func (p *Pool) Subscribe(fn func(Event)) (cancel func()) {
	n := &p.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	id := n.nextID
	n.nextID++
	n.subs = append(slices.Clip(n.subs), subscriber{id: id, fn: fn})
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.subs = slices.DeleteFunc(slices.Clone(n.subs), func(s subscriber) bool { return s.id == id })
	}
}

func (n *notifier) enqueue(e Event) {
	n.mu.Lock()
	if len(n.subs) > 0 {
		n.queue = append(n.queue, e)
	}
	n.mu.Unlock()
}

func (n *notifier) deliver() {
	n.mu.Lock()
	if n.delivering {
		n.mu.Unlock()
		return
	}
	n.delivering = true
	for len(n.queue) > 0 {
		batch, subs := n.queue, n.subs
		n.queue = nil
		n.mu.Unlock()
		for _, e := range batch {
			for _, s := range subs {
				s.fn(e)
			}
		}
		n.mu.Lock()
	}
	n.delivering = false
	n.mu.Unlock()
}
