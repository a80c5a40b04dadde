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
	process := func(bs ...*chain.Block) {
		for _, b := range bs {
			if _, err := c.ProcessBlock(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	process(blocks[:params.PruneAfterHeight-1]...)
	reg := rpc.NewRegistry()
	RegisterChain(reg, ChainBackend{Chain: c, ChainDir: t.TempDir()})
	info := func() map[string]any { return blockchainInfo(t, reg) }
	expectErr(t, reg, "pruneblockchain", []any{10}, rpc.CodeMisc, "Blockchain is too short for pruning.")
	process(blocks[params.PruneAfterHeight-1:]...)
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

func blockchainInfo(t *testing.T, reg *rpc.Registry) map[string]any {
	t.Helper()
	raw, err := reg.Call(t.Context(), "getblockchaininfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// pruneblockchain needs prune mode; getblockchaininfo of an automatic pruner
// gives its target in bytes and, as Core, the height of the first block
// still stored.
func TestPruneInfoAutomatic(t *testing.T) {
	params := chain.RegtestParams
	for _, tc := range []struct {
		target int64
		want   map[string]any
	}{
		{0, map[string]any{"pruned": false, "pruneheight": nil, "automatic_pruning": nil, "prune_target_size": nil}},
		{550 << 20, map[string]any{"pruned": true, "pruneheight": 0.0, "automatic_pruning": true, "prune_target_size": float64(550 << 20)}},
		// A target of 2 bytes prunes all it may: the last 288 blocks of 310 stay.
		{2, map[string]any{"pruned": true, "pruneheight": 23.0, "automatic_pruning": true, "prune_target_size": 2.0}},
	} {
		c, err := blockchain.Open(blockchain.Config{Params: params, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
			PruneTargetBytes: tc.target})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range chaintest.New(params).Chain(params.GenesisHash, 310) {
			if _, err := c.ProcessBlock(b); err != nil {
				t.Fatal(err)
			}
		}
		reg := rpc.NewRegistry()
		RegisterChain(reg, ChainBackend{Chain: c, ChainDir: t.TempDir()})
		obj := blockchainInfo(t, reg)
		for k, v := range tc.want {
			if obj[k] != v {
				t.Errorf("target %d: %s = %v, want %v", tc.target, k, obj[k], v)
			}
		}
		if tc.target == 0 {
			expectErr(t, reg, "pruneblockchain", []any{10}, rpc.CodeMisc, "Cannot prune blocks because node is not in prune mode.")
		}
		c.Close()
	}
}
