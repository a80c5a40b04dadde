package methods

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/rpc"
)

// A node in manual prune mode prunes on pruneblockchain, reports it in
// getblockchaininfo, and refuses pruned blocks with Core's error.
func TestPruneBlockchain(t *testing.T) {
	params := chain.RegtestParams
	c, err := blockchain.Open(blockchain.Config{Params: params, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		PruneTargetBytes: blockchain.PruneManual})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	blocks := chaintest.New(params).Chain(params.GenesisHash, 300)
	for _, b := range blocks {
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	reg := rpc.NewRegistry()
	RegisterChain(reg, ChainBackend{Chain: c, ChainDir: t.TempDir()})
	info := func() map[string]any {
		raw, err := reg.Call(t.Context(), "getblockchaininfo", nil)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		json.Unmarshal(raw, &obj)
		return obj
	}
	if obj := info(); obj["pruned"] != true || obj["pruneheight"] != 0.0 || obj["automatic_pruning"] != false || obj["prune_target_size"] != nil {
		t.Fatalf("getblockchaininfo before pruning: %v", obj)
	}
	expectErr(t, reg, "pruneblockchain", []any{-1}, rpc.CodeInvalidParameter, "Negative block height.")
	expectErr(t, reg, "pruneblockchain", []any{301}, rpc.CodeInvalidParameter, "Blockchain is shorter than the attempted prune height.")
	// A time picks the first block no more than two hours older, as Core's:
	// one after the tip is refused; one before genesis prunes nothing.
	tipTime := int64(blocks[len(blocks)-1].Header.Time)
	expectErr(t, reg, "pruneblockchain", []any{tipTime + 2*60*60 + 1}, rpc.CodeInvalidParameter,
		"Could not find block with at least the specified timestamp.")
	if raw, err := reg.Call(t.Context(), "pruneblockchain", []any{int64(params.GenesisBlock.Header.Time) - 1}); err != nil || string(raw) != "-1" {
		t.Fatalf("pruneblockchain at a time before genesis = %s, %v; want -1 (nothing pruned)", raw, err)
	}
	raw, err := reg.Call(t.Context(), "pruneblockchain", []any{100})
	if err != nil || string(raw) != "12" { // 300 - 288
		t.Fatalf("pruneblockchain 100 = %s, %v; want 12 (the last 288 blocks stay)", raw, err)
	}
	if obj := info(); obj["pruneheight"] != 13.0 {
		t.Fatalf("getblockchaininfo after pruning: %v", obj)
	}
	expectErr(t, reg, "getblock", []any{blocks[4].Hash()}, rpc.CodeMisc, "Block not available (pruned data)")
	if _, err := reg.Call(t.Context(), "getblockheader", []any{blocks[4].Hash()}); err != nil {
		t.Fatalf("header of a pruned block: %v", err)
	}
}
