package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/pow/miner"
	"github.com/quarrychain/quarry/rpc"
)

// node owns the running parts. They start in dependency order (chain,
// mempool, miner, P2P, RPC) and stop in the reverse.
type node struct {
	cfg     *config
	log     *slog.Logger
	chain   *chain.Chain
	miner   *miner.Miner
	rpc     *rpc.Server
	metrics *http.Server

	// stopRequested is closed by the stop RPC.
	stopRequested chan struct{}
	stopOnce      sync.Once

	// cancel stops the goroutines below (the mining loop); wg waits for them.
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startNode(ctx context.Context, cfg *config, log *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: log, stopRequested: make(chan struct{})}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
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

	chainDir := filepath.Join(cfg.networkDir(), "chain")
	c, err := chain.Open(chain.Config{Params: params, Dir: chainDir, Logger: log.With("component", "chain"), Reindex: cfg.Reindex})
	if err != nil {
		return nil, err
	}
	n.chain = c
	best := c.Best()
	log.Info("chain open", "height", best.Height, "tip", best.Hash)

	n.miner = miner.New(miner.Config{
		Chain:    c,
		Template: n.blockTemplate,
		Submit:   n.submitBlock,
		Threads:  cfg.MineThreads,
		Logger:   log.With("component", "miner"),
	})
	if cfg.Mine {
		payTo, _ := params.DecodeAddress(cfg.MineAddress) // checked by loadConfig
		n.wg.Go(func() { n.miner.Run(runCtx, payTo) })
	}

	registry := rpc.NewRegistry()
	rpc.RegisterChainMethods(registry, rpc.ChainBackend{
		Chain:       c,
		ChainDir:    chainDir,
		StartTime:   time.Now(),
		SubmitBlock: n.processBlock,
		Stop:        n.requestStop,
	})
	rpc.RegisterMiningMethods(registry, rpc.MiningBackend{
		Chain:           c,
		Generate:        n.miner.MineBlocks,
		ErrMaxTries:     miner.ErrMaxTries,
		HashesPerSecond: n.miner.HashesPerSecond,
		Mining:          func() bool { return cfg.Mine },
	})
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
	n.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	n.wg.Go(func() {
		if err := n.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("metrics server", "err", err)
		}
	})
	n.log.Info("metrics listening", "addr", ln.Addr().String())
	return nil
}

func (n *node) requestStop() { n.stopOnce.Do(func() { close(n.stopRequested) }) }

// processBlock is the one path every block from outside takes: the chain, then
// the peers.
func (n *node) processBlock(b *chain.Block) (chain.ProcessResult, error) {
	return n.chain.ProcessBlock(b)
}

func (n *node) submitBlock(b *chain.Block) error {
	_, err := n.processBlock(b)
	return err
}

// blockTemplate builds a block on the tip paying to payTo.
func (n *node) blockTemplate(payTo [chain.PubKeyHashSize]byte) (*chain.Block, error) {
	best := n.chain.Best()
	height := best.Height + 1
	cb := chain.NewCoinbase(height, 0, []byte("quarry"), n.chain.Params().Subsidy(height), payTo)
	b := &chain.Block{
		Header: chain.Header{Version: 1, PrevBlock: best.Hash, Bits: best.NextBits,
			Time: uint32(max(time.Now().Unix(), best.MedianTime+1))},
		Txs: []*chain.Tx{cb},
	}
	b.Header.MerkleRoot = chain.MerkleRoot(b.WitnessHashes())
	return b, nil
}

// shutdown stops everything that started, in reverse order, and reports the
// first error.
func (n *node) shutdown() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.rpc != nil {
		errs = append(errs, n.rpc.Stop(ctx))
	}
	if n.metrics != nil {
		errs = append(errs, n.metrics.Shutdown(ctx))
	}
	n.cancel()
	n.wg.Wait()
	if n.chain != nil {
		errs = append(errs, n.chain.Close())
	}
	return errors.Join(errs...)
}
