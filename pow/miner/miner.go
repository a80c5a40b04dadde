// Package miner owns the mining loop: it takes block templates, searches their
// nonces with pow's parallel search, rolls the extra nonce in the coinbase when
// the nonces run out, and submits what it finds through the same path as any
// other block. A new tip cancels the search at once; a mempool that changed
// refreshes the template every few seconds. The loop is started, stopped and
// re-pointed (threads, address) at run time; it never builds a block its own
// node would refuse for its time, waits while the node catches up with the
// network, and on a chain whose difficulty never changes (regtest) paces itself
// to a few blocks a second.
package miner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/pow"
)

// Config wires a miner to the node.
type Config struct {
	Chain *blockchain.Chain
	// Template builds a block on the current tip paying to payTo: coinbase first,
	// with coinbase data laid out by chain.CoinbaseData, and a time of at least
	// the median time past + 1.
	Template func(payTo [chain.PubKeyHashSize]byte) (*chain.Block, error)
	// Submit hands a solved block to the node (ProcessBlock and relay).
	Submit func(*chain.Block) error
	// MempoolVersion, if set, changes whenever the mempool does; the running
	// search then takes a fresh template after Refresh.
	MempoolVersion func() uint64
	Refresh        time.Duration
	// Threads is how many nonce-search workers the loop starts with; 0 or less
	// means one per CPU. SetGenerate changes it.
	Threads int
	// MinBlockInterval is the least time the mining loop leaves between two
	// blocks it finds. 0 means RegtestBlockInterval on a chain whose difficulty
	// never changes, where every nonce nearly solves a block, and no pause
	// elsewhere.
	MinBlockInterval time.Duration
	// Now is the clock block times are checked against, as the chain's; nil
	// means time.Now.
	Now func() time.Time
	// InitialBlockDownload, if set, reports whether the node is still
	// catching up with blocks whose headers it has; the mining loop waits
	// meanwhile, as btcd's does, instead of mining forks of an old tip.
	// MineBlocks and MineBlock, asked for explicitly, do not wait.
	InitialBlockDownload func() bool
	Logger               *slog.Logger
}

// DefaultRefresh is how often a changed mempool gets into the template.
const DefaultRefresh = 5 * time.Second

// RegtestBlockInterval paces continuous mining on regtest to four blocks a
// second. Faster, each block's time (which must pass the median of the last
// eleven) runs ahead of the clock until blocks are refused as too far in the
// future; at this pace it stays within seconds of the clock.
const RegtestBlockInterval = 250 * time.Millisecond

// Errors of the run-time controls.
var (
	ErrNoPayTo = errors.New("no mining address set")
	ErrClosed  = errors.New("miner closed")
)

// Miner mines blocks: continuously in its mining loop, which SetGenerate starts
// and stops, and on demand with MineBlocks and MineBlock. Its methods are safe
// for concurrent use.
type Miner struct {
	cfg  Config
	rate *pow.HashRate

	tipMu   sync.Mutex
	tipSubs map[chan struct{}]struct{}

	// mu guards the loop's settings and its lifetime.
	mu       sync.Mutex
	threads  int
	payTo    [chain.PubKeyHashSize]byte
	hasPayTo bool
	stopLoop context.CancelFunc // nil when the loop is not running
	loopDone chan struct{}      // closed when the running loop has returned
	closed   bool
	// unsubscribe ends the subscription to the chain's tip changes.
	unsubscribe func()
}

// New returns a miner, with its loop stopped, and subscribes it to the chain's
// tip changes until Close.
func New(cfg Config) *Miner {
	if cfg.Refresh == 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MinBlockInterval == 0 && cfg.Chain.Params().RetargetInterval == 0 {
		cfg.MinBlockInterval = RegtestBlockInterval
	}
	if cfg.Threads <= 0 {
		cfg.Threads = runtime.NumCPU()
	}
	m := &Miner{cfg: cfg, rate: pow.NewHashRate(pow.DefaultHashRateWindow, nil), tipSubs: make(map[chan struct{}]struct{}), threads: cfg.Threads}
	m.unsubscribe = cfg.Chain.Subscribe(func(e blockchain.Event) {
		if e.Kind == blockchain.BlockConnected {
			m.tipChanged()
		}
	})
	return m
}

// HashesPerSecond is the search rate over the last minute.
func (m *Miner) HashesPerSecond() float64 { return m.rate.Rate() }

// TotalHashes is how many nonces the miner has tried since it started.
func (m *Miner) TotalHashes() uint64 { return m.rate.Total() }

// Kernel names the hashing code the searches run (see pow.SearchKernel).
func (m *Miner) Kernel() string { return pow.SearchKernel() }

// Threads is how many search workers the loop runs, or would run if started.
func (m *Miner) Threads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.threads
}

// Generating reports whether the mining loop runs.
func (m *Miner) Generating() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopLoop != nil
}

// SetPayTo sets the address the loop pays to. A running loop drops its
// template and builds the next on the new address at once.
func (m *Miner) SetPayTo(payTo [chain.PubKeyHashSize]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := !m.hasPayTo || m.payTo != payTo
	m.payTo, m.hasPayTo = payTo, true
	if changed && m.stopLoop != nil {
		m.stop()
		m.start()
	}
}

// SetGenerate starts (on) or stops the mining loop, with threads search
// workers if threads > 0 (otherwise as many as before). A running loop given a
// new thread count restarts with it. Stopping returns once the loop has: its
// search stops within some milliseconds. Starting needs an address (SetPayTo).
func (m *Miner) SetGenerate(on bool, threads int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := threads > 0 && threads != m.threads
	if threads > 0 {
		m.threads = threads
	}
	switch {
	case !on:
		m.stop()
		return nil
	case m.closed:
		return ErrClosed
	case !m.hasPayTo:
		return ErrNoPayTo
	case m.stopLoop != nil && !changed:
		return nil
	}
	m.stop()
	m.start()
	return nil
}

// Close stops the mining loop for good, waits for it and ends the
// subscription to the chain; it is safe to call more than once.
func (m *Miner) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	m.stop()
	m.unsubscribe()
}

// start runs the loop with the current settings. The caller holds mu.
func (m *Miner) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m.stopLoop, m.loopDone = cancel, done
	payTo, threads := m.payTo, m.threads
	go func() {
		defer close(done)
		m.run(ctx, payTo, threads)
	}()
}

// stop ends the loop, if it runs, and waits for it. The caller holds mu; the
// loop never takes it.
func (m *Miner) stop() {
	if m.stopLoop == nil {
		return
	}
	m.stopLoop()
	<-m.loopDone
	m.stopLoop, m.loopDone = nil, nil
}

// kernelChoice is whether the search kernels have been timed in this process.
var kernelChoice struct {
	sync.Mutex
	done bool
}

// chooseKernel times the search kernels the CPU supports, once per process,
// and logs which one mining uses and why. If ctx ends first (mining stopped
// within the fraction of a second the timing takes), the next search times
// them instead.
func (m *Miner) chooseKernel(ctx context.Context) {
	kernelChoice.Lock()
	defer kernelChoice.Unlock()
	if kernelChoice.done {
		return
	}
	timings, err := pow.ChooseKernel(ctx, 200*time.Millisecond)
	if err != nil {
		return
	}
	kernelChoice.done = true
	rates := make([]any, 0, len(timings))
	for _, t := range timings {
		rates = append(rates, slog.String(t.Kernel, fmt.Sprintf("%.1f MH/s", t.Rate/1e6)))
	}
	m.cfg.Logger.Info("search kernel chosen", "kernel", pow.SearchKernel(),
		"why", "fastest of the kernels this CPU supports, timed on one core",
		slog.Group("rates", rates...))
}

func (m *Miner) searcher(threads int) *pow.Searcher {
	return &pow.Searcher{Workers: threads, Progress: m.rate.Add}
}

func (m *Miner) tipChanged() {
	m.tipMu.Lock()
	defer m.tipMu.Unlock()
	for ch := range m.tipSubs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (m *Miner) watchTip() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.tipMu.Lock()
	m.tipSubs[ch] = struct{}{}
	m.tipMu.Unlock()
	return ch, func() {
		m.tipMu.Lock()
		delete(m.tipSubs, ch)
		m.tipMu.Unlock()
	}
}

// run mines blocks paying to payTo until ctx is cancelled.
func (m *Miner) run(ctx context.Context, payTo [chain.PubKeyHashSize]byte, threads int) {
	log := m.cfg.Logger
	m.chooseKernel(ctx)
	log.Info("mining started", "threads", threads, "kernel", pow.SearchKernel())
	defer log.Info("mining stopped")
	s := m.searcher(threads)
	var lastFound time.Time
	waitedForSync := false
	for ctx.Err() == nil {
		if wait := m.cfg.MinBlockInterval - time.Since(lastFound); wait > 0 {
			sleep(ctx, wait)
			continue
		}
		if m.cfg.InitialBlockDownload != nil && m.cfg.InitialBlockDownload() {
			if !waitedForSync {
				log.Info("waiting for the initial block download to end before mining")
				waitedForSync = true
			}
			sleep(ctx, syncPoll)
			continue
		}
		waitedForSync = false
		block, err := m.cfg.Template(payTo)
		if err != nil {
			log.Error("block template", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		if !m.waitForClock(ctx, block) {
			continue
		}
		found, _, err := m.solve(ctx, s, block, 0, true)
		if err != nil {
			log.Error("mining", "err", err)
			continue
		}
		if !found {
			continue
		}
		err = m.cfg.Submit(block)
		lastFound = time.Now()
		if err != nil {
			log.Warn("mined block rejected", "hash", block.Hash(), "err", err)
			continue
		}
		height, _ := chain.CoinbaseHeight(block.Txs[0])
		log.Info("mined block", "hash", block.Hash(), "height", height, "txs", len(block.Txs))
	}
}

// syncPoll is how often a loop waiting for the initial block download to end
// asks whether it has.
const syncPoll = 500 * time.Millisecond

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// waitForClock holds a block whose time is more than chain.MaxFutureBlockTime
// ahead of the clock (its time must pass the median time past, which a fast
// miner pushes ahead) until the clock catches up, so the node never refuses the
// block as too new. It returns false without waiting it all if the tip changes
// (the template is then stale) or ctx ends, and after a second at most, so a
// long wait still builds fresh templates.
func (m *Miner) waitForClock(ctx context.Context, block *chain.Block) bool {
	ahead := time.Unix(int64(block.Header.Time)-chain.MaxFutureBlockTime, 0).Sub(m.cfg.Now())
	if ahead <= 0 {
		return true
	}
	m.cfg.Logger.Debug("block time too far ahead of the clock; waiting", "time", block.Header.Time, "wait", ahead)
	tip, unwatch := m.watchTip()
	defer unwatch()
	t := time.NewTimer(min(ahead, time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-tip:
	case <-t.C:
	}
	return false
}

// ErrMaxTries is returned when MineBlocks used up its nonce budget.
var ErrMaxTries = errors.New("no block found within maxtries")

// MineBlocks mines n blocks paying to payTo, one after the other, trying at most
// maxTries nonces in all (0: no limit), and returns their hashes. It serves
// generatetoaddress.
func (m *Miner) MineBlocks(ctx context.Context, n int, payTo [chain.PubKeyHashSize]byte, maxTries uint64) ([]chain.Hash, error) {
	m.chooseKernel(ctx)
	s := m.searcher(m.Threads())
	var hashes []chain.Hash
	var tried uint64
	for len(hashes) < n {
		block, err := m.cfg.Template(payTo)
		if err != nil {
			return hashes, fmt.Errorf("block template: %w", err)
		}
		if !m.waitForClock(ctx, block) {
			if ctx.Err() != nil {
				return hashes, ctx.Err()
			}
			continue
		}
		budget := uint64(0)
		if maxTries > 0 {
			if tried >= maxTries {
				return hashes, ErrMaxTries
			}
			budget = maxTries - tried
		}
		found, hashesTried, err := m.solve(ctx, s, block, budget, false)
		tried += hashesTried
		if err != nil {
			return hashes, err
		}
		if !found {
			if ctx.Err() != nil {
				return hashes, ctx.Err()
			}
			if maxTries > 0 && tried >= maxTries {
				return hashes, ErrMaxTries
			}
			continue // the tip moved: mine on the new one
		}
		if err := m.cfg.Submit(block); err != nil {
			return hashes, fmt.Errorf("submit mined block: %w", err)
		}
		hashes = append(hashes, block.Hash())
	}
	return hashes, nil
}

// ErrStaleTip is returned by MineBlock when the tip moved before the block was
// solved: it no longer extends the best chain.
var ErrStaleTip = errors.New("the tip changed while the block was mined")

// MineBlock solves block, a block on the current tip laid out as Template's,
// and submits it; it serves generateblock, whose caller chooses the
// transactions.
func (m *Miner) MineBlock(ctx context.Context, block *chain.Block) (chain.Hash, error) {
	m.chooseKernel(ctx)
	for !m.waitForClock(ctx, block) {
		if ctx.Err() != nil {
			return chain.Hash{}, ctx.Err()
		}
		if block.Header.PrevBlock != m.cfg.Chain.Best().Hash {
			return chain.Hash{}, ErrStaleTip
		}
	}
	found, _, err := m.solve(ctx, m.searcher(m.Threads()), block, 0, false)
	switch {
	case err != nil:
		return chain.Hash{}, err
	case !found && ctx.Err() != nil:
		return chain.Hash{}, ctx.Err()
	case !found:
		return chain.Hash{}, ErrStaleTip
	}
	if err := m.cfg.Submit(block); err != nil {
		return chain.Hash{}, fmt.Errorf("submit mined block: %w", err)
	}
	return block.Hash(), nil
}

// solve searches block's nonce space, rolling the extra nonce in its coinbase
// and refreshing the time whenever the space runs out, until a nonce meets the
// target (block is then solved in place), the tip changes, the mempool changed
// and refresh is set, ctx ends, or maxTries (when not 0) nonces were tried.
func (m *Miner) solve(ctx context.Context, s *pow.Searcher, block *chain.Block, maxTries uint64, refresh bool) (bool, uint64, error) {
	cb := block.Txs[0]
	if !cb.IsCoinbase() || len(cb.Inputs[0].Witness) != 1 || len(cb.Inputs[0].Witness[0]) < chain.CoinbaseExtraNonceOffset+8 {
		return false, 0, errors.New("template coinbase has no room for an extra nonce")
	}
	target, err := pow.Target(block.Header.Bits, m.cfg.Chain.Params().PowLimit)
	if err != nil {
		return false, 0, fmt.Errorf("template bits: %w", err)
	}
	targetBytes := pow.TargetBytes(target)
	leaves := block.WitnessHashes()
	branch := chain.MerkleBranch(leaves)

	tip, unwatch := m.watchTip()
	defer unwatch()
	var version uint64
	if m.cfg.MempoolVersion != nil {
		version = m.cfg.MempoolVersion()
	}
	searchCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() {
		ticker := time.NewTicker(m.cfg.Refresh)
		defer ticker.Stop()
		for {
			select {
			case <-searchCtx.Done():
				return
			case <-tip:
				cancel()
				return
			case <-ticker.C:
				if refresh && m.cfg.MempoolVersion != nil && m.cfg.MempoolVersion() != version {
					cancel()
					return
				}
			}
		}
	})

	data := cb.Inputs[0].Witness[0]
	extra := binary.LittleEndian.Uint64(data[chain.CoinbaseExtraNonceOffset:])
	var tried uint64
	for {
		binary.LittleEndian.PutUint64(data[chain.CoinbaseExtraNonceOffset:], extra)
		block.Header.MerkleRoot = chain.MerkleRootFromBranch(cb.WitnessHash(), branch)
		block.Header.Time = max(block.Header.Time, uint32(m.cfg.Now().Unix()))
		header := block.Header.Encode()
		var res pow.SearchResult
		if maxTries > 0 {
			res = s.SearchRange(searchCtx, &header, &targetBytes, 0, min(maxTries-tried, pow.NonceSpace))
		} else {
			res = s.Search(searchCtx, &header, &targetBytes)
		}
		tried += res.Hashes
		if res.Found {
			block.Header.Nonce = res.Nonce
			return true, tried, nil
		}
		if searchCtx.Err() != nil || (maxTries > 0 && tried >= maxTries) {
			return false, tried, nil
		}
		extra++
	}
}
