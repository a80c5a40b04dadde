package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/methods"
	"github.com/quarrychain/quarry/rpc/rpcclient"
)

const regtestAddr = "rqry1qw508d6qejxtdg4y5r3zarvary0c5xw7kd8r7hw"

// startRegtestNode starts a regtest node that does not mine and returns it
// with an RPC client; it is stopped when the test ends.
func startRegtestNode(t *testing.T) (*node, *rpcclient.Client) {
	t.Helper()
	cfg, err := loadConfig([]string{"--network", "regtest", "--datadir", t.TempDir(),
		"--rpc-listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--mine-threads", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.shutdown(); err != nil {
			t.Error(err)
		}
	})
	return n, rpcclient.NewClient("http://"+n.rpc.Addr().String(), rpcclient.WithCookieFile(n.cfg.networkDir()+"/.cookie"))
}

func call(t *testing.T, c *rpcclient.Client, method string, params []any, out any) {
	t.Helper()
	if err := c.Call(t.Context(), method, params, out); err != nil {
		t.Fatalf("%s %v: %v", method, params, err)
	}
}

func callErr(t *testing.T, c *rpcclient.Client, method string, params []any, code int) {
	t.Helper()
	err := c.Call(t.Context(), method, params, nil)
	var e *rpc.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s %v: %v, want error code %d", method, params, err, code)
	}
}

func waitHeight(t *testing.T, n *node, h int32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.chain.Best().Height < h {
		if time.Now().After(deadline) {
			t.Fatalf("height %d after 30 s, want %d", n.chain.Best().Height, h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMiningControlOverRPC drives a running node's miner as an operator would:
// setgenerate refuses to start without an address, then starts and stops the
// loop after setminingaddress, getgenerate and getmininginfo follow, and all
// without a restart.
func TestMiningControlOverRPC(t *testing.T) {
	n, c := startRegtestNode(t)
	var on bool
	call(t, c, "getgenerate", nil, &on)
	if on {
		t.Fatal("getgenerate true on a node started without --mine")
	}
	callErr(t, c, "setgenerate", []any{true}, rpc.CodeMisc)
	callErr(t, c, "setminingaddress", []any{"qry1notanaddress"}, rpc.CodeInvalidAddressOrKey)
	callErr(t, c, "setgenerate", []any{true, -2}, rpc.CodeInvalidParameter)
	call(t, c, "setminingaddress", []any{regtestAddr}, nil)
	call(t, c, "setgenerate", []any{true, 1}, nil)
	call(t, c, "getgenerate", nil, &on)
	if !on {
		t.Fatal("getgenerate false after setgenerate true")
	}
	waitHeight(t, n, 2)
	var info methods.MiningInfo
	call(t, c, "getmininginfo", nil, &info)
	if !info.Generate || info.Threads != 1 || info.Kernel == "" {
		t.Errorf("getmininginfo while mining: %+v", info)
	}
	call(t, c, "setgenerate", []any{false}, nil)
	call(t, c, "getgenerate", nil, &on)
	if on {
		t.Fatal("getgenerate true after setgenerate false")
	}
	// genproclimit 0 stops as false does, whatever generate says.
	call(t, c, "setgenerate", []any{true, 0}, nil)
	call(t, c, "getgenerate", nil, &on)
	if on {
		t.Fatal("getgenerate true after setgenerate true 0")
	}
}

// spendableChain gives n a chain of CoinbaseMaturity+extra blocks made by g,
// so that the coinbases of blocks[:extra+1] can be spent in the next block.
func spendableChain(t *testing.T, n *node, extra int) (*chaintest.Generator, []*chain.Block) {
	t.Helper()
	g := chaintest.New(chain.RegtestParams)
	blocks := g.Chain(chain.RegtestParams.GenesisHash, int(chain.RegtestParams.CoinbaseMaturity)+extra)
	for _, b := range blocks {
		if _, err := n.processBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	return g, blocks
}

// TestGenerateBlock mines blocks with chosen mempool transactions: exactly
// those, in the given order, and an error naming a txid not in the mempool.
func TestGenerateBlock(t *testing.T) {
	n, c := startRegtestNode(t)
	g, blocks := spendableChain(t, n, 2)
	var txids []any
	for _, b := range blocks[:2] {
		tx := g.SpendAll(g.Coinbase(b.Hash()), 1000)
		if _, err := n.pool.Accept(tx, mempool.PeerID("")); err != nil {
			t.Fatal(err)
		}
		txids = append(txids, tx.TxID().String())
	}
	// A third pool transaction the block must leave out.
	if _, err := n.pool.Accept(g.SpendAll(g.Coinbase(blocks[2].Hash()), 1000), mempool.PeerID("")); err != nil {
		t.Fatal(err)
	}
	order := []any{txids[1], txids[0]}
	var res methods.GenerateBlockResult
	call(t, c, "generateblock", []any{regtestAddr, order}, &res)
	best := n.chain.Best()
	if res.Hash != best.Hash.String() {
		t.Fatalf("generateblock returned %s, tip is %s", res.Hash, best.Hash)
	}
	b, err := n.chain.BlockByHash(best.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Txs) != 3 || b.Txs[1].TxID().String() != order[0] || b.Txs[2].TxID().String() != order[1] {
		t.Fatalf("block has %d txs, want the coinbase and %v in order", len(b.Txs), order)
	}
	if n.pool.Info().Count != 1 {
		t.Fatalf("%d transactions left in the pool, want the one left out", n.pool.Info().Count)
	}
	call(t, c, "generateblock", []any{regtestAddr, []any{}}, &res)
	if n.chain.Best().Height != best.Height+1 {
		t.Fatal("generateblock with no transactions mined no block")
	}
	callErr(t, c, "generateblock", []any{regtestAddr, []any{chaintest.TxIDFromSeed(7).String()}}, rpc.CodeInvalidAddressOrKey)
	callErr(t, c, "generateblock", []any{"notanaddress", []any{}}, rpc.CodeInvalidAddressOrKey)
}

// TestGenerateBlockRefusedBeforeMining gives generateblock lists the chain
// would refuse once the block is solved: a transaction twice, a child before
// its pool parent, a child without it. Each is refused as Core's
// TestBlockValidity refuses it, before a single nonce is hashed (on testnet
// mining the block first would take minutes), and the tip stays.
func TestGenerateBlockRefusedBeforeMining(t *testing.T) {
	n, c := startRegtestNode(t)
	g, blocks := spendableChain(t, n, 1)
	parent := g.SpendAll(g.Coinbase(blocks[0].Hash()), 1000)
	child := &chain.Tx{Version: 1,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: parent.TxID()}}},
		Outputs: []chain.TxOut{{Value: parent.Outputs[0].Value - 1000, PubKeyHash: g.PKH}}}
	chain.SignInput(child, chain.NewSigHasher(child, parent.Outputs[:1]), 0, g.KeyFor(g.PKH))
	for _, tx := range []*chain.Tx{parent, child} {
		if _, err := n.pool.Accept(tx, mempool.PeerID("")); err != nil {
			t.Fatal(err)
		}
	}
	p, ch := parent.TxID().String(), child.TxID().String()
	tip := n.chain.Best().Hash
	for _, list := range [][]any{{p, p}, {ch, p}, {ch}} {
		callErr(t, c, "generateblock", []any{regtestAddr, list}, rpc.CodeVerify)
	}
	if hashes := n.miner.TotalHashes(); hashes != 0 {
		t.Errorf("%d nonces hashed for blocks refused before mining", hashes)
	}
	if n.chain.Best().Hash != tip {
		t.Error("the tip moved")
	}
	var res methods.GenerateBlockResult
	call(t, c, "generateblock", []any{regtestAddr, []any{p, ch}}, &res)
	if b, err := n.chain.BlockByHash(n.chain.Best().Hash); err != nil || len(b.Txs) != 3 {
		t.Fatalf("parent then child: tip block %v, %v; want it with both", b, err)
	}
}
