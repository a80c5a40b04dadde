package methods

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/rpc"
)

func TestGetIndexInfo(t *testing.T) {
	f := newChainFixture(t, 103)
	deadline := time.Now().Add(20 * time.Second)
	var info map[string]IndexInfoResult
	for {
		f.call(t, "getindexinfo", nil, &info)
		if info["txindex"].BestBlockHeight == 103 && info["addrindex"].BestBlockHeight == 103 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(info) != 2 || !info["txindex"].Synced || info["txindex"].BestBlockHeight != 103 || info["addrindex"].BestBlockHeight != 103 {
		t.Fatalf("getindexinfo = %+v", info)
	}
	info = nil
	f.call(t, "getindexinfo", []any{"addrindex"}, &info)
	if _, ok := info["txindex"]; ok || len(info) != 1 {
		t.Fatalf("getindexinfo addrindex = %+v", info)
	}
}

// A node without the transaction index finds mempool transactions and those
// of a given block, and refuses a confirmed one with Core's message.
func TestGetRawTransactionWithoutTxIndex(t *testing.T) {
	params := chain.RegtestParams
	addrIndex := indexers.NewAddrIndex()
	c, err := blockchain.Open(blockchain.Config{Params: params, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Indexers: []blockchain.Indexer{addrIndex}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := chaintest.New(params)
	blocks := g.Chain(params.GenesisHash, 101)
	confirmed := g.SpendAll(g.Coinbase(blocks[0].Hash()), 1000)
	blocks = append(blocks, g.NextBlock(blocks[100].Hash(), confirmed))
	for _, b := range blocks {
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	pending := g.SpendAll(g.Coinbase(blocks[1].Hash()), 1000)
	reg := rpc.NewRegistry()
	RegisterChain(reg, ChainBackend{Chain: c, AddrIndex: addrIndex, Mempool: fixtureMempool{&chainFixture{memTx: pending}}})
	if _, err := reg.Call(t.Context(), "getrawtransaction", []any{pending.TxID()}); err != nil {
		t.Fatalf("mempool transaction: %v", err)
	}
	// Its inputs' prevouts need the index: they are shown unknown.
	if raw, err := reg.Call(t.Context(), "getrawtransaction", []any{pending.TxID(), 2}); err != nil || strings.Contains(string(raw), `"prevout"`) {
		t.Fatalf("mempool transaction with prevouts: %s, %v", raw, err)
	}
	if _, err := reg.Call(t.Context(), "getrawtransaction", []any{confirmed.TxID(), 0, blocks[101].Hash()}); err != nil {
		t.Fatalf("confirmed transaction with its block: %v", err)
	}
	expectErr(t, reg, "getrawtransaction", []any{confirmed.TxID()}, rpc.CodeInvalidAddressOrKey,
		"No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries.")
	raw, err := reg.Call(t.Context(), "getindexinfo", nil)
	if err != nil || strings.Contains(string(raw), "txindex") || !strings.Contains(string(raw), "addrindex") {
		t.Fatalf("getindexinfo without txindex = %s, %v", raw, err)
	}
	// The address index alone gives an address's total received: it needs
	// neither the transactions nor their index.
	var want uint64
	for _, b := range blocks {
		for _, tx := range b.Txs {
			for _, out := range tx.Outputs {
				if out.PubKeyHash == g.PKH {
					want += out.Value
				}
			}
		}
	}
	chaintest.WaitIndexes(t, c)
	raw, err = reg.Call(t.Context(), "getaddressbalance", []any{params.EncodeAddress(g.PKH)})
	var bal AddressBalanceResult
	if err != nil || json.Unmarshal(raw, &bal) != nil || bal.Received != want || want == 0 {
		t.Fatalf("getaddressbalance without txindex = %s, %v; want received %d", raw, err, want)
	}
}

// getrawtransaction's errors for a transaction index that is off or behind
// are Core's, ending as Core's do, with how far behind it is in between.
func TestTxIndexErrorTexts(t *testing.T) {
	for _, c := range []struct {
		ie   *blockchain.IndexError
		want string
	}{
		{&blockchain.IndexError{Index: "txindex", Disabled: true}, "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions."},
		{&blockchain.IndexError{Index: "txindex", Behind: 1}, "No such mempool or blockchain transaction. Blockchain transactions are still in the process of being indexed (txindex is 1 block behind). Use gettransaction for wallet transactions."},
		{&blockchain.IndexError{Index: "txindex", Behind: 200}, "No such mempool or blockchain transaction. Blockchain transactions are still in the process of being indexed (txindex is 200 blocks behind). Use gettransaction for wallet transactions."},
	} {
		got := txIndexError(fmt.Errorf("find: %w", c.ie))
		if got == nil || got.Code != rpc.CodeInvalidAddressOrKey || got.Message != c.want {
			t.Errorf("%+v: %+v, want %q", c.ie, got, c.want)
		}
	}
	if txIndexError(blockchain.ErrNotFound) != nil {
		t.Error("not found is not an index error")
	}
}
