package methods

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/pow/miner"
	"github.com/quarrychain/quarry/rpc"
)

// fakeMiner "finds" a block per nonce budget of 10 tries, with made-up hashes,
// and records what it was asked to mine.
type fakeMiner struct {
	rate  float64
	fail  error // returned by MineBlocks when set
	asked []string

	// The loop's settings, as the control methods set them; refuse is what
	// SetGenerate returns when asked to start.
	on      bool
	threads int
	payTo   [chain.PubKeyHashSize]byte
	refuse  error
}

func (m *fakeMiner) MineBlocks(_ context.Context, n int, payTo [chain.PubKeyHashSize]byte, maxTries uint64) ([]chain.Hash, error) {
	m.asked = append(m.asked, fmt.Sprintf("%d to %x with %d tries", n, payTo[:2], maxTries))
	if m.fail != nil {
		return nil, m.fail
	}
	var hashes []chain.Hash
	for i := range n {
		if uint64(i+1)*10 > maxTries {
			return hashes, miner.ErrMaxTries
		}
		hashes = append(hashes, chain.Hash{byte(i + 1)})
	}
	return hashes, nil
}

func (m *fakeMiner) HashesPerSecond() float64 { return m.rate }
func (m *fakeMiner) Kernel() string           { return "fake" }
func (m *fakeMiner) Threads() int             { return m.threads }
func (m *fakeMiner) Generating() bool         { return m.on }

func (m *fakeMiner) SetGenerate(on bool, threads int) error {
	if m.refuse != nil && on {
		return m.refuse
	}
	m.on, m.threads = on, threads
	return nil
}

func (m *fakeMiner) SetPayTo(payTo [chain.PubKeyHashSize]byte) { m.payTo = payTo }

func newMiningRegistry(t *testing.T, params *chain.Params, m *fakeMiner) (*rpc.Registry, *blockchain.Chain) {
	c := chaintest.OpenChain(t, params)
	reg := rpc.NewRegistry()
	RegisterMining(reg, MiningBackend{Chain: c, Miner: m})
	return reg, c
}

func TestGetMiningInfo(t *testing.T) {
	reg, c := newMiningRegistry(t, chain.RegtestParams, &fakeMiner{rate: 1234.5, on: true, threads: 2})
	var info MiningInfo
	callJSON(t, reg, "getmininginfo", nil, &info)
	want := MiningInfo{Blocks: 0, Difficulty: Difficulty(c.Best().Bits, chain.RegtestParams), HashesPerSec: 1234.5,
		Generate: true, Kernel: "fake", Threads: 2, HashesPerSecPerThread: 617.25, Chain: "regtest"}
	if info != want {
		t.Errorf("getmininginfo = %+v, want %+v", info, want)
	}
}

func TestGenerateToAddress(t *testing.T) {
	m := &fakeMiner{}
	reg, _ := newMiningRegistry(t, chain.RegtestParams, m)
	g := chaintest.New(chain.RegtestParams)
	addr := chain.RegtestParams.EncodeAddress(g.PKH)

	var hashes []string
	callJSON(t, reg, "generatetoaddress", []any{2, addr}, &hashes)
	if want := []string{(chain.Hash{1}).String(), (chain.Hash{2}).String()}; !slices.Equal(hashes, want) {
		t.Errorf("generatetoaddress 2 = %q, want %q", hashes, want)
	}
	if want := fmt.Sprintf("2 to %x with 1000000 tries", g.PKH[:2]); len(m.asked) != 1 || m.asked[0] != want {
		t.Errorf("miner asked %q, want %q", m.asked, want)
	}

	// Running out of tries is no error: the blocks found so far come back.
	callJSON(t, reg, "generatetoaddress", []any{3, addr, 25}, &hashes)
	if len(hashes) != 2 {
		t.Errorf("generatetoaddress with 25 tries = %q, want the 2 blocks found", hashes)
	}

	expectErr(t, reg, "generatetoaddress", []any{-1, addr}, rpc.CodeInvalidParameter, "nblocks and maxtries must not be negative")
	expectErr(t, reg, "generatetoaddress", []any{1, "qry1nonsense"}, rpc.CodeInvalidAddressOrKey, "Error: Invalid address")
	m.fail = errors.New("chain closed")
	expectErr(t, reg, "generatetoaddress", []any{1, addr}, rpc.CodeMisc, "chain closed")

	mainReg, _ := newMiningRegistry(t, chain.MainParams, &fakeMiner{})
	expectErr(t, mainReg, "generatetoaddress", []any{1, chain.MainParams.EncodeAddress(g.PKH)}, rpc.CodeMisc,
		"generatetoaddress is only available on regtest and testnet")
}
