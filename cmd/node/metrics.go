package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// nodeMetrics are the counters the node bumps as it validates; the gauges read
// the parts' state when scraped, and the RPC server and libp2p add their own
// series to the same registry.
type nodeMetrics struct {
	blocksAccepted prometheus.Counter
	blocksRejected prometheus.Counter
	txsAccepted    prometheus.Counter
	txsRejected    prometheus.Counter
}

func newNodeMetrics(reg prometheus.Registerer, n *node) *nodeMetrics {
	gauge := func(name, help string, read func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "quarry", Name: name, Help: help}, read))
	}
	gauge("chain_height", "Height of the main chain's tip.", func() float64 { return float64(n.chain.Best().Height) })
	gauge("chain_headers", "Height of the best known header.", func() float64 { return float64(n.chain.BestHeaderHeight()) })
	gauge("peers", "Connected peers.", func() float64 { return float64(n.net.ConnectionCount()) })
	gauge("mempool_transactions", "Transactions in the mempool.", func() float64 { return float64(n.pool.Info().Count) })
	gauge("mempool_bytes", "Encoded size of the mempool's transactions.", func() float64 { return float64(n.pool.Info().Bytes) })
	gauge("miner_hashes_per_second", "The node's nonce search rate over the last minute.", func() float64 { return n.miner.HashesPerSecond() })
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "quarry", Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	return &nodeMetrics{
		blocksAccepted: counter("blocks_accepted_total", "Blocks that passed validation and were stored."),
		blocksRejected: counter("blocks_rejected_total", "Blocks that broke a consensus rule."),
		txsAccepted:    counter("txs_accepted_total", "Transactions accepted into the mempool."),
		txsRejected:    counter("txs_rejected_total", "Transactions the mempool refused."),
	}
}
