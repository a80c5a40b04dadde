package methods

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/pow/miner"
	"github.com/quarrychain/quarry/rpc"
)

// blockGeneratorFunc lets a function stand for the node's block generator.
type blockGeneratorFunc func(context.Context, [chain.PubKeyHashSize]byte, []chain.Hash) (chain.Hash, error)

func (f blockGeneratorFunc) GenerateBlock(ctx context.Context, payTo [chain.PubKeyHashSize]byte, txids []chain.Hash) (chain.Hash, error) {
	return f(ctx, payTo, txids)
}

const regtestAddr = "rqry1qw508d6qejxtdg4y5r3zarvary0c5xw7kd8r7hw"

func TestSetGenerateParams(t *testing.T) {
	for _, c := range []struct {
		params      []any
		on          bool
		threads     int
		code        int // 0: success
		minerRefuse bool
	}{
		{params: []any{true}, on: true, threads: 0},
		{params: []any{true, 3}, on: true, threads: 3},
		{params: []any{true, -1}, on: true, threads: runtime.NumCPU()},
		{params: []any{true, 0}, on: false, threads: 0},
		{params: []any{false, 2}, on: false, threads: 2},
		{params: []any{true, -2}, code: rpc.CodeInvalidParameter},
		{params: []any{true, 5000}, code: rpc.CodeInvalidParameter},
		{params: []any{"yes"}, code: rpc.CodeType},
		{params: []any{true}, code: rpc.CodeMisc, minerRefuse: true},
	} {
		t.Run(fmt.Sprint(c.params), func(t *testing.T) {
			m := &fakeMiner{threads: -100}
			if c.minerRefuse {
				m.refuse = errors.New("no mining address set")
			}
			reg, _ := newMiningRegistry(t, chain.RegtestParams, m)
			if c.code != 0 {
				expectErr(t, reg, "setgenerate", c.params, c.code, "")
				return
			}
			if _, err := reg.Call(t.Context(), "setgenerate", c.params); err != nil {
				t.Fatal(err)
			}
			if m.on != c.on || m.threads != c.threads {
				t.Errorf("miner asked on=%v threads=%d, want %v %d", m.on, m.threads, c.on, c.threads)
			}
			raw, err := reg.Call(t.Context(), "getgenerate", nil)
			if err != nil || string(raw) != fmt.Sprint(c.on) {
				t.Errorf("getgenerate: %s %v, want %v", raw, err, c.on)
			}
		})
	}
}

// TestSetGenerateRefused: the hint to set an address comes only when the
// address is what is missing, not when the miner is shutting down.
func TestSetGenerateRefused(t *testing.T) {
	for refuse, want := range map[error]string{
		miner.ErrNoPayTo: "Cannot start mining: no mining address set (set one with setminingaddress or --mine-address)",
		miner.ErrClosed:  "Cannot start mining: miner closed",
	} {
		reg, _ := newMiningRegistry(t, chain.RegtestParams, &fakeMiner{refuse: refuse})
		_, err := reg.Call(t.Context(), "setgenerate", []any{true})
		var e *rpc.Error
		if !errors.As(err, &e) || e.Code != rpc.CodeMisc || e.Message != want {
			t.Errorf("miner refusing with %v: %v, want %d %q", refuse, err, rpc.CodeMisc, want)
		}
	}
}

func TestSetMiningAddress(t *testing.T) {
	m := &fakeMiner{}
	reg, _ := newMiningRegistry(t, chain.RegtestParams, m)
	if _, err := reg.Call(t.Context(), "setminingaddress", []any{regtestAddr}); err != nil {
		t.Fatal(err)
	}
	want, _ := chain.RegtestParams.DecodeAddress(regtestAddr)
	if m.payTo != want {
		t.Errorf("miner pays to %x, want %x", m.payTo, want)
	}
	// A mainnet address on regtest, and no address at all.
	expectErr(t, reg, "setminingaddress", []any{"qry1qw508d6qejxtdg4y5r3zarvary0c5xw7kd8r7hw"}, rpc.CodeInvalidAddressOrKey, "Error: Invalid address")
	expectErr(t, reg, "setminingaddress", []any{"x"}, rpc.CodeInvalidAddressOrKey, "Error: Invalid address")
}

// TestGenerateBlockErrors checks what generateblock hands the node and how it
// reports each failure, with Core's codes.
func TestGenerateBlockErrors(t *testing.T) {
	tx := chain.Hash{1}
	var got []chain.Hash
	result := func(err error) BlockGenerator {
		return blockGeneratorFunc(func(_ context.Context, _ [chain.PubKeyHashSize]byte, txids []chain.Hash) (chain.Hash, error) {
			got = txids
			return chain.Hash{9}, err
		})
	}
	for _, c := range []struct {
		name   string
		params *chain.Params
		args   []any
		err    error
		code   int
		msg    string
	}{
		{"mined", chain.RegtestParams, []any{regtestAddr, []any{tx.String()}}, nil, 0, ""},
		{"missing", chain.RegtestParams, []any{regtestAddr, []any{tx.String()}}, fmt.Errorf("build: %w", &MissingTxError{TxID: tx}), rpc.CodeInvalidAddressOrKey, "Transaction " + tx.String() + " not in mempool."},
		{"invalid", chain.RegtestParams, []any{regtestAddr, []any{}}, &chain.RuleError{Kind: chain.ErrorKind("ErrBadTxOrder"), Description: "bad order"}, rpc.CodeVerify, "TestBlockValidity failed: bad order"},
		{"other", chain.RegtestParams, []any{regtestAddr, []any{}}, errors.New("tip moved"), rpc.CodeMisc, "tip moved"},
		{"not a txid", chain.RegtestParams, []any{regtestAddr, []any{"0100"}}, nil, rpc.CodeDeserialization, "Transaction decode failed"},
		{"bad address", chain.RegtestParams, []any{"x", []any{}}, nil, rpc.CodeInvalidAddressOrKey, "Error: Invalid address"},
		{"mainnet", chain.MainParams, []any{"qry1qw508d6qejxtdg4y5r3zarvary0c5xw7kd8r7hw", []any{}}, nil, rpc.CodeMisc, "generateblock is only available"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got = nil
			reg := rpc.NewRegistry()
			RegisterMining(reg, MiningBackend{Chain: chaintest.OpenChain(t, c.params), Miner: &fakeMiner{}, Blocks: result(c.err)})
			if c.code != 0 {
				expectErr(t, reg, "generateblock", c.args, c.code, c.msg)
				return
			}
			raw, err := reg.Call(t.Context(), "generateblock", c.args)
			if err != nil || string(raw) != `{"hash":"`+(chain.Hash{9}).String()+`"}` || len(got) != 1 || got[0] != tx {
				t.Fatalf("generateblock: %s %v, node asked for %v", raw, err, got)
			}
		})
	}
}
