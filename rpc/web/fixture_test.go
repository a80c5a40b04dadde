package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/p2p"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/methods"
)

// fixture is a real regtest chain in Badger with a real mempool and the
// node's JSON-RPC methods, served by a web Server:
//
//	genesis - 1 - ... - 101 - 102 (tx1) - 103 (tx2) - 104 - 105     tip 105
//
// tx1 spends the coinbase of block 1 to other (30 QRY) and back to the
// generator's key (20 QRY less a fee); tx2 spends tx1's output 0 (other's)
// in full but a fee, back to other. memTx, in the mempool, spends the
// coinbase of block 2 to other.
type fixture struct {
	t      testing.TB
	chain  *blockchain.Chain
	pool   *mempool.Pool
	gen    *chaintest.Generator
	srv    *Server
	main   []*chain.Block
	tx1    *chain.Tx
	tx2    *chain.Tx
	memTx  *chain.Tx
	other  [chain.PubKeyHashSize]byte
	params *chain.Params
}

const (
	tx1Fee   = chain.Coin / 100
	tx2Fee   = 5000
	memTxFee = 2000
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	params := chain.RegtestParams
	now := time.Unix(int64(params.GenesisBlock.Header.Time)+3600, 0)
	clock := func() time.Time { return now }
	txIndex, addrIndex := indexers.NewTxIndex(), indexers.NewAddrIndex()
	c, err := blockchain.Open(blockchain.Config{Params: params, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Now: clock,
		Indexers: []blockchain.Indexer{txIndex, addrIndex}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	f := &fixture{t: t, chain: c, gen: chaintest.New(params), main: []*chain.Block{params.GenesisBlock}, params: params}
	f.other = f.gen.NewKey()
	for range 101 {
		f.extend()
	}
	f.tx1 = f.gen.SpendTo([]chain.OutPoint{f.gen.Coinbase(f.main[1].Hash())},
		chain.TxOut{Value: 30 * chain.Coin, PubKeyHash: f.other},
		chain.TxOut{Value: 20*chain.Coin - tx1Fee, PubKeyHash: f.gen.PKH})
	f.extend(f.tx1)
	f.tx2 = f.gen.SpendTo([]chain.OutPoint{{TxID: f.tx1.TxID(), Index: 0}}, chain.TxOut{Value: 30*chain.Coin - tx2Fee, PubKeyHash: f.other})
	f.extend(f.tx2)
	f.extend()
	f.extend()

	f.pool, err = mempool.New(mempool.Config{Chain: c, TxIndex: txIndex, Logger: slog.New(slog.DiscardHandler), Now: clock, MinRelayFeeRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.pool.Close)
	f.memTx = f.gen.SpendTo([]chain.OutPoint{f.gen.Coinbase(f.main[2].Hash())}, chain.TxOut{Value: 50*chain.Coin - memTxFee, PubKeyHash: f.other})
	if _, err := f.pool.Accept(f.memTx, ""); err != nil {
		t.Fatalf("mempool: %v", err)
	}

	reg := rpc.NewRegistry()
	methods.RegisterChain(reg, methods.ChainBackend{Chain: c, TxIndex: txIndex, AddrIndex: addrIndex, Now: clock, Mempool: f.pool})
	t.Cleanup(methods.RegisterMempool(reg, methods.MempoolBackend{Pool: f.pool, Chain: c}))
	f.srv, err = New(Config{Chain: c, TxIndex: txIndex, AddrIndex: addrIndex, Mempool: f.pool, RPC: reg, Network: fakeNetwork{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.srv.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	c.Subscribe(f.srv.ChainEvent)
	f.pool.Subscribe(f.srv.MempoolEvent)
	return f
}

// extend mines a block carrying txs on the tip.
func (f *fixture) extend(txs ...*chain.Tx) *chain.Block {
	f.t.Helper()
	b := f.gen.NextBlock(f.main[len(f.main)-1].Hash(), txs...)
	if _, err := f.chain.ProcessBlock(b); err != nil {
		f.t.Fatalf("block %s: %v", b.Hash(), err)
	}
	f.main = append(f.main, b)
	return b
}

// get answers a request as the server would, through every middleware.
func (f *fixture) get(path string) (*http.Response, string) {
	f.t.Helper()
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// fakeNetwork stands in for the P2P node, which the p2p package tests; the
// peers page only lists what it is given.
type fakeNetwork struct{}

func (fakeNetwork) Peers() []p2p.PeerInfo {
	return []p2p.PeerInfo{{ID: "12D3KooWPeerOne", Addr: "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWPeerOne", Height: 105, PingRTT: 3 * time.Millisecond}}
}

func (fakeNetwork) ListBanned() []p2p.Ban {
	return []p2p.Ban{{Peer: "12D3KooWBadPeer", Reason: "invalid block", Until: time.Unix(2e9, 0)}}
}

type (
	chainTxOut    = chain.TxOut
	chainOutPoint = chain.OutPoint
)
