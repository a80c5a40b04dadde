package mempool

import (
	"container/heap"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
)

// Policy limits, Bitcoin Core's defaults.
const (
	// MaxStandardTxSize is the largest transaction relayed or mined from the
	// pool: a block could carry a bigger one, but no honest wallet makes one and
	// it would cost every node a lot to check.
	MaxStandardTxSize = 100_000
	// AncestorLimit and DescendantLimit bound a transaction's unconfirmed
	// family, itself included, so that the bookkeeping on every change stays
	// small and no chain of spends can pin a pool.
	AncestorLimit   = 25
	DescendantLimit = 25
	// AncestorSizeLimit and DescendantSizeLimit bound the same families in bytes.
	AncestorSizeLimit   = 101_000
	DescendantSizeLimit = 101_000
	// MaxReplacements bounds what one replacement may evict (its direct
	// conflicts and all their descendants).
	MaxReplacements = 100
)

// Defaults of Config.
const (
	DefaultMaxUsage              = 300_000_000
	DefaultExpiry                = 14 * 24 * time.Hour
	DefaultMaxOrphans            = 100
	DefaultMaxOrphanBytes        = 5_000_000
	DefaultMaxOrphanBytesPerPeer = 1_000_000
	DefaultOrphanExpiry          = 20 * time.Minute
)

// rollingFeeHalfLife is how fast the minimum fee raised by a full pool decays
// again once blocks make room, as Core's ROLLING_FEE_HALFLIFE.
const rollingFeeHalfLife = 12 * time.Hour

// PeerID names the peer a transaction came from; the orphan pool bounds what
// each peer may park there.
type PeerID string

// LocalPeer is the node itself: RPC, the wallet, the mempool file. A local
// transaction with unknown inputs is rejected rather than kept as an orphan,
// as Core's sendrawtransaction does.
const LocalPeer PeerID = ""

// Config says how to build a Pool. Zero fields take the defaults.
type Config struct {
	Chain *blockchain.Chain
	// TxIndex, the chain's transaction index or nil when it is off, tells a
	// confirmed transaction sent again from an orphan; without it only one
	// whose first output is unspent is known as confirmed.
	TxIndex *indexers.TxIndex
	Logger  *slog.Logger
	// Now is the clock for entry times, expiry and block template times.
	Now func() time.Time

	// MinRelayFeeRate is the lowest fee rate accepted, also the increment a
	// replacement and the pool's rising minimum fee must add. Zero means
	// DefaultMinRelayFeeRate; FeeRate(1) lets nearly free transactions in.
	MinRelayFeeRate FeeRate
	// MaxUsage bounds the memory the pool's transactions take, in bytes; the
	// lowest fee-rate packages leave when it is exceeded.
	MaxUsage int64
	// Expiry is how long a transaction may wait unconfirmed.
	Expiry time.Duration
	// RejectReplacements turns replace-by-fee off: a transaction spending an
	// output another pool transaction spends is refused (first seen wins).
	RejectReplacements bool
	// BlockMaxSize bounds the blocks the templates build, in encoded bytes
	// (Core's -blockmaxweight); zero or above chain.MaxBlockSize means
	// chain.MaxBlockSize.
	BlockMaxSize int

	// MaxOrphans, MaxOrphanBytes and MaxOrphanBytesPerPeer bound the
	// transactions kept while their parents are unknown; OrphanExpiry is how
	// long one waits.
	MaxOrphans            int
	MaxOrphanBytes        int
	MaxOrphanBytesPerPeer int
	OrphanExpiry          time.Duration
}

// ErrClosed is returned by a pool after Close.
var ErrClosed = errors.New("mempool is closed")

// Pool holds the valid unconfirmed transactions the node relays and mines. It
// is safe for concurrent use. Transactions enter with Accept; blocks take them
// out through the chain's events, which the pool subscribes to.
type Pool struct {
	chain   *blockchain.Chain
	txIndex *indexers.TxIndex
	params  *chain.Params
	// sigCache is the chain's: a block carrying pool transactions connects
	// without verifying their signatures again.
	sigCache *chain.SigCache
	log      *slog.Logger
	now      func() time.Time

	minRelay           FeeRate
	maxUsage           int64
	expiry             time.Duration
	rejectReplacements bool
	blockMaxSize       int

	mu      sync.RWMutex // guards the fields below and every entry's links and stats
	entries map[chain.Hash]*entry
	spends  map[chain.OutPoint]*entry // outpoint -> the pool transaction spending it
	byScore scoreHeap                 // lowest descendant score first: eviction order
	tip     blockchain.BestState
	// gen changes with every chain event, so an acceptance that looked at the
	// chain without the lock knows whether what it saw is still current.
	gen         uint64
	seq         uint64
	size        int64
	usage       int64
	fees        uint64
	closed      bool
	unsubscribe func()
	// disconnected holds the blocks of a reorganisation whose transactions have
	// not yet come back, tip first. They come back together once the chain
	// has finished, so a child returns after its parent from an older block.
	disconnected []*chain.Block
	reorgPending atomic.Bool
	// The minimum fee rate a full pool sets, decaying after blocks.
	rollingMinFee   float64
	lastRollingFee  time.Time
	blockSinceBump  bool
	nextExpiryCheck time.Time

	orphans  *orphanPool
	notifier notifier
	// tmplMu serialises template builds, which use scratch fields of entries.
	tmplMu sync.Mutex
}

// New returns an empty pool on top of cfg.Chain and subscribes it to the
// chain's events.
func New(cfg Config) (*Pool, error) {
	if cfg.Chain == nil {
		return nil, errors.New("mempool: no chain")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxUsage < 0 || cfg.Expiry < 0 || cfg.BlockMaxSize < 0 || cfg.MaxOrphans < 0 || cfg.MaxOrphanBytes < 0 ||
		cfg.MaxOrphanBytesPerPeer < 0 || cfg.OrphanExpiry < 0 {
		return nil, errors.New("mempool: negative limit in config")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Pool{
		chain:              cfg.Chain,
		txIndex:            cfg.TxIndex,
		params:             cfg.Chain.Params(),
		sigCache:           cfg.Chain.SigCache(),
		log:                cfg.Logger.With("component", "mempool"),
		now:                cfg.Now,
		minRelay:           orDefault(cfg.MinRelayFeeRate, DefaultMinRelayFeeRate),
		maxUsage:           orDefault(cfg.MaxUsage, DefaultMaxUsage),
		expiry:             orDefault(cfg.Expiry, DefaultExpiry),
		rejectReplacements: cfg.RejectReplacements,
		blockMaxSize:       min(orDefault(cfg.BlockMaxSize, chain.MaxBlockSize), chain.MaxBlockSize),
		entries:            make(map[chain.Hash]*entry),
		spends:             make(map[chain.OutPoint]*entry),
		orphans: newOrphanPool(
			orDefault(cfg.MaxOrphans, DefaultMaxOrphans),
			orDefault(cfg.MaxOrphanBytes, DefaultMaxOrphanBytes),
			orDefault(cfg.MaxOrphanBytesPerPeer, DefaultMaxOrphanBytesPerPeer),
			orDefault(cfg.OrphanExpiry, DefaultOrphanExpiry)),
	}
	// Subscribe before reading the tip, so that no block falls in between.
	p.unsubscribe = p.chain.Subscribe(p.onChainEvent)
	p.mu.Lock()
	p.tip = p.chain.Best()
	p.mu.Unlock()
	return p, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Close detaches the pool from the chain and accepts nothing more.
func (p *Pool) Close() {
	p.unsubscribe()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// famStats sums a transaction family: count, bytes and fees.
type famStats struct {
	count int
	size  int64
	fees  uint64
}

func (s *famStats) add(o famStats) {
	s.count += o.count
	s.size += o.size
	s.fees += o.fees
}

func (s *famStats) sub(o famStats) {
	s.count -= o.count
	s.size -= o.size
	s.fees -= o.fees
}

// entry is one pool transaction. Its links and family stats are guarded by
// Pool.mu; anc and desc include the entry itself.
type entry struct {
	tx     *chain.Tx
	txid   chain.Hash
	wtxid  chain.Hash // the whole-transaction hash, a merkle leaf
	size   int64
	fee    uint64
	usage  int64
	time   time.Time
	height int32 // the tip's height when it entered
	seq    uint64

	parents  []*entry // in-pool transactions it spends from
	children []*entry // in-pool transactions spending from it
	anc      famStats
	desc     famStats

	// spendsCoinbase and a lock time are what a reorganisation to a lower tip
	// can invalidate, so only such entries are checked again then.
	spendsCoinbase bool
	heapIdx        int
	removing       bool  // scratch of removeSet, under the write lock
	tmpl           int32 // scratch of the template builder, under tmplMu
}

func (e *entry) self() famStats { return famStats{1, e.size, e.fee} }

// Rough memory cost of an entry beyond its encoded bytes: the entry, the
// decoded transaction's structures and the index slots that point at it.
var (
	entryOverhead  = int64(unsafe.Sizeof(entry{}) + unsafe.Sizeof(chain.Tx{}) + 3*64)
	inputOverhead  = int64(unsafe.Sizeof(chain.TxIn{}) + 2*unsafe.Sizeof([]byte{}) + 64)
	outputOverhead = int64(unsafe.Sizeof(chain.TxOut{}))
)

func memUsage(tx *chain.Tx, size int64) int64 {
	return entryOverhead + size + int64(len(tx.Inputs))*inputOverhead + int64(len(tx.Outputs))*outputOverhead
}

// entrySet collects distinct entries, in the order first added. Families are
// small, so it searches a slice until it grows enough to need a map.
type entrySet struct {
	list  []*entry
	index map[*entry]struct{}
}

const entrySetMapAt = 16

func (s *entrySet) add(e *entry) {
	if s.has(e) {
		return
	}
	if s.index != nil {
		s.index[e] = struct{}{}
	} else if len(s.list) >= entrySetMapAt {
		s.index = make(map[*entry]struct{}, 2*len(s.list))
		for _, x := range s.list {
			s.index[x] = struct{}{}
		}
		s.index[e] = struct{}{}
	}
	s.list = append(s.list, e)
}

func (s *entrySet) has(e *entry) bool {
	if s.index != nil {
		_, ok := s.index[e]
		return ok
	}
	for _, x := range s.list {
		if x == e {
			return true
		}
	}
	return false
}

// ancestorsOf is every in-pool ancestor reachable from parents, parents included.
func ancestorsOf(parents []*entry) *entrySet {
	var set entrySet
	for _, p := range parents {
		set.add(p)
	}
	for i := 0; i < len(set.list); i++ {
		for _, p := range set.list[i].parents {
			set.add(p)
		}
	}
	return &set
}

// descendantsOf is roots and every in-pool transaction spending from them,
// directly or not.
func descendantsOf(roots ...*entry) *entrySet {
	var set entrySet
	for _, r := range roots {
		set.add(r)
	}
	for i := 0; i < len(set.list); i++ {
		for _, c := range set.list[i].children {
			set.add(c)
		}
	}
	return &set
}

// insert adds e, spending from the in-pool parents whose ancestors (parents
// included) are ancestors, and updates every family's stats.
func (p *Pool) insert(e *entry, parents []*entry, ancestors []*entry) {
	p.seq++
	e.seq = p.seq
	e.parents = parents
	for _, par := range parents {
		par.children = append(par.children, e)
	}
	e.anc = e.self()
	e.desc = e.self()
	for _, a := range ancestors {
		e.anc.add(a.self())
		a.desc.add(e.self())
		heap.Fix(&p.byScore, a.heapIdx)
	}
	p.entries[e.txid] = e
	for i := range e.tx.Inputs {
		p.spends[e.tx.Inputs[i].PrevOut] = e
	}
	heap.Push(&p.byScore, e)
	p.size += e.size
	p.usage += e.usage
	p.fees += e.fee
	if deadline := e.time.Add(p.expiry); p.nextExpiryCheck.IsZero() || deadline.Before(p.nextExpiryCheck) {
		p.nextExpiryCheck = deadline
	}
}

// removeSet takes the entries of set out of the pool and reports each with
// reason. Families outside the set lose what the set contributed to their
// stats, so set may be a transaction with its descendants (replacement,
// eviction, expiry) or mined transactions whose pool parents were mined too.
func (p *Pool) removeSet(set []*entry, reason RemovalReason) {
	for _, e := range set {
		e.removing = true
	}
	for _, e := range set {
		for _, a := range ancestorsOf(e.parents).list {
			if !a.removing {
				a.desc.sub(e.self())
				heap.Fix(&p.byScore, a.heapIdx)
			}
		}
		for _, d := range descendantsOf(e).list[1:] {
			if !d.removing {
				d.anc.sub(e.self())
			}
		}
	}
	for _, e := range set {
		for _, par := range e.parents {
			par.children = deleteEntry(par.children, e)
		}
		for _, c := range e.children {
			c.parents = deleteEntry(c.parents, e)
		}
		e.parents, e.children = nil, nil
		delete(p.entries, e.txid)
		for i := range e.tx.Inputs {
			if op := e.tx.Inputs[i].PrevOut; p.spends[op] == e {
				delete(p.spends, op)
			}
		}
		heap.Remove(&p.byScore, e.heapIdx)
		p.size -= e.size
		p.usage -= e.usage
		p.fees -= e.fee
		p.notifier.enqueue(Event{Kind: TxRemoved, TxID: e.txid, Tx: e.tx, Fee: e.fee, Size: int(e.size), Reason: reason})
	}
}

func deleteEntry(list []*entry, e *entry) []*entry {
	for i, x := range list {
		if x == e {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			return list[:len(list)-1]
		}
	}
	return list
}

// trim evicts the packages with the lowest descendant score until the pool
// fits its memory bound, and raises the minimum fee to what they paid, so that
// nothing paying less comes straight back.
func (p *Pool) trim() {
	for p.usage > p.maxUsage && len(p.byScore) > 0 {
		e := p.byScore[0]
		removed := float64(NewFeeRate(e.desc.fees, e.desc.size)) + float64(p.minRelay)
		if removed > p.rollingMinFee {
			p.rollingMinFee = removed
			p.blockSinceBump = false
		}
		p.removeSet(descendantsOf(e).list, ReasonSizeLimit)
	}
}

// minFeeRate is the pool's current minimum fee rate: zero while it has room,
// raised by trim when it was full, and halving every rollingFeeHalfLife
// (faster while the pool is far from full) once a block has come since. It
// only reads, so acceptances may call it under the read lock; blocks store
// the decay so far (settleRollingFee).
func (p *Pool) minFeeRate() FeeRate {
	rate := p.decayedRollingFee(p.now())
	if rate == 0 {
		return 0
	}
	return max(FeeRate(rate), p.minRelay)
}

func (p *Pool) decayedRollingFee(now time.Time) float64 {
	rate := p.rollingMinFee
	if !p.blockSinceBump || rate == 0 {
		return rate
	}
	halfLife := rollingFeeHalfLife
	if p.usage < p.maxUsage/4 {
		halfLife /= 4
	} else if p.usage < p.maxUsage/2 {
		halfLife /= 2
	}
	rate /= math.Pow(2, float64(now.Sub(p.lastRollingFee))/float64(halfLife))
	if rate < float64(p.minRelay)/2 {
		return 0
	}
	return rate
}

// settleRollingFee stores the decay of the minimum fee up to a block and lets
// it decay from there on.
func (p *Pool) settleRollingFee() {
	now := p.now()
	p.rollingMinFee = p.decayedRollingFee(now)
	p.lastRollingFee = now
	p.blockSinceBump = true
}

// expire removes transactions older than the expiry with their descendants.
// It walks the pool only when the oldest entry is due.
func (p *Pool) expire() {
	now := p.now()
	if p.nextExpiryCheck.IsZero() || now.Before(p.nextExpiryCheck) {
		return
	}
	cutoff := now.Add(-p.expiry)
	var old []*entry
	var next time.Time
	for _, e := range p.entries {
		if e.time.Before(cutoff) {
			old = append(old, e)
		} else if deadline := e.time.Add(p.expiry); next.IsZero() || deadline.Before(next) {
			next = deadline
		}
	}
	p.nextExpiryCheck = next
	if len(old) > 0 {
		set := descendantsOf(old...).list
		p.log.Info("transactions expired", "count", len(set), "age", p.expiry)
		p.removeSet(set, ReasonExpiry)
	}
}

// scoreHeap orders entries by descendant score, lowest first: the higher of
// the entry's own fee rate and that of it with its descendants, as Core's
// TrimToSize, so a parent whose children pay for it stays and a cheap child
// of a good parent can go alone. Among equals the newer goes first.
type scoreHeap []*entry

func (h scoreHeap) Len() int { return len(h) }

func (h scoreHeap) Less(i, j int) bool {
	af, as := h[i].descScore()
	bf, bs := h[j].descScore()
	if c := cmpRate(af, as, bf, bs); c != 0 {
		return c < 0
	}
	return h[i].seq > h[j].seq
}

func (h scoreHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h *scoreHeap) Push(x any) {
	e := x.(*entry)
	e.heapIdx = len(*h)
	*h = append(*h, e)
}

func (h *scoreHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.heapIdx = -1
	return e
}

func (e *entry) descScore() (uint64, int64) {
	if cmpRate(e.fee, e.size, e.desc.fees, e.desc.size) >= 0 {
		return e.fee, e.size
	}
	return e.desc.fees, e.desc.size
}
