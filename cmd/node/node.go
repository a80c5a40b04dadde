package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/mempool/fees"
	"github.com/quarrychain/quarry/p2p"
	"github.com/quarrychain/quarry/pow/miner"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/methods"
	"github.com/quarrychain/quarry/rpc/web"
)

// node owns the running parts. They start in dependency order (chain,
// mempool, miner, P2P, RPC) and stop in the reverse.
type node struct {
	cfg   *config
	log   *slog.Logger
	chain *blockchain.Chain
	// txIndex and addrIndex are the chain's indexes, nil when turned off.
	txIndex   *indexers.TxIndex
	addrIndex *indexers.AddrIndex
	pool      *mempool.Pool
	fees      *fees.Estimator
	miner     *miner.Miner
	net       *p2p.Node
	rpc       *rpc.Server
	// stopFees ends the fee estimator's subscriptions to the chain and pool;
	// stopFeesSaver its periodic saves; stopRPCPool the RPC methods'
	// subscription to the mempool.
	stopFees      func()
	stopFeesSaver func()
	stopRPCPool   func()
	metrics       *http.Server
	metricsAddr   net.Addr
	stats         *nodeMetrics
	web           *web.Server
	notifier      *web.BlockNotifier
	// unsubscribe ends the chain subscriptions of the web server and notifier.
	unsubscribe []func()

	// poolVersion counts mempool changes, so the miner knows when its template
	// is stale.
	poolVersion atomic.Uint64

	// stopRequested is closed by the stop RPC.
	stopRequested chan struct{}
	stopOnce      sync.Once

	// wg waits for the metrics server's goroutine.
	wg sync.WaitGroup
}

func startNode(ctx context.Context, cfg *config, log *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: log, stopRequested: make(chan struct{})}
	started := false
	defer func() {
		if !started {
			n.shutdown()
		}
	}()
	params := cfg.params
	log.Info("starting Quarry node", "network", params.Name, "datadir", cfg.networkDir())

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The gauges read the parts only when scraped, after they all started.
	n.stats = newNodeMetrics(reg, n)

	chainDir, indexDir := filepath.Join(cfg.networkDir(), "chain"), filepath.Join(cfg.networkDir(), "indexes")
	var indexes []blockchain.Indexer
	if cfg.TxIndex {
		n.txIndex = indexers.NewTxIndex()
		indexes = append(indexes, n.txIndex)
	}
	if cfg.AddrIndex {
		n.addrIndex = indexers.NewAddrIndex()
		indexes = append(indexes, n.addrIndex)
	}
	c, err := blockchain.Open(blockchain.Config{Params: params, Dir: chainDir, IndexDir: indexDir, Logger: log.With("component", "chain"), Reindex: cfg.Reindex, ReindexChainState: cfg.ReindexChain,
		DBCacheBytes: int64(cfg.DBCacheMiB) << 20, Indexers: indexes, AssumeValid: cfg.assumeValid(), PruneTargetBytes: cfg.pruneTargetBytes()})
	if err != nil {
		return nil, err
	}
	n.chain = c
	best := c.Best()
	log.Info("chain open", "height", best.Height, "tip", best.Hash)

	n.pool, err = mempool.New(mempool.Config{
		Chain:           c,
		TxIndex:         n.txIndex,
		Logger:          log.With("component", "mempool"),
		MinRelayFeeRate: mempool.FeeRatePerByte(cfg.MinRelayFee),
		MaxUsage:        int64(cfg.MaxMempoolMB) * 1_000_000,
		BlockMaxSize:    cfg.BlockMaxSize,
	})
	if err != nil {
		return nil, err
	}
	n.pool.Subscribe(func(e mempool.Event) {
		n.poolVersion.Add(1)
		if e.Kind == mempool.TxAdded {
			n.stats.txsAccepted.Inc()
		}
	})
	// The estimator follows the pool before the mempool file loads, as
	// Core's does; what loads before the first block is not counted.
	n.fees = fees.New()
	switch err := n.fees.Load(n.feesFile()); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.Warn("fee estimates file not loaded; estimating from scratch", "path", n.feesFile(), "err", err)
	}
	n.stopFees = n.fees.Follow(c, n.pool)
	saveInterval := cfg.feesSaveInterval
	if saveInterval == 0 {
		saveInterval = fees.SaveInterval
	}
	n.stopFeesSaver = n.fees.SaveEvery(n.feesFile(), saveInterval, log.With("component", "fees"))
	switch stats, err := n.pool.Load(n.mempoolFile()); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.Warn("mempool file not loaded; starting empty", "path", n.mempoolFile(), "err", err)
	default:
		log.Info("mempool loaded", "stats", fmt.Sprintf("%+v", stats))
	}

	n.miner = miner.New(miner.Config{
		Chain:          c,
		Template:       n.blockTemplate,
		Submit:         n.submitBlock,
		MempoolVersion: n.poolVersion.Load,
		Threads:        cfg.MineThreads,
		// The loop starts only once the network below is up.
		InitialBlockDownload: func() bool { return n.net.IsInitialBlockDownload() },
		Logger:               log.With("component", "miner"),
	})
	n.net, err = p2p.New(ctx, p2p.Config{
		Chain:       c,
		TxPool:      peerTxs{n},
		Logger:      log.With("component", "p2p"),
		KeyFile:     filepath.Join(cfg.networkDir(), "p2p.key"),
		BanFile:     filepath.Join(cfg.networkDir(), "banlist.json"),
		ListenAddrs: cfg.P2PListen,
		Connect:     cfg.Connect,
		MDNS:        cfg.MDNS,
		DHT:         cfg.DHT,
		Bootstrap:   cfg.Bootstrap,
		Registerer:  reg,
	})
	if err != nil {
		return nil, fmt.Errorf("start P2P: %w", err)
	}
	if err := n.net.Start(); err != nil {
		return nil, fmt.Errorf("start P2P: %w", err)
	}
	for _, addr := range n.net.LocalAddrs() {
		log.Info("P2P listening", "addr", addr)
	}
	// Transactions back from a disconnected block are announced again: peers
	// that were on the winning branch may never have seen them.
	n.pool.Subscribe(func(e mempool.Event) {
		if e.Kind == mempool.TxAdded && e.Reason == mempool.ReasonReorg {
			n.relayTx(e.Tx)
		}
	})
	// Mining starts only now: a block found at once (testnet's easy first
	// blocks) is published, so the network must be up.
	if cfg.MineAddress != "" {
		payTo, _ := params.DecodeAddress(cfg.MineAddress) // checked by loadConfig
		n.miner.SetPayTo(payTo)
	}
	if cfg.Mine {
		if err := n.miner.SetGenerate(true, 0); err != nil {
			return nil, fmt.Errorf("start mining: %w", err)
		}
	}

	registry := rpc.NewRegistry()
	methods.RegisterChain(registry, methods.ChainBackend{
		Chain:       c,
		TxIndex:     n.txIndex,
		AddrIndex:   n.addrIndex,
		ChainDir:    chainDir,
		StartTime:   time.Now(),
		SubmitBlock: n.processBlock,
		Stop:        n.requestStop,
		Sync:        n.syncState,
		Mempool:     n.pool,
	})
	n.stopRPCPool = methods.RegisterMempool(registry, methods.MempoolBackend{Pool: n.pool, Chain: c, Relay: n.relayTx,
		IsInitialBlockDownload: n.net.IsInitialBlockDownload, PeerCount: n.net.ConnectionCount, Fees: n.fees})
	methods.RegisterNetwork(registry, methods.NetworkBackend{Net: n.net, RelayFee: cfg.MinRelayFee})
	methods.RegisterMining(registry, methods.MiningBackend{Chain: c, Miner: n.miner, Blocks: n, Pool: n.pool})
	n.rpc, err = rpc.NewServer(registry, rpc.Config{
		Addr:       cfg.RPCListen,
		CookiePath: filepath.Join(cfg.networkDir(), ".cookie"),
		User:       cfg.RPCUser,
		Password:   cfg.RPCPassword,
		Metrics:    reg,
		Logger:     log.With("component", "rpc"),
	})
	if err != nil {
		return nil, err
	}
	if err := n.rpc.Start(ctx); err != nil {
		return nil, fmt.Errorf("start RPC server on %s: %w", cfg.RPCListen, err)
	}
	log.Info("RPC cookie written", "path", filepath.Join(cfg.networkDir(), ".cookie"))

	if cfg.MetricsListen != "" {
		if err := n.startMetrics(reg); err != nil {
			return nil, err
		}
	}
	if err := n.startWeb(registry); err != nil {
		return nil, err
	}
	started = true
	return n, nil
}

func (n *node) startMetrics(reg *prometheus.Registry) error {
	ln, err := net.Listen("tcp", n.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("metrics listener on %s: %w", n.cfg.MetricsListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Go's profiler beside the metrics, as etcd and Prometheus serve it: what
	// an operator asks of a node that is slow. Profiles hold stacks and
	// counts, never keys or wallet data.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	n.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	n.metricsAddr = ln.Addr()
	n.wg.Go(func() {
		if err := n.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("metrics server", "err", err)
		}
	})
	n.log.Info("metrics listening", "addr", ln.Addr().String())
	return nil
}

// startWeb starts --blocknotify's runner and the explorer, REST and events
// server, each when configured. Both hear of blocks from the chain's
// subscription, which only queues work, so neither slows block connection.
func (n *node) startWeb(registry *rpc.Registry) error {
	if n.cfg.BlockNotify != "" {
		notifier, err := web.NewBlockNotifier(n.cfg.BlockNotify, web.DefaultNotifyTimeout, n.log.With("component", "blocknotify"))
		if err != nil {
			return err
		}
		n.notifier = notifier
		n.unsubscribe = append(n.unsubscribe, n.chain.Subscribe(notifier.ChainEvent))
	}
	if n.cfg.WebListen == "" {
		return nil
	}
	srv, err := web.New(web.Config{
		Chain:     n.chain,
		TxIndex:   n.txIndex,
		AddrIndex: n.addrIndex,
		Mempool:   n.pool,
		RPC:       registry,
		Network:   n.net,
		Logger:    n.log.With("component", "web"),
	})
	if err != nil {
		return err
	}
	if err := srv.Start(n.cfg.WebListen); err != nil {
		return err
	}
	n.web = srv
	n.unsubscribe = append(n.unsubscribe, n.chain.Subscribe(srv.ChainEvent))
	n.pool.Subscribe(srv.MempoolEvent)
	n.log.Info("web interface listening", "url", "http://"+srv.Addr().String()+"/")
	return nil
}

func (n *node) requestStop() { n.stopOnce.Do(func() { close(n.stopRequested) }) }

// processBlock is the one path every block from RPC and the miner takes: the
// chain, then the peers. Blocks from peers are relayed by gossip itself.
func (n *node) processBlock(b *chain.Block) (blockchain.ProcessResult, error) {
	res, err := n.chain.ProcessBlock(b)
	n.countBlock(err)
	if err == nil && res.MainChain {
		if perr := n.net.PublishBlock(b); perr != nil {
			n.log.Warn("publish block", "hash", res.Hash, "err", perr)
		}
	}
	return res, err
}

func (n *node) syncState() methods.SyncState {
	p := n.net.SyncProgress()
	return methods.SyncState{Headers: p.HeaderHeight, InitialBlockDownload: p.InitialBlockDownload, VerificationProgress: p.Progress}
}

func (n *node) submitBlock(b *chain.Block) error {
	_, err := n.processBlock(b)
	return err
}

// blockTemplate builds a block on the tip, filled from the mempool, paying to payTo.
func (n *node) blockTemplate(payTo [chain.PubKeyHashSize]byte) (*chain.Block, error) {
	t, err := n.pool.BlockTemplate(payTo, 0, []byte("quarry"))
	if err != nil {
		return nil, err
	}
	return t.Block, nil
}

func (n *node) countBlock(err error) {
	var re *chain.RuleError
	switch {
	case err == nil:
		n.stats.blocksAccepted.Inc()
	case errors.As(err, &re) && !errors.Is(err, chain.ErrDuplicateBlock):
		n.stats.blocksRejected.Inc()
	}
}

// relayTx publishes a transaction the mempool accepted from RPC.
func (n *node) relayTx(tx *chain.Tx) {
	if err := n.net.PublishTx(tx); err != nil {
		n.log.Warn("publish transaction", "txid", tx.TxID(), "err", err)
	}
}

func (n *node) mempoolFile() string { return filepath.Join(n.cfg.networkDir(), "mempool.dat") }

func (n *node) feesFile() string { return filepath.Join(n.cfg.networkDir(), "fee_estimates.dat") }

// peerTxs hands transactions from peers to the mempool. Its errors keep the
// mempool's chain: p2p reads the rule broken, if any, in chain's rule table to
// decide whether the sender is to blame. An orphan, though kept, is reported
// as an error so gossip ignores it instead of relaying it.
type peerTxs struct{ n *node }

// errOrphanHeld tells p2p that a transaction waits in the orphan pool: not
// the sender's fault (it may know the parents), and not to be relayed.
var errOrphanHeld = errors.New("orphan transaction held until its parents arrive")

func (p peerTxs) Accept(tx *chain.Tx, from string) error {
	res, err := p.n.pool.Accept(tx, mempool.PeerID(from))
	if err != nil {
		p.n.stats.txsRejected.Inc()
		return fmt.Errorf("not accepted: %w", err)
	}
	if res.Orphan {
		// Held for its parents but not relayed: until they arrive nothing
		// about it, its signatures included, has been checked.
		return errOrphanHeld
	}
	// Gossip relays tx itself once this returns; orphans it released are new
	// to the network's view from here and are published by the node.
	for _, txid := range res.Resolved {
		if child, ok := p.n.pool.Get(txid); ok {
			p.n.relayTx(child)
		}
	}
	return nil
}

// shutdown stops everything that started, in reverse order, and reports the
// first error.
func (n *node) shutdown() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, unsubscribe := range n.unsubscribe {
		unsubscribe()
	}
	if n.web != nil {
		errs = append(errs, n.web.Stop(ctx))
	}
	if n.notifier != nil {
		n.notifier.Close()
	}
	if n.rpc != nil {
		errs = append(errs, n.rpc.Stop(ctx))
	}
	if n.stopRPCPool != nil {
		n.stopRPCPool()
	}
	if n.metrics != nil {
		// A scrape finishes in milliseconds, but a profile being taken runs
		// for as long as asked: it is cut off rather than waited for.
		if err := n.metrics.Shutdown(ctx); err != nil {
			n.log.Info("metrics server closed with a request still running", "err", err)
			n.metrics.Close()
		}
	}
	if n.miner != nil {
		n.miner.Close()
	}
	n.wg.Wait()
	if n.net != nil {
		errs = append(errs, n.net.Close())
	}
	if n.fees != nil {
		n.stopFees()
		n.stopFeesSaver()
		if err := n.fees.Save(n.feesFile()); err != nil {
			errs = append(errs, err)
		}
	}
	if n.pool != nil {
		if err := n.pool.Save(n.mempoolFile()); err != nil {
			errs = append(errs, fmt.Errorf("save mempool: %w", err))
		}
		n.pool.Close()
	}
	if n.chain != nil {
		errs = append(errs, n.chain.Close())
	}
	return errors.Join(errs...)
}
