package main

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/mempool"
)

// A peer's transaction whose inputs are unknown is held as an orphan but
// never reported accepted: gossip would relay it to the whole mesh unchecked
// (its signature, over nothing here, cannot be verified without the outputs it spends). Nor is
// it the peer's fault, so the error must not be a rule error.
func TestPeerOrphanIsHeldNotRelayed(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pool, err := mempool.New(mempool.Config{Chain: c, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	n := &node{chain: c, pool: pool, log: log}
	n.stats = newNodeMetrics(prometheus.NewRegistry(), n)

	key, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	junk := &chain.Tx{
		Version: 1,
		Inputs: []chain.TxIn{{
			PrevOut: chain.OutPoint{TxID: chain.Hash{1, 2, 3}, Index: 0},
			Witness: [][]byte{key.PubKey().SerializeCompressed(), ecdsa.Sign(key, make([]byte, 32)).Serialize()},
		}},
		Outputs: []chain.TxOut{{Value: 1000}},
	}
	err = peerTxs{n}.Accept(junk, "12D3KooWJunk")
	if err == nil {
		t.Fatal("an orphan from a peer was reported accepted, so gossip would relay it")
	}
	var rerr *chain.RuleError
	if errors.As(err, &rerr) {
		t.Fatalf("an orphan is not the sender's fault, got rule error %v", err)
	}
	if !pool.HaveOrphan(junk.TxID()) {
		t.Fatal("the orphan was not held for its parents")
	}
}
