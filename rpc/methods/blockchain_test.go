package methods

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"math"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool/fees"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpcclient"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite ../../docs/rpc.md from the method registry")

const docsPath = "../../docs/rpc.md"

// newFullRegistry registers every method the node offers, as the node does, for
// the docs check. The network and mining methods are only described, never
// called here, so fakes stand for the P2P node and the miner.
func newFullRegistry(t *testing.T, b ChainBackend) *rpc.Registry {
	reg := rpc.NewRegistry()
	RegisterChain(reg, b)
	RegisterMining(reg, MiningBackend{Chain: b.Chain, Miner: &fakeMiner{}, Blocks: blockGeneratorFunc(nil)})
	pool := newPool(t, b.Chain, b.TxIndex, nil)
	t.Cleanup(RegisterMempool(reg, MempoolBackend{Pool: pool, Chain: b.Chain, Fees: fees.New()}))
	RegisterNetwork(reg, NetworkBackend{Net: &fakeNetwork{}})
	return reg
}

// TestRPCDocs keeps docs/rpc.md in step with the registry. After changing a
// method, regenerate it with: go test ./rpc/methods -run TestRPCDocs -update-docs
func TestRPCDocs(t *testing.T) {
	f := newChainFixture(t, 1)
	reg := newFullRegistry(t, ChainBackend{Chain: f.chain})
	if *updateDocs {
		if err := os.WriteFile(docsPath, []byte(rpc.DocsMarkdown(reg)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := rpc.CheckDocs(reg, docsPath); err != nil {
		t.Fatalf("%v\nregenerate it with: go test ./rpc/methods -run TestRPCDocs -update-docs", err)
	}
}

// regtestGenesisTime is the time of the regtest genesis block; the generator
// dates each block a second after its parent.
var regtestGenesisTime = int64(chain.RegtestParams.GenesisBlock.Header.Time)

// chainFixture is a regtest chain for the handlers to read:
//
//	genesis - 1 - ... - 101 - 102 (tx1, tx2) - 103            main chain, tip 103
//	                            \- stale (103) - headerOnly (104, header only)
//	                            \- fork (103)                 valid-headers
//	                            \- invalid (103)              breaks a rule
//
// tx1 spends the coinbase of block 1 (fee 0.01 QRY); tx2 spends tx1's first
// output in the same block (fee 5000 units). A fake mempool holds memTx, which
// spends the coinbase of block 2.
type chainFixture struct {
	chain     *blockchain.Chain
	txIndex   *indexers.TxIndex
	addrIndex *indexers.AddrIndex
	gen       *chaintest.Generator
	reg       *rpc.Registry
	dir       string
	now       time.Time

	main       []*chain.Block // by height, genesis first
	tx1, tx2   *chain.Tx
	stale      *chain.Block
	headerOnly *chain.Block
	fork       *chain.Block
	invalid    *chain.Block
	memTx      *chain.Tx
	stops      int
}

const (
	tx1Fee = chain.Coin / 100
	tx2Fee = 5000
)

// newChainFixture opens a regtest chain of the given height; from 103 up it
// has the branches and transactions described at chainFixture.
func newChainFixture(t *testing.T, height int) *chainFixture {
	t.Helper()
	params := chain.RegtestParams
	f := &chainFixture{dir: t.TempDir(), now: time.Unix(regtestGenesisTime+3600, 0), gen: chaintest.New(params)}
	f.txIndex, f.addrIndex = indexers.NewTxIndex(), indexers.NewAddrIndex()
	c, err := blockchain.Open(blockchain.Config{
		Params: params, Dir: f.dir, Logger: slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return f.now },
		Indexers: []blockchain.Indexer{f.txIndex, f.addrIndex},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	f.chain = c
	f.main = []*chain.Block{params.GenesisBlock}
	process := func(b *chain.Block) {
		t.Helper()
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatalf("block %s: %v", b.Hash(), err)
		}
	}
	extend := func(txs ...*chain.Tx) {
		t.Helper()
		b := f.gen.NextBlock(f.main[len(f.main)-1].Hash(), txs...)
		process(b)
		f.main = append(f.main, b)
	}
	for range min(height, 101) {
		extend()
	}
	if height >= 103 {
		f.tx1 = f.gen.Spend([]chain.OutPoint{f.gen.Coinbase(f.main[1].Hash())}, 30*chain.Coin, 20*chain.Coin-tx1Fee)
		// The generator learns tx1's outputs only with its block, so tx2 is signed
		// by hand.
		f.tx2 = &chain.Tx{Version: 1,
			Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: f.tx1.TxID()}}},
			Outputs: []chain.TxOut{{Value: 30*chain.Coin - tx2Fee, PubKeyHash: f.gen.PKH}}}
		chain.SignInput(f.tx2, chain.NewSigHasher(f.tx2, f.tx1.Outputs[:1]), 0, f.gen.Key)
		extend(f.tx1, f.tx2)
		extend()
		at102 := f.main[102].Hash()
		f.stale = f.gen.NextBlock(at102)
		process(f.stale)
		f.headerOnly = f.gen.NextBlock(f.stale.Hash())
		if err := c.AcceptHeaders([]chain.Header{f.headerOnly.Header}); err != nil {
			t.Fatal(err)
		}
		f.fork = f.gen.NextBlock(at102)
		process(f.fork)
		// A rule checked before the block is stored, since a branch with no more
		// work than the tip is not connected.
		f.invalid = f.gen.BuildBlock(at102, func(b *chain.Block) { b.Txs[0].LockTime++ })
		if _, err := c.ProcessBlock(f.invalid); !errors.Is(err, chain.ErrBadCoinbaseLockTime) {
			t.Fatalf("invalid block: %v", err)
		}
		f.memTx = f.gen.SpendAll(f.gen.Coinbase(f.main[2].Hash()), 1000)
	}
	f.reg = rpc.NewRegistry()
	RegisterChain(f.reg, f.backend())
	return f
}

// backend is the fixture's backend, with a clock, a start 90 s ago, a stop
// counter and the fake mempool.
func (f *chainFixture) backend() ChainBackend {
	return ChainBackend{
		Chain:     f.chain,
		TxIndex:   f.txIndex,
		AddrIndex: f.addrIndex,
		ChainDir:  f.dir,
		StartTime: f.now.Add(-90 * time.Second),
		Now:       func() time.Time { return f.now },
		Stop:      func() { f.stops++ },
		Mempool:   fixtureMempool{f},
	}
}

// fixtureMempool is the fixture's fake mempool, holding memTx alone.
type fixtureMempool struct{ f *chainFixture }

func (m fixtureMempool) Get(txid chain.Hash) (*chain.Tx, bool) {
	if m.f.memTx != nil && txid == m.f.memTx.TxID() {
		return m.f.memTx, true
	}
	return nil, false
}

func (m fixtureMempool) HaveSpent(op chain.OutPoint) (chain.Hash, bool) {
	if m.f.memTx != nil && slices.ContainsFunc(m.f.memTx.Inputs, func(in chain.TxIn) bool { return in.PrevOut == op }) {
		return m.f.memTx.TxID(), true
	}
	return chain.Hash{}, false
}

// call runs method and decodes its result into out (unless nil).
func (f *chainFixture) call(t *testing.T, method string, params, out any) {
	t.Helper()
	raw, err := f.reg.Call(t.Context(), method, params)
	if err != nil {
		t.Fatalf("%s %v: %v", method, params, err)
	}
	if out != nil {
		// Numbers stay as their JSON text, so that checkField compares amounts
		// digit for digit.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(out); err != nil {
			t.Fatalf("%s %v: decode %s: %v", method, params, raw, err)
		}
	}
}

// object runs method and returns its result as a JSON object.
func (f *chainFixture) object(t *testing.T, method string, params any) map[string]any {
	t.Helper()
	var obj map[string]any
	f.call(t, method, params, &obj)
	return obj
}

// callErr runs method and checks that it fails with code and a message starting
// with msg.
func (f *chainFixture) callErr(t *testing.T, method string, params any, code int, msg string) {
	t.Helper()
	expectErr(t, f.reg, method, params, code, msg)
}

func expectErr(t *testing.T, reg *rpc.Registry, method string, params any, code int, msg string) {
	t.Helper()
	raw, err := reg.Call(t.Context(), method, params)
	var e *rpc.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s %v: got %s, %v; want error %d", method, params, raw, err, code)
	}
	if e.Code != code || !strings.HasPrefix(e.Message, msg) {
		t.Errorf("%s %v: error %d %q, want %d %q", method, params, e.Code, e.Message, code, msg)
	}
}

// checkKeys checks that obj has exactly the given fields.
func checkKeys(t *testing.T, what string, obj any, want ...string) {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, not an object", what, obj)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s has fields %v, want %v", what, got, want)
	}
}

func checkField(t *testing.T, obj map[string]any, key string, want any) {
	t.Helper()
	// Compare through JSON, so that numbers and hashes compare as the caller sees
	// them; want goes through a map too, so that objects list fields in one order.
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(w))
	dec.UseNumber()
	var canonical any
	if err := dec.Decode(&canonical); err != nil {
		t.Fatal(err)
	}
	if w, err = json.Marshal(canonical); err != nil {
		t.Fatal(err)
	}
	g, err := json.Marshal(obj[key])
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s = %s, want %s", key, g, w)
	}
}

func (f *chainFixture) info(t *testing.T, h chain.Hash) blockchain.BlockInfo {
	t.Helper()
	info, err := f.chain.BlockInfo(h)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

var headerKeys = []string{"hash", "confirmations", "height", "version", "versionHex", "merkleroot", "time",
	"mediantime", "nonce", "bits", "difficulty", "chainwork", "nTx", "previousblockhash", "nextblockhash"}

func TestChainInfoMethods(t *testing.T) {
	f := newChainFixture(t, 103)
	tip := f.main[103]

	t.Run("getblockcount", func(t *testing.T) {
		var n int
		f.call(t, "getblockcount", nil, &n)
		if n != 103 {
			t.Errorf("getblockcount = %d, want 103", n)
		}
	})
	t.Run("getbestblockhash", func(t *testing.T) {
		var h chain.Hash
		f.call(t, "getbestblockhash", nil, &h)
		if h != tip.Hash() {
			t.Errorf("getbestblockhash = %s, want %s", h, tip.Hash())
		}
	})
	t.Run("getblockchaininfo", func(t *testing.T) {
		obj := f.object(t, "getblockchaininfo", nil)
		checkKeys(t, "getblockchaininfo", obj, "chain", "blocks", "headers", "bestblockhash", "difficulty", "time",
			"mediantime", "verificationprogress", "initialblockdownload", "chainwork", "size_on_disk", "pruned", "warnings")
		best := f.chain.Best()
		checkField(t, obj, "chain", "regtest")
		checkField(t, obj, "blocks", 103)
		checkField(t, obj, "headers", 104) // the header-only block of the stale branch
		checkField(t, obj, "bestblockhash", tip.Hash())
		checkField(t, obj, "difficulty", 1)
		checkField(t, obj, "time", tip.Header.Time)
		checkField(t, obj, "mediantime", best.MedianTime)
		checkField(t, obj, "verificationprogress", 103.0/104)
		checkField(t, obj, "initialblockdownload", true)
		checkField(t, obj, "chainwork", workHex(best.ChainWork))
		checkField(t, obj, "pruned", false)
		checkField(t, obj, "warnings", "")
		if size, _ := obj["size_on_disk"].(json.Number).Int64(); size <= 0 {
			t.Errorf("size_on_disk = %v, want the database's size", obj["size_on_disk"])
		}
	})
	t.Run("getblockhash", func(t *testing.T) {
		for _, h := range []int{0, 1, 102, 103} {
			var got chain.Hash
			f.call(t, "getblockhash", []any{h}, &got)
			if got != f.main[h].Hash() {
				t.Errorf("getblockhash %d = %s, want %s", h, got, f.main[h].Hash())
			}
		}
		f.callErr(t, "getblockhash", []any{104}, rpc.CodeInvalidParameter, "Block height out of range")
		f.callErr(t, "getblockhash", []any{-1}, rpc.CodeInvalidParameter, "Block height out of range")
		f.callErr(t, "getblockhash", []any{int64(math.MaxInt32) + 1}, rpc.CodeInvalidParameter, "Block height out of range")
		f.callErr(t, "getblockhash", []any{"1"}, rpc.CodeType, "Wrong type for parameter 'height'")
		f.callErr(t, "getblockhash", []any{1.5}, rpc.CodeInvalidParameter, "Invalid parameter 'height'")
		f.callErr(t, "getblockhash", nil, rpc.CodeMisc, "Missing required parameter 'height'")
		f.callErr(t, "getblockhash", []any{1, 2}, rpc.CodeMisc, "Too many parameters")
		f.callErr(t, "getblockhash", map[string]any{"heigth": 1}, rpc.CodeInvalidParameter, "Unknown named parameter heigth")
	})
	t.Run("getdifficulty", func(t *testing.T) {
		var d float64
		f.call(t, "getdifficulty", nil, &d)
		if d != 1 {
			t.Errorf("getdifficulty = %v, want 1 on regtest, whose blocks are all at the pow limit", d)
		}
	})
	t.Run("getchaintips", func(t *testing.T) {
		var tips []map[string]any
		f.call(t, "getchaintips", nil, &tips)
		want := []ChainTipResult{
			{Height: 104, Hash: f.headerOnly.Hash(), BranchLen: 2, Status: "headers-only"},
			{Height: 103, Hash: tip.Hash(), Status: "active"},
			{Height: 103, Hash: f.fork.Hash(), BranchLen: 1, Status: "valid-headers"},
			{Height: 103, Hash: f.invalid.Hash(), BranchLen: 1, Status: "invalid"},
		}
		slices.SortFunc(want[1:], func(a, b ChainTipResult) int { return strings.Compare(a.Hash.String(), b.Hash.String()) })
		if len(tips) != len(want) {
			t.Fatalf("getchaintips = %v, want %v", tips, want)
		}
		for i, tip := range tips {
			checkKeys(t, "tip", tip, "height", "hash", "branchlen", "status")
			checkField(t, tip, "height", want[i].Height)
			checkField(t, tip, "hash", want[i].Hash)
			checkField(t, tip, "branchlen", want[i].BranchLen)
			checkField(t, tip, "status", want[i].Status)
		}
	})
	t.Run("getnetworkhashps", func(t *testing.T) {
		// Every regtest block carries the same work and comes a second after its
		// parent, so any window gives the work of one block per second.
		perBlock, _ := new(big.Float).SetInt(f.info(t, f.main[1].Hash()).ChainWork).Float64()
		perBlock /= 2 // the chain work of block 1 counts genesis too
		for _, params := range [][]any{nil, {10}, {-1}, {5, 50}, {1000, 103}} {
			var got float64
			f.call(t, "getnetworkhashps", params, &got)
			if got != perBlock {
				t.Errorf("getnetworkhashps %v = %v, want %v", params, got, perBlock)
			}
		}
		var got float64
		f.call(t, "getnetworkhashps", []any{10, 0}, &got)
		if got != 0 {
			t.Errorf("getnetworkhashps at genesis = %v, want 0", got)
		}
		f.callErr(t, "getnetworkhashps", []any{0}, rpc.CodeInvalidParameter, "Invalid nblocks")
		f.callErr(t, "getnetworkhashps", []any{-2}, rpc.CodeInvalidParameter, "Invalid nblocks")
		f.callErr(t, "getnetworkhashps", []any{10, 104}, rpc.CodeInvalidParameter, "Block does not exist at specified height")
	})
	t.Run("uptime", func(t *testing.T) {
		var up int64
		f.call(t, "uptime", nil, &up)
		if up != 90 {
			t.Errorf("uptime = %d, want 90", up)
		}
	})
	t.Run("stop", func(t *testing.T) {
		var s string
		f.call(t, "stop", nil, &s)
		if s != "Quarry server stopping" || f.stops != 1 {
			t.Errorf("stop = %q with %d calls of the hook, want the message and one call", s, f.stops)
		}
		reg := rpc.NewRegistry()
		RegisterChain(reg, ChainBackend{Chain: f.chain})
		expectErr(t, reg, "stop", nil, rpc.CodeMisc, "This process cannot be stopped")
	})
}

func TestGetBlock(t *testing.T) {
	f := newChainFixture(t, 103)
	b := f.main[102]
	hash := b.Hash()
	info := f.info(t, hash)

	t.Run("verbosity 0", func(t *testing.T) {
		var got string
		f.call(t, "getblock", []any{hash, 0}, &got)
		if got != hex.EncodeToString(b.Encode()) {
			t.Errorf("getblock verbosity 0 = %.40s..., want the block's encoding", got)
		}
		f.call(t, "getblock", []any{hash, false}, &got)
		if got != hex.EncodeToString(b.Encode()) {
			t.Errorf("getblock verbose false = %.40s..., want the block's encoding", got)
		}
	})
	t.Run("verbosity 1", func(t *testing.T) {
		for _, params := range []any{[]any{hash}, []any{hash, 1}, []any{hash, true}, map[string]any{"blockhash": hash}} {
			obj := f.object(t, "getblock", params)
			checkKeys(t, "getblock", obj, append([]string{"size", "strippedsize", "weight", "tx"}, headerKeys...)...)
			size := b.SerializeSize()
			checkField(t, obj, "hash", hash)
			checkField(t, obj, "confirmations", 2)
			checkField(t, obj, "size", size)
			checkField(t, obj, "weight", 4*size)
			checkField(t, obj, "height", 102)
			checkField(t, obj, "version", 1)
			checkField(t, obj, "versionHex", "00000001")
			checkField(t, obj, "merkleroot", b.Header.MerkleRoot)
			checkField(t, obj, "tx", b.TxIDs())
			checkField(t, obj, "time", b.Header.Time)
			checkField(t, obj, "mediantime", info.MedianTime)
			checkField(t, obj, "nonce", b.Header.Nonce)
			checkField(t, obj, "bits", "207fffff")
			checkField(t, obj, "difficulty", 1)
			checkField(t, obj, "chainwork", workHex(info.ChainWork))
			checkField(t, obj, "nTx", 3)
			checkField(t, obj, "previousblockhash", f.main[101].Hash())
			checkField(t, obj, "nextblockhash", f.main[103].Hash())
			// Witnesses are the signatures and keys of tx1 and tx2 and the coinbase data.
			if stripped, _ := obj["strippedsize"].(json.Number).Int64(); stripped >= int64(size) || stripped < int64(size)/2 {
				t.Errorf("strippedsize = %v for size %d", stripped, size)
			}
		}
	})
	t.Run("verbosity 2 and 3", func(t *testing.T) {
		// A node without the transaction index shows the same fees and
		// prevouts: they come from the block's undo data, as in Core.
		withTxIndex := f.reg
		defer func() { f.reg = withTxIndex }()
		noTxIndex := f.backend()
		noTxIndex.TxIndex = nil
		withoutTxIndex := rpc.NewRegistry()
		RegisterChain(withoutTxIndex, noTxIndex)
		for _, reg := range []*rpc.Registry{withTxIndex, withoutTxIndex} {
			f.reg = reg
			getblockVerbose(t, f, b)
		}
		// The fee also survives the exact decoding Go callers use.
		var verbose BlockVerboseResult
		f.call(t, "getblock", []any{hash, 2}, &verbose)
		if verbose.Tx[1].Fee == nil || *verbose.Tx[1].Fee != tx1Fee || verbose.Hash != hash || verbose.NTx != 3 {
			t.Errorf("decoded getblock verbosity 2: hash %s, nTx %d, fee %v", verbose.Hash, verbose.NTx, verbose.Tx[1].Fee)
		}
	})
	t.Run("off the main chain", func(t *testing.T) {
		obj := f.object(t, "getblock", []any{f.stale.Hash()})
		checkField(t, obj, "confirmations", -1)
		if _, ok := obj["nextblockhash"]; ok {
			t.Errorf("a block off the main chain has nextblockhash %v", obj["nextblockhash"])
		}
		f.callErr(t, "getblock", []any{f.headerOnly.Hash()}, rpc.CodeMisc, "Block not available")
	})
	t.Run("genesis", func(t *testing.T) {
		obj := f.object(t, "getblock", []any{chain.RegtestParams.GenesisHash})
		checkField(t, obj, "confirmations", 104)
		checkField(t, obj, "height", 0)
		if _, ok := obj["previousblockhash"]; ok {
			t.Error("genesis has a previousblockhash")
		}
	})
	t.Run("errors", func(t *testing.T) {
		f.callErr(t, "getblock", []any{"abc"}, rpc.CodeInvalidParameter, "blockhash must be of length 64 (not 3, for 'abc')")
		f.callErr(t, "getblock", []any{strings.Repeat("z", 64)}, rpc.CodeInvalidParameter, "blockhash must be hexadecimal string (not 'zzzz")
		f.callErr(t, "getblock", []any{strings.Repeat("0", 64)}, rpc.CodeInvalidAddressOrKey, "Block not found")
		f.callErr(t, "getblock", []any{12}, rpc.CodeType, "Wrong type for parameter 'blockhash'")
		f.callErr(t, "getblock", []any{hash, 4}, rpc.CodeInvalidParameter, "Invalid verbosity 4")
		f.callErr(t, "getblock", []any{hash, -1}, rpc.CodeInvalidParameter, "Invalid verbosity -1")
		f.callErr(t, "getblock", []any{hash, "1"}, rpc.CodeType, "Wrong type for parameter 'verbosity'")
		f.callErr(t, "getblock", nil, rpc.CodeMisc, "Missing required parameter 'blockhash'")
	})
}

func TestGetBlockHeader(t *testing.T) {
	f := newChainFixture(t, 103)
	b := f.main[103]
	var raw string
	f.call(t, "getblockheader", []any{b.Hash(), false}, &raw)
	enc := b.Header.Encode()
	if raw != hex.EncodeToString(enc[:]) {
		t.Errorf("getblockheader verbose=false = %s, want %x", raw, enc)
	}
	for _, params := range []any{[]any{b.Hash()}, []any{b.Hash(), true}} {
		obj := f.object(t, "getblockheader", params)
		checkKeys(t, "getblockheader", obj, slices.DeleteFunc(slices.Clone(headerKeys), func(k string) bool { return k == "nextblockhash" })...)
		checkField(t, obj, "confirmations", 1)
		checkField(t, obj, "nTx", 1)
		checkField(t, obj, "previousblockhash", f.main[102].Hash())
	}
	obj := f.object(t, "getblockheader", []any{f.headerOnly.Hash()})
	checkField(t, obj, "nTx", 0) // only the header is known
	checkField(t, obj, "confirmations", -1)
	checkField(t, obj, "height", 104)
	f.callErr(t, "getblockheader", []any{strings.Repeat("0", 64)}, rpc.CodeInvalidAddressOrKey, "Block not found")
	f.callErr(t, "getblockheader", []any{b.Hash(), 1}, rpc.CodeType, "Wrong type for parameter 'verbose'")
}

func TestGetTxOut(t *testing.T) {
	f := newChainFixture(t, 103)
	addr := chain.RegtestParams.EncodeAddress(f.gen.PKH)
	cb3 := f.gen.Coinbase(f.main[3].Hash())

	obj := f.object(t, "gettxout", []any{cb3.TxID, 0})
	checkKeys(t, "gettxout", obj, "bestblock", "confirmations", "value", "scriptPubKey", "coinbase")
	checkField(t, obj, "bestblock", f.main[103].Hash())
	checkField(t, obj, "confirmations", 101)
	checkField(t, obj, "value", rpc.Amount(50*chain.Coin))
	checkField(t, obj, "coinbase", true)
	script := obj["scriptPubKey"].(map[string]any)
	checkKeys(t, "scriptPubKey", script, "asm", "hex", "address", "type")
	checkField(t, script, "address", addr)
	checkField(t, script, "type", "witness_v0_keyhash")
	checkField(t, script, "hex", "0014"+hex.EncodeToString(f.gen.PKH[:]))
	checkField(t, script, "asm", "0 "+hex.EncodeToString(f.gen.PKH[:]))

	obj = f.object(t, "gettxout", []any{f.tx2.TxID(), 0})
	checkField(t, obj, "confirmations", 2)
	checkField(t, obj, "coinbase", false)
	checkField(t, obj, "value", rpc.Amount(30*chain.Coin-tx2Fee))

	for name, params := range map[string][]any{
		"spent":                  {f.gen.Coinbase(f.main[1].Hash()).TxID, 0},
		"spent within its block": {f.tx1.TxID(), 0},
		"no such index":          {cb3.TxID, 1},
		"no such transaction":    {chaintest.TxIDFromSeed(1), 0},
		"spent in the mempool":   {f.gen.Coinbase(f.main[2].Hash()).TxID, 0},
	} {
		var got any = "unset"
		f.call(t, "gettxout", params, &got)
		if got != nil {
			t.Errorf("gettxout of an output %s = %v, want null", name, got)
		}
	}
	// Without the mempool, the output spent there is still unspent.
	obj = f.object(t, "gettxout", []any{f.gen.Coinbase(f.main[2].Hash()).TxID, 0, false})
	checkField(t, obj, "confirmations", 102)
	// An output of a mempool transaction has no confirmations.
	obj = f.object(t, "gettxout", map[string]any{"txid": f.memTx.TxID(), "n": 0})
	checkKeys(t, "gettxout", obj, "bestblock", "confirmations", "value", "scriptPubKey", "coinbase")
	checkField(t, obj, "confirmations", 0)
	checkField(t, obj, "value", rpc.Amount(50*chain.Coin-1000))
	var got any = "unset"
	f.call(t, "gettxout", []any{f.memTx.TxID(), 0, false}, &got)
	if got != nil {
		t.Errorf("gettxout of a mempool output without the mempool = %v, want null", got)
	}

	f.callErr(t, "gettxout", []any{cb3.TxID, -1}, rpc.CodeInvalidParameter, "Invalid parameter 'n'")
	f.callErr(t, "gettxout", []any{cb3.TxID, int64(math.MaxUint32) + 1}, rpc.CodeInvalidParameter, "Invalid parameter 'n'")
	f.callErr(t, "gettxout", []any{"00", 0}, rpc.CodeInvalidParameter, "txid must be of length 64 (not 2, for '00')")
	f.callErr(t, "gettxout", []any{cb3.TxID}, rpc.CodeMisc, "Missing required parameter 'n'")
}

func TestGetTxOutSetInfo(t *testing.T) {
	f := newChainFixture(t, 103)
	st, err := f.chain.UtxoStats()
	if err != nil {
		t.Fatal(err)
	}
	obj := f.object(t, "gettxoutsetinfo", nil)
	checkKeys(t, "gettxoutsetinfo", obj, "height", "bestblock", "txouts", "hash_serialized_3", "total_amount")
	checkField(t, obj, "height", 103)
	checkField(t, obj, "bestblock", f.main[103].Hash())
	checkField(t, obj, "txouts", st.TxOuts)
	checkField(t, obj, "hash_serialized_3", st.SetHash)
	checkField(t, obj, "total_amount", rpc.Amount(st.Total))
	// 103 coinbases, less the one tx1 spent, plus tx1's unspent change and tx2's
	// output. Block 102's coinbase claimed tx1's fee but not tx2's, whose input
	// the generator did not know, so tx2's fee is gone from the total.
	if st.TxOuts != 104 || st.Total != 103*50*chain.Coin-tx2Fee {
		t.Errorf("UTXO set of %d outputs worth %d", st.TxOuts, st.Total)
	}
	obj = f.object(t, "gettxoutsetinfo", []any{"none"})
	checkKeys(t, "gettxoutsetinfo", obj, "height", "bestblock", "txouts", "total_amount")
	f.callErr(t, "gettxoutsetinfo", []any{"muhash"}, rpc.CodeInvalidParameter, "'muhash' is not a valid hash_type")
}

// TestChainMethodsOverHTTP makes one real round trip through the server and the
// client, decoding into the exported result types as Go callers do.
func TestChainMethodsOverHTTP(t *testing.T) {
	f := newChainFixture(t, 103)
	srv, cookie := rpctest.StartServer(t, f.reg, rpc.Config{})
	client := rpcclient.NewClient(srv.Addr().String(), rpcclient.WithCookieFile(cookie))

	var info BlockchainInfoResult
	if err := client.Call(t.Context(), "getblockchaininfo", nil, &info); err != nil {
		t.Fatal(err)
	}
	if info.Chain != "regtest" || info.Blocks != 103 || info.BestBlockHash != f.main[103].Hash() {
		t.Errorf("getblockchaininfo over HTTP = %+v", info)
	}
	var block BlockVerboseResult
	if err := client.Call(t.Context(), "getblock", []any{f.main[102].Hash(), 3}, &block); err != nil {
		t.Fatal(err)
	}
	if len(block.Tx) != 3 || block.Tx[2].TxID != f.tx2.TxID() || *block.Tx[2].Fee != tx2Fee ||
		block.Tx[2].Vin[0].Prevout.Value != 30*chain.Coin || block.Tx[2].Vout[0].ScriptPubKey.Type != "witness_v0_keyhash" {
		t.Errorf("getblock verbosity 3 over HTTP = %+v", block)
	}
	var tx TxResult
	if err := client.Call(t.Context(), "getrawtransaction", []any{f.tx1.TxID(), 1}, &tx); err != nil {
		t.Fatal(err)
	}
	if tx.Hash != f.tx1.WitnessHash() || *tx.Confirmations != 2 || *tx.BlockHash != f.main[102].Hash() {
		t.Errorf("getrawtransaction over HTTP = %+v", tx)
	}
	err := client.Call(t.Context(), "getblockhash", []any{1000}, nil)
	var e *rpc.Error
	if !errors.As(err, &e) || e.Code != rpc.CodeInvalidParameter || e.Message != "Block height out of range" {
		t.Errorf("getblockhash 1000 over HTTP: %v", err)
	}
}

func TestDifficulty(t *testing.T) {
	for _, c := range []struct {
		bits   uint32
		params *chain.Params
		want   float64
	}{
		{0x1d00ffff, chain.MainParams, 1},
		{0x1b0404cb, chain.MainParams, 16307.420938523983}, // Core's blockchain_tests
		{0x207fffff, chain.RegtestParams, 1},
		{chain.TestnetParams.PowLimitBits, chain.TestnetParams, 1},
		{0x1e01ffff, chain.TestnetParams, float64(0x03ffff) / 0x01ffff}, // about half the testnet limit
		{0x04800000, chain.MainParams, 0},                               // negative: no target
		{0, chain.MainParams, 0},
	} {
		if got := Difficulty(c.bits, c.params); math.Abs(got-c.want) > 1e-9*max(1, c.want) {
			t.Errorf("Difficulty(%#08x, %s) = %v, want %v", c.bits, c.params.Name, got, c.want)
		}
	}
}

func TestTxCount(t *testing.T) {
	header := make([]byte, chain.HeaderSize)
	for _, c := range []struct {
		tail []byte
		want int
		err  bool
	}{
		{[]byte{1}, 1, false},
		{[]byte{0xfc}, 0xfc, false},
		{[]byte{0xfd, 0x01, 0x02}, 0x0201, false},
		{[]byte{0xfe, 1, 0, 1, 0}, 0x10001, false},
		{[]byte{0xfd, 0x01}, 0, true},
		{nil, 0, true},
		{[]byte{0xff, 0, 0, 0, 0, 1, 0, 0, 0}, 0, true},
	} {
		got, err := txCount(append(header, c.tail...))
		if got != c.want || (err != nil) != c.err {
			t.Errorf("txCount(% x) = %d, %v; want %d, error %v", c.tail, got, err, c.want, c.err)
		}
	}
}

func TestDefaultSyncState(t *testing.T) {
	f := newChainFixture(t, 2)
	tipTime := time.Unix(int64(f.main[2].Header.Time), 0)
	if st := DefaultSyncState(f.chain, tipTime.Add(time.Hour)); st.InitialBlockDownload || st.Headers != 2 || st.VerificationProgress != 1 {
		t.Errorf("with a recent tip: %+v", st)
	}
	if st := DefaultSyncState(f.chain, tipTime.Add(MaxTipAge+time.Second)); !st.InitialBlockDownload {
		t.Errorf("with a tip older than MaxTipAge: %+v", st)
	}
}

func TestAmountUnmarshal(t *testing.T) {
	for in, want := range map[string]rpc.Amount{
		"50.00000000": 50 * chain.Coin, "0.00000001": 1, "-0.5": -chain.Coin / 2, "21000000": 21_000_000 * chain.Coin, "1e-8": 1,
	} {
		var a rpc.Amount
		if err := json.Unmarshal([]byte(in), &a); err != nil || a != want {
			t.Errorf("unmarshal %s = %d, %v; want %d", in, a, err, want)
		}
	}
	for _, in := range []string{`"1"`, "0.000000001", "21000001", "true", "1.2.3"} {
		var a rpc.Amount
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("unmarshal %s = %d, want an error", in, a)
		}
	}
}

// getblockVerbose checks getblock's verbosity 2 and 3 of b, block 102 of the
// fixture: fees, and with 3 the prevouts.
func getblockVerbose(t *testing.T, f *chainFixture, b *chain.Block) {
	t.Helper()
	hash := b.Hash()
	for _, verbosity := range []int{2, 3} {
		obj := f.object(t, "getblock", []any{hash, verbosity})
		checkKeys(t, "getblock", obj, append([]string{"size", "strippedsize", "weight", "tx"}, headerKeys...)...)
		txs := obj["tx"].([]any)
		if len(txs) != 3 {
			t.Fatalf("getblock verbosity %d has %d transactions, want 3", verbosity, len(txs))
		}
		coinbase := txs[0].(map[string]any)
		checkKeys(t, "coinbase", coinbase, "txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout", "hex")
		checkField(t, coinbase, "txid", b.Txs[0].TxID())
		checkField(t, coinbase, "hex", hex.EncodeToString(b.Txs[0].Encode()))
		for i, wantFee := range []rpc.Amount{tx1Fee, tx2Fee} {
			tx := txs[i+1].(map[string]any)
			checkKeys(t, "transaction", tx, "txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout", "hex", "fee")
			checkField(t, tx, "fee", wantFee)
			in := tx["vin"].([]any)[0].(map[string]any)
			if verbosity == 2 {
				checkKeys(t, "input", in, "txid", "vout", "scriptSig", "txinwitness")
				continue
			}
			checkKeys(t, "input", in, "txid", "vout", "scriptSig", "txinwitness", "prevout")
			prevout := in["prevout"].(map[string]any)
			checkKeys(t, "prevout", prevout, "generated", "height", "value", "scriptPubKey")
			wantPrevout := []PrevoutResult{
				{Generated: true, Height: 1, Value: 50 * chain.Coin},
				{Generated: false, Height: 102, Value: 30 * chain.Coin},
			}[i]
			checkField(t, prevout, "generated", wantPrevout.Generated)
			checkField(t, prevout, "height", wantPrevout.Height)
			checkField(t, prevout, "value", wantPrevout.Value)
		}
	}
}
