// Package miner owns the mining loop: it takes block templates, searches their
// nonces with pow's parallel search, rolls the extra nonce in the coinbase when
// the nonces run out, and submits what it finds through the same path as any
// other block. A new tip cancels the search at once; a mempool that changed
// refreshes the template every few seconds.
package miner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/pow"
)

// Config wires a miner to the node.
type Config struct {
	Chain *chain.Chain
	// Template builds a block on the current tip paying to payTo: coinbase first,
	// with coinbase data laid out by chain.CoinbaseData.
	Template func(payTo [chain.PubKeyHashSize]byte) (*chain.Block, error)
	// Submit hands a solved block to the node (ProcessBlock and relay).
	Submit func(*chain.Block) error
	// MempoolVersion, if set, changes whenever the mempool does; the running
	// search then takes a fresh template after Refresh.
	MempoolVersion func() uint64
	Refresh        time.Duration
	Threads        int
	Logger         *slog.Logger
}

// DefaultRefresh is how often a changed mempool gets into the template.
const DefaultRefresh = 5 * time.Second

// Miner mines blocks. Run mines continuously; MineBlocks mines on demand.
type Miner struct {
	cfg      Config
	searcher *pow.Searcher
	rate     *pow.HashRate

	tipMu   sync.Mutex
	tipSubs map[chan struct{}]struct{}
	// unsubscribe ends the subscription to the chain's tip changes.
	unsubscribe func()
}

// New returns a miner and subscribes it to the chain's tip changes until
// Close.
func New(cfg Config) *Miner {
	if cfg.Refresh == 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Miner{cfg: cfg, rate: pow.NewHashRate(pow.DefaultHashRateWindow, nil), tipSubs: make(map[chan struct{}]struct{})}
	m.searcher = &pow.Searcher{Workers: cfg.Threads, Progress: m.rate.Add}
	m.unsubscribe = cfg.Chain.Subscribe(func(e chain.Event) {
		if e.Kind == chain.BlockConnected {
			m.tipChanged()
		}
	})
	return m
}

// Close ends the miner's subscription to the chain, so that a chain that
// outlives the miner stops calling it. Call it once Run and MineBlocks have
// returned; it is safe to call more than once.
func (m *Miner) Close() { m.unsubscribe() }

// HashesPerSecond is the search rate over the last minute.
func (m *Miner) HashesPerSecond() float64 { return m.rate.Rate() }

// TotalHashes is how many nonces the miner has tried since it started.
func (m *Miner) TotalHashes() uint64 { return m.rate.Total() }

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

// Run mines blocks paying to payTo until ctx is cancelled.
func (m *Miner) Run(ctx context.Context, payTo [chain.PubKeyHashSize]byte) {
	log := m.cfg.Logger
	log.Info("mining", "threads", m.cfg.Threads, "kernel", pow.SearchKernel())
	for ctx.Err() == nil {
		block, err := m.cfg.Template(payTo)
		if err != nil {
			log.Error("block template", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		found, _, err := m.solve(ctx, block, 0, true)
		if err != nil {
			log.Error("mining", "err", err)
			continue
		}
		if !found {
			continue
		}
		if err := m.cfg.Submit(block); err != nil {
			log.Warn("mined block rejected", "hash", block.Hash(), "err", err)
			continue
		}
		height, _ := chain.CoinbaseHeight(block.Txs[0])
		log.Info("mined block", "hash", block.Hash(), "height", height, "txs", len(block.Txs))
	}
}

// ErrMaxTries is returned when MineBlocks used up its nonce budget.
var ErrMaxTries = errors.New("no block found within maxtries")

// MineBlocks mines n blocks paying to payTo, one after the other, trying at most
// maxTries nonces in all (0: no limit), and returns their hashes. It serves
// generatetoaddress.
func (m *Miner) MineBlocks(ctx context.Context, n int, payTo [chain.PubKeyHashSize]byte, maxTries uint64) ([]chain.Hash, error) {
	var hashes []chain.Hash
	var tried uint64
	for len(hashes) < n {
		block, err := m.cfg.Template(payTo)
		if err != nil {
			return hashes, fmt.Errorf("block template: %w", err)
		}
		budget := uint64(0)
		if maxTries > 0 {
			if tried >= maxTries {
				return hashes, ErrMaxTries
			}
			budget = maxTries - tried
		}
		found, hashesTried, err := m.solve(ctx, block, budget, false)
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

// solve searches block's nonce space, rolling the extra nonce in its coinbase
// and refreshing the time whenever the space runs out, until a nonce meets the
// target (block is then solved in place), the tip changes, the mempool changed
// and refresh is set, ctx ends, or maxTries (when not 0) nonces were tried.
func (m *Miner) solve(ctx context.Context, block *chain.Block, maxTries uint64, refresh bool) (bool, uint64, error) {
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
		block.Header.Time = max(block.Header.Time, uint32(time.Now().Unix()))
		header := block.Header.Encode()
		var res pow.SearchResult
		if maxTries > 0 {
			res = m.searcher.SearchRange(searchCtx, &header, &targetBytes, 0, min(maxTries-tried, pow.NonceSpace))
		} else {
			res = m.searcher.Search(searchCtx, &header, &targetBytes)
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
