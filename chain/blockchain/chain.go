package blockchain

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
)

// Config says where and how to open a chain.
type Config struct {
	Params *chain.Params
	// Dir is the chain database's Badger directory,
	// <datadir>/<network>/chain.
	Dir string
	// IndexDir is the index database's Badger directory,
	// <datadir>/<network>/indexes; empty means <Dir>/indexes. It is opened
	// only when an index is on.
	IndexDir string
	Logger   *slog.Logger
	// SigCache is shared with the mempool; nil gives the chain its own.
	SigCache *chain.SigCache
	// Now is the clock blocks' times are checked against; nil means time.Now.
	Now func() time.Time
	// MaxOrphans and MaxOrphanBytes bound the blocks held while their parent is
	// unknown; zero gives defaults.
	MaxOrphans     int
	MaxOrphanBytes int
	// Reindex rebuilds the block index from the stored blocks, then the chain
	// state and the indexes, before opening (Core's -reindex).
	Reindex bool
	// ReindexChainState rebuilds the chain state (UTXO set, main chain) from
	// the stored blocks, keeping the block index and the indexes (Core's
	// -reindex-chainstate).
	ReindexChainState bool
	// AssumeValid, if set, replaces Params.AssumeValid; a zero hash turns
	// assumevalid off.
	AssumeValid *chain.Hash
	// Indexers are the indexes that follow the main chain (package
	// chain/indexers); none is on unless given.
	Indexers []Indexer
	// PruneTargetBytes turns pruning on: PruneManual for PruneBlockchain only,
	// more for an automatic target of stored block bodies and undo data.
	PruneTargetBytes int64
	// DBCacheBytes bounds the memory of the UTXO cache; zero gives
	// DefaultDBCacheMiB MiB.
	DBCacheBytes int64
}

// Default bounds.
const (
	DefaultSigCacheSize   = 100_000
	DefaultMaxOrphans     = 100
	DefaultMaxOrphanBytes = 32 << 20
)

// EventKind says whether a block joined or left the main chain.
type EventKind int

// Event kinds.
const (
	BlockConnected EventKind = iota
	BlockDisconnected
)

// Event tells subscribers of a change of the main chain. Events arrive in the
// order the changes were made: in a reorganisation, every disconnect (tip first)
// before the connects of the new branch.
type Event struct {
	Kind  EventKind
	Block *chain.Block
	// TxIDs are the ids of Block's transactions, as the chain hashed them to
	// check the block: subscribers need not hash them again.
	TxIDs  []chain.Hash
	Hash   chain.Hash
	Height int32
}

// BestState describes the tip of the main chain.
type BestState struct {
	Hash       chain.Hash
	Height     int32
	Bits       uint32
	Time       int64
	MedianTime int64
	ChainWork  *big.Int
	// NextBits is the difficulty a block on top of the tip must carry.
	NextBits uint32
}

// ProcessResult says what became of a block handed to ProcessBlock.
type ProcessResult struct {
	Hash chain.Hash
	// Orphan: the parent is unknown; the block waits in the orphan pool.
	Orphan bool
	// MainChain: the block is part of the main chain after processing.
	MainChain bool
	// LowWork: the block came unrequested on a branch with less work than
	// the tip, and was dropped unstored (ProcessUnrequestedBlock).
	LowWork bool
}

// Chain is the node's view of the block chain: the index of every known header,
// the main chain, and the UTXO set and indexes in Badger. Methods are safe for
// concurrent use; blocks are processed one at a time.
type Chain struct {
	params *chain.Params
	db     *badger.DB
	// idb is the index database, nil when every index is off.
	idb      *badger.DB
	log      *slog.Logger
	sigCache *chain.SigCache
	now      func() time.Time
	utxos    *utxoCache
	prune    pruneState
	// assumeValid is the block whose ancestors' signatures are skipped; zero: none.
	assumeValid chain.Hash

	// processMu serialises writers, and the delivery of their events, so
	// subscribers see changes in order.
	processMu sync.Mutex

	// caughtUp latches once the tip is recent: see CaughtUp.
	caughtUp atomic.Bool

	mu         sync.RWMutex // guards the fields below
	index      map[chain.Hash]*blockNode
	mainChain  []*blockNode // by height
	bestHeader *blockNode
	candidates map[*blockNode]struct{}
	nextSeq    uint64
	orphans    *orphanPool

	subMu   sync.Mutex
	subs    map[int]func(Event)
	nextSub int

	// indexes are the enabled indexes by name, each following the main chain
	// on its own goroutine until stopIndexes; set at Open, in indexOrder.
	indexes     map[string]*indexFollower
	indexOrder  []string
	stopIndexes func()
	indexWG     sync.WaitGroup
	// recent hands the followers the blocks just connected; nil when every
	// index is off.
	recent *recentBlocks
}

// Open opens or creates the chain in cfg.Dir, checks the last connected blocks
// and resumes any reorganisation a crash interrupted.
func Open(cfg Config) (*Chain, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SigCache == nil {
		cfg.SigCache = chain.NewSigCache(DefaultSigCacheSize)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IndexDir == "" {
		cfg.IndexDir = filepath.Join(cfg.Dir, "indexes")
	}
	db, err := openBadger(cfg.Dir, cfg.Logger.With("component", "badger"))
	if err != nil {
		return nil, err
	}
	c := &Chain{
		params:      cfg.Params,
		db:          db,
		log:         cfg.Logger,
		sigCache:    cfg.SigCache,
		now:         cfg.Now,
		index:       make(map[chain.Hash]*blockNode),
		candidates:  make(map[*blockNode]struct{}),
		orphans:     newOrphanPool(cmp.Or(cfg.MaxOrphans, DefaultMaxOrphans), cmp.Or(cfg.MaxOrphanBytes, DefaultMaxOrphanBytes)),
		assumeValid: cfg.Params.AssumeValid,
		utxos:       newUtxoCache(db, cmp.Or(cfg.DBCacheBytes, DefaultDBCacheMiB<<20)),
	}
	if cfg.AssumeValid != nil {
		c.assumeValid = *cfg.AssumeValid
	}
	if err := c.open(&cfg); err != nil {
		c.utxos.waitFlushed()
		if c.idb != nil {
			c.idb.Close()
		}
		db.Close()
		return nil, err
	}
	return c, nil
}

// open readies the chain Open made on its chain database: a reindex, the
// index database, the block index, the chain state and the indexes.
func (c *Chain) open(cfg *Config) error {
	db := c.db
	if err := resumeReindex(db, cfg); err != nil {
		return err
	}
	if err := dropIndexesFromChainDB(db, cfg.Logger); err != nil {
		return err
	}
	var err error
	if c.idb, err = openIndexDB(cfg); err != nil {
		return err
	}
	switch {
	case cfg.Reindex:
		cfg.Logger.Info("reindexing: rebuilding the block index, the chain state and the indexes from the stored blocks")
		if err := errors.Join(rebuildBlockIndex(db, cfg.Params), resetChainState(db, cfg.Params, true)); err != nil {
			return err
		}
	case cfg.ReindexChainState:
		cfg.Logger.Info("reindexing: rebuilding the chain state from the stored blocks")
		if err := resetChainState(db, cfg.Params, false); err != nil {
			return err
		}
	}
	if err := c.load(); err != nil {
		return err
	}
	if err := c.loadPruneState(cfg.PruneTargetBytes); err != nil {
		return err
	}
	if err := c.replayBlocks(); err != nil {
		return fmt.Errorf("chain database %s: %w; restart with --reindex-chainstate to rebuild the chain state from the stored blocks", cfg.Dir, err)
	}
	if err := c.verifyRecent(6); err != nil {
		return fmt.Errorf("chain database %s is damaged: %w; restart with --reindex to rebuild the chain state from the stored blocks", cfg.Dir, err)
	}
	// The indexes' places are known before the activation below, which may
	// connect blocks and so prune: pruning must leave what they still need.
	if err := c.openIndexes(cfg.Indexers); err != nil {
		return err
	}
	c.processMu.Lock()
	defer c.processMu.Unlock()
	events, _, err := c.activateBestChain(nil)
	c.deliver(events)
	if err != nil {
		return err
	}
	if err := c.checkIndexUndo(); err != nil {
		return err
	}
	c.runIndexes()
	return nil
}

// Close stops the indexes, once those near the tip applied its last blocks,
// closes the index database, then flushes the UTXO cache and closes the
// chain database: the indexes never hold a block the chain database lost.
// The chain must not be used afterwards; a second Close does nothing.
func (c *Chain) Close() error {
	if c.db.IsClosed() {
		return nil
	}
	// Each index near the tip applies the last blocks, all at once so a
	// stuck one delays the stop by indexSyncWait at most; one further
	// behind goes on at the next start.
	var ready sync.WaitGroup
	for name := range c.indexes {
		ready.Go(func() { c.indexReady(name) })
	}
	ready.Wait()
	err := c.closeIndexes()
	c.processMu.Lock()
	defer c.processMu.Unlock()
	return errors.Join(err, c.utxos.flushSync(), c.db.Close())
}

// closeIndexes stops the indexes where they are and closes the index
// database.
func (c *Chain) closeIndexes() error {
	c.stopIndexes()
	c.indexWG.Wait()
	if c.idb == nil {
		return nil
	}
	// The chain's records go to the disk first: an index database durable
	// past the chain's would name blocks a power loss took back.
	return errors.Join(c.db.Sync(), c.idb.Close())
}

// Params returns the network parameters.
func (c *Chain) Params() *chain.Params { return c.params }

// SigCache returns the signature cache the chain checks blocks with.
func (c *Chain) SigCache() *chain.SigCache { return c.sigCache }

// Subscribe registers fn to be called with every main-chain change, in order,
// after the change is stored, until the returned cancel is called. fn runs on
// the processing goroutine: it may call Chain's read methods but must not
// process blocks itself.
func (c *Chain) Subscribe(fn func(Event)) (cancel func()) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if c.subs == nil {
		c.subs = make(map[int]func(Event))
	}
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	return func() {
		c.subMu.Lock()
		delete(c.subs, id)
		c.subMu.Unlock()
	}
}

func (c *Chain) deliver(events []Event) {
	if len(events) == 0 {
		return
	}
	if c.recent != nil {
		c.recent.add(events)
	}
	c.wakeIndexes()
	c.subMu.Lock()
	ids := slices.Sorted(maps.Keys(c.subs))
	subs := make([]func(Event), len(ids))
	for i, id := range ids {
		subs[i] = c.subs[id]
	}
	c.subMu.Unlock()
	for _, e := range events {
		for _, fn := range subs {
			fn(e)
		}
	}
}

// load rebuilds the in-memory index from the header records, or writes the
// genesis block into an empty store.
func (c *Chain) load() error {
	var tipHash chain.Hash
	err := c.db.View(func(txn *badger.Txn) error {
		raw, err := getValue(txn, key(prefixMeta, []byte(metaTip)))
		if err != nil || raw == nil {
			return err
		}
		copy(tipHash[:], raw)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read tip: %w", err)
	}
	if tipHash.IsZero() {
		return c.initGenesis()
	}

	var records []headerRecord
	err = c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixHeader}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			rec, err := decodeHeaderRecord(raw)
			if err != nil {
				return fmt.Errorf("header %x: %w", it.Item().Key()[1:], err)
			}
			records = append(records, rec)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read block index: %w", err)
	}
	slices.SortFunc(records, func(a, b headerRecord) int { return int(a.height - b.height) })
	for _, rec := range records {
		var parent *blockNode
		if rec.height > 0 {
			if parent = c.index[rec.header.PrevBlock]; parent == nil {
				return fmt.Errorf("block index is damaged: header %s at height %d has no parent", rec.header.Hash(), rec.height)
			}
		} else if rec.header.Hash() != c.params.GenesisHash {
			return fmt.Errorf("database holds another network's chain (genesis %s, want %s for %s)", rec.header.Hash(), c.params.GenesisHash, c.params.Name)
		}
		n := c.addNode(&rec.header, parent, rec.status)
		if n.status&statusHaveData != 0 {
			c.markDataChain(n)
		}
	}
	tip := c.index[tipHash]
	if tip == nil {
		return fmt.Errorf("block index is damaged: tip %s is not in it", tipHash)
	}
	c.mainChain = make([]*blockNode, tip.height+1)
	for n := tip; n != nil; n = n.parent {
		c.mainChain[n.height] = n
	}
	c.pruneCandidates()
	c.log.Info("chain loaded", "height", tip.height, "tip", tip.hash, "headers", c.bestHeader.height)
	return nil
}

func (c *Chain) initGenesis() error {
	g := c.params.GenesisBlock
	n := c.addNode(&g.Header, nil, statusHaveData|statusValid)
	c.markDataChain(n)
	c.mainChain = []*blockNode{n}
	err := c.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(key(prefixBlock, n.hash[:]), g.Encode()); err != nil {
			return err
		}
		return writeGenesisState(txn, n)
	})
	if err != nil {
		return fmt.Errorf("write genesis block: %w", err)
	}
	c.log.Info("new chain", "network", c.params.Name, "genesis", n.hash)
	return nil
}

// addNode puts a header into the in-memory index with what is known of it;
// a header under an invalid block is invalid too. The status is given here,
// not set afterwards, because the best header is chosen among valid or
// unchecked headers only: one known invalid must never become it, not even
// for a moment (it would put the node back into initial block download).
func (c *Chain) addNode(h *chain.Header, parent *blockNode, status blockStatus) *blockNode {
	n := newBlockNode(h, parent)
	n.status = status
	if parent != nil && parent.status.invalid() {
		n.status |= statusFailedParent
	}
	if parent != nil {
		n.beyondPrune = parent.beyondPrune
	}
	c.nextSeq++
	n.seq = c.nextSeq
	c.index[n.hash] = n
	if !n.status.invalid() && (c.bestHeader == nil || moreWork(n, c.bestHeader)) {
		c.bestHeader = n
	}
	return n
}

// markDataChain records that n and all its ancestors have bodies, and carries
// that on to descendants whose bodies arrived before n's; each such block is a
// candidate tip.
func (c *Chain) markDataChain(n *blockNode) {
	if n.parent != nil && !n.parent.dataChain {
		return
	}
	queue := []*blockNode{n}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		it.dataChain = true
		if !it.status.invalid() && !it.beyondPrune {
			c.candidates[it] = struct{}{}
		}
		for _, child := range it.children {
			if child.status&statusHaveData != 0 && !child.dataChain {
				queue = append(queue, child)
			}
		}
	}
}

func (c *Chain) tip() *blockNode { return c.mainChain[len(c.mainChain)-1] }

func (c *Chain) isMain(n *blockNode) bool {
	return int(n.height) < len(c.mainChain) && c.mainChain[n.height] == n
}

// bestCandidate is the valid candidate with the most work; among equals, the
// current tip or else the one seen first.
func (c *Chain) bestCandidate() *blockNode {
	best := c.tip()
	for n := range c.candidates {
		if n.status.invalid() {
			delete(c.candidates, n)
			continue
		}
		if moreWork(n, best) || (n.chainWork.Cmp(best.chainWork) == 0 && best != c.tip() && n.seq < best.seq) {
			best = n
		}
	}
	return best
}

// pruneCandidates drops candidates with less work than the tip: they can only
// matter again if the tip's branch turns out invalid, and then the candidates are
// rebuilt from the index.
func (c *Chain) pruneCandidates() {
	tip := c.tip()
	for n := range c.candidates {
		if n.status.invalid() || n.chainWork.Cmp(tip.chainWork) < 0 {
			delete(c.candidates, n)
		}
	}
	c.candidates[tip] = struct{}{}
}

func (c *Chain) rebuildCandidates() {
	clear(c.candidates)
	for _, n := range c.index {
		if n.dataChain && !n.status.invalid() && !n.beyondPrune {
			c.candidates[n] = struct{}{}
		}
	}
}

// writeGenesisState makes genesis the tip of an empty chain state. Its outputs
// are not spendable, so the UTXO set stays empty.
func writeGenesisState(txn *badger.Txn, genesis *blockNode) error {
	if err := txn.Set(key(prefixMeta, []byte(metaVersion)), be32(storeVersion)); err != nil {
		return err
	}
	if err := txn.Set(key(prefixUndo, genesis.hash[:]), encodeUndo(nil)); err != nil {
		return err
	}
	if err := txn.Set(key(prefixMeta, []byte(metaUtxoBest)), genesis.hash[:]); err != nil {
		return err
	}
	return writeTip(txn, genesis, 0)
}
