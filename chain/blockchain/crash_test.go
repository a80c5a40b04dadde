package blockchain_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

const (
	crashDirEnv = "QUARRY_CRASH_TEST_DIR"
	// crashStopEnv makes the child stop half way through its Nth flush of the
	// chain state ("flush:N") or through the replay at its start ("replay"),
	// say so on its standard output, and wait there to be killed.
	crashStopEnv = "QUARRY_CRASH_TEST_STOP"
	// crashUptoEnv is how many of the stored blocks the child processes:
	// the rounds raise it, so the chain grows from round to round and kills
	// find it at every stage, the reorganisation to the fork included,
	// rather than at its final tip after the first child that was not
	// killed in time.
	crashUptoEnv = "QUARRY_CRASH_TEST_UPTO"
	// crashCacheBytes bounds the child's UTXO cache so it flushes every block or
	// two, and kills find the stored state behind the tip.
	crashCacheBytes = 48 << 10
)

// crashChain is 101 mature blocks, then 24 blocks that each fan a coinbase out
// into 200 outputs and gather the previous block's 200 outputs back into one
// (200 signatures), and a heavier fork from 12 blocks back that spends the same
// coinbases differently, so a child killed at random moments is caught in
// connects, disconnects and reorganisations.
func crashChain(t *testing.T) (blocks []*chain.Block, final *chain.Block, pkh [chain.PubKeyHashSize]byte) {
	g := chaintest.New(chain.RegtestParams)
	blocks = g.Chain(chain.RegtestParams.GenesisHash, 101)
	branch := func(parent chain.Hash, firstCoinbase, n int) []*chain.Block {
		var out []*chain.Block
		var prevFan *chain.Tx
		for i := range n {
			values := make([]uint64, 200)
			for j := range values {
				values[j] = chain.RegtestParams.Subsidy(1)/200 - 100 - uint64(firstCoinbase)
			}
			txs := []*chain.Tx{g.Spend([]chain.OutPoint{g.Coinbase(blocks[firstCoinbase+i].Hash())}, values...)}
			if prevFan != nil {
				ops := make([]chain.OutPoint, len(prevFan.Outputs))
				for j := range ops {
					ops[j] = chain.OutPoint{TxID: prevFan.TxID(), Index: uint32(j)}
				}
				txs = append(txs, g.Spend(ops, 1000))
			}
			prevFan = txs[0]
			b := g.NextBlock(parent, txs...)
			out = append(out, b)
			parent = b.Hash()
		}
		return out
	}
	mainBranch := branch(blocks[100].Hash(), 0, 24)
	fork := branch(mainBranch[11].Hash(), 12, 16)
	blocks = append(append(blocks, mainBranch...), fork...)
	return blocks, fork[len(fork)-1], g.PKH
}

// crashConfig opens the crash test's chain, with both indexes, so that kills
// catch them applying blocks and catching up too.
func crashConfig(dir string) blockchain.Config {
	return blockchain.Config{Params: chain.RegtestParams, Dir: filepath.Join(dir, "chain"), Logger: quietLog, DBCacheBytes: crashCacheBytes,
		Indexers: []blockchain.Indexer{indexers.NewTxIndex(), indexers.NewAddrIndex()}}
}

func writeBlocks(t *testing.T, path string, blocks []*chain.Block) {
	var out []byte
	for _, b := range blocks {
		enc := b.Encode()
		out = binary.LittleEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readBlocks(path string) ([]*chain.Block, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var blocks []*chain.Block
	for len(raw) > 0 {
		n := binary.LittleEndian.Uint32(raw)
		b, err := chain.DecodeBlock(raw[4 : 4+n])
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, b)
		raw = raw[4+n:]
	}
	return blocks, nil
}

// TestCrashChild is the child process of TestCrashRecovery: it feeds the stored
// blocks to a chain until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as TestCrashRecovery's child")
	}
	blocks, err := readBlocks(filepath.Join(dir, "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	stop := func(what string) func() {
		return func() {
			fmt.Println("stopped in " + what)
			select {}
		}
	}
	switch mode := os.Getenv(crashStopEnv); {
	case mode == "replay":
		blockchain.SetTestHooks(nil, stop("replay"))
		// With too little to replay to stop half way, the child ends as
		// a kill would, right after its start: it leaves the blocks to
		// the next round.
		if _, err := blockchain.Open(crashConfig(dir)); err != nil {
			t.Fatal(err)
		}
		return
	case strings.HasPrefix(mode, "flush:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(mode, "flush:"))
		flushes := 0
		blockchain.SetTestHooks(func() {
			if flushes++; flushes == n {
				stop("flush")()
			}
		}, nil)
	}
	// Flushes of a few hundred entries go in several transactions, as a
	// node's of millions do, so kills catch some of them on disk.
	blockchain.SetFlushBatchEntries(16)
	c, err := blockchain.Open(crashConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if upto, err := strconv.Atoi(os.Getenv(crashUptoEnv)); err == nil {
		blocks = blocks[:upto]
	}
	for _, b := range blocks {
		if _, err := c.ProcessBlock(b); err != nil && !errors.Is(err, chain.ErrDuplicateBlock) {
			t.Fatal(err)
		}
	}
	fmt.Println("all blocks processed")
	c.Close()
}

// A node killed with SIGKILL at any moment, half way through a flush of its
// chain state or through the replay of the blocks after the last flush,
// restarts on a fully connected tip whose UTXO set equals the one replayed
// from the stored blocks, and its indexes, killed while they apply blocks or
// catch up, end holding what indexes never killed hold.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	blocks, final, pkh := crashChain(t)
	writeBlocks(t, filepath.Join(dir, "blocks"), blocks)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	heights := map[int32]bool{}
	reopen := func(round int, how string) {
		// An index's marker names a block it can go on from (never one the
		// chain database lost): no index is rebuilt, which the log would
		// say as an error.
		var logged lockedBuffer
		cfg := crashConfig(dir)
		cfg.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelError}))
		c, err := blockchain.Open(cfg)
		if err != nil {
			t.Fatalf("round %d: reopen after a kill %s: %v", round, how, err)
		}
		if err := c.VerifyUtxoSet(); err != nil {
			t.Fatalf("round %d at height %d, killed %s: %v", round, c.Best().Height, how, err)
		}
		heights[c.Best().Height] = true
		c.Close()
		if logged.String() != "" {
			t.Fatalf("round %d: reopen after a kill %s logged errors:\n%s", round, how, logged.String())
		}
	}
	// Every fourth round kills in the middle of a flush, then in the middle of
	// the replay that follows; the others kill at random.
	stopped := map[string]int{}
	const rounds = 16
	for round := range rounds {
		// The first round has the 101 empty blocks to itself.
		upto := 101 + round*(len(blocks)-101)/(rounds-1)
		if round%4 == 0 {
			if killWhenStopped(t, crashChild(dir, fmt.Sprintf("flush:%d", 1+rng.IntN(3)), upto), "flush") {
				stopped["flush"]++
			}
			if killWhenStopped(t, crashChild(dir, "replay", upto), "replay") {
				stopped["replay"]++
			}
			reopen(round, "during a flush and a replay")
			continue
		}
		cmd := crashChild(dir, "", upto)
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+rng.IntN(500)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		reopen(round, "at random")
	}
	if stopped["flush"] == 0 {
		t.Error("no child was killed during a flush")
	}
	t.Logf("tips after kills at heights %v; kills in the middle of: %v", heights, stopped)

	cmd := crashChild(dir, "", len(blocks))
	cmd.Stderr = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	c, txIndex, addrIndex := openIndexed(t, filepath.Join(dir, "chain"))
	requireTip(t, c, final)
	if err := c.VerifyUtxoSet(); err != nil {
		t.Fatal(err)
	}
	// The indexes, killed as often as the chain, hold what indexes that never
	// were hold.
	fresh, freshTx, freshAddr := openIndexed(t, t.TempDir())
	chaintest.MustProcess(t, fresh, blocks...)
	chaintest.WaitIndexes(t, c)
	chaintest.WaitIndexes(t, fresh)
	for height := int32(1); height <= fresh.Best().Height; height++ {
		hash, err := fresh.BlockHashByHeight(height)
		if err != nil {
			t.Fatal(err)
		}
		b, err := fresh.BlockByHash(hash)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range b.Txs {
			_, got, err := txIndex.Find(tx.TxID())
			_, want, werr := freshTx.Find(tx.TxID())
			if err != nil || werr != nil || got != want {
				t.Fatalf("transaction index: %s at %+v (%v), want %+v (%v)", tx.TxID(), got, err, want, werr)
			}
		}
	}
	gotUtxos, err := addrIndex.Utxos(pkh)
	wantUtxos, werr := freshAddr.Utxos(pkh)
	if err != nil || werr != nil || !slices.Equal(gotUtxos, wantUtxos) || len(wantUtxos) == 0 {
		t.Fatalf("address index: %d outputs (%v), want %d (%v)", len(gotUtxos), err, len(wantUtxos), werr)
	}
	gotTxs, err := addrIndex.TxIDs(pkh)
	wantTxs, werr := freshAddr.TxIDs(pkh)
	if err != nil || werr != nil || !slices.Equal(gotTxs, wantTxs) {
		t.Fatalf("address index: %d transactions (%v), want %d (%v)", len(gotTxs), err, len(wantTxs), werr)
	}
}

func crashChild(dir, stop string, upto int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStopEnv+"="+stop, crashUptoEnv+"="+strconv.Itoa(upto))
	cmd.Stderr = io.Discard
	return cmd
}

// killWhenStopped runs the child until it says it stopped in what, or ends
// (the chain may already be at its final tip, or have nothing to replay), and
// kills it. It reports whether the child stopped there.
func killWhenStopped(t *testing.T, cmd *exec.Cmd, what string) bool {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	stopped := false
	for !stopped && sc.Scan() {
		stopped = sc.Text() == "stopped in "+what
	}
	cmd.Process.Kill()
	io.Copy(io.Discard, out)
	cmd.Wait()
	return stopped
}

// Opening a store that another process has open must not touch its files:
// the empty log file a crash leaves behind looks exactly like the one a
// running node has just created, so it is removed only under the store's lock.
func TestOpenInUseKeepsEmptyLogFiles(t *testing.T) {
	dir := t.TempDir()
	c := openChain(t, dir)
	fresh := filepath.Join(dir, "999999.vlog")
	if err := os.WriteFile(fresh, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(fresh)
	if _, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog}); err == nil {
		t.Fatal("a second open of a store in use must fail")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("the open of a store in use removed its empty log file: %v", err)
	}
	os.Remove(fresh)
	c.Close()
	// Once the store is closed, an empty log file is a crash's and goes.
	if err := os.WriteFile(fresh, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c = openChain(t, dir)
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty log file left by a crash: %v", err)
	}
	c.Close()
}

// A flush cut short while a reorganisation leaves the block it was writing,
// and then the replay's own flush cut short too: the outputs of the abandoned
// block that reached the disk in the first flush must still be deleted at
// the next start (the replay goes through that block, not around it).
func TestCrashInReplayAfterFlushOfAbandonedBlock(t *testing.T) {
	defer blockchain.SetFlushBatchEntries(blockchain.SetFlushBatchEntries(16))
	dir := t.TempDir()
	cfg := blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: quietLog}
	c, err := blockchain.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	coin := []chain.OutPoint{g.Coinbase(base[0].Hash())}
	tip := base[100].Hash()
	wide := func(n int, value uint64) *chain.Tx {
		values := make([]uint64, n)
		for i := range values {
			values[i] = value
		}
		return g.Spend(coin, values...)
	}
	winner := g.NextBlock(tip, wide(100, chain.RegtestParams.Subsidy(1)/200))
	winner2 := g.NextBlock(winner.Hash())
	// The abandoned block's outputs sort after every output the winning
	// branch changes, so the first half of each flush writes all of the
	// abandoned block's outputs in the first and none of their deletions in
	// the second.
	last := chain.Hash{}
	for _, b := range []*chain.Block{winner, winner2, base[0]} {
		for _, id := range b.TxIDs() {
			if bytes.Compare(id[:], last[:]) > 0 {
				last = id
			}
		}
	}
	var abandoned *chain.Block
	for fee := uint64(1000); abandoned == nil; fee++ {
		spend := wide(50, chain.RegtestParams.Subsidy(1)/100-fee)
		if id := spend.TxID(); bytes.Compare(id[:], last[:]) > 0 {
			abandoned = g.NextBlock(tip, spend)
			if id := abandoned.Txs[0].TxID(); bytes.Compare(id[:], last[:]) <= 0 {
				abandoned = nil
			}
		}
	}
	if err := c.FlushChainState(); err != nil {
		t.Fatal(err)
	}
	chaintest.MustProcess(t, c, abandoned)
	crash := errors.New("killed mid-flush")
	blockchain.SetFlushStopHook(func() error { return crash })
	defer blockchain.SetFlushStopHook(nil)
	if err := c.FlushChainState(); !errors.Is(err, crash) {
		t.Fatalf("flush: %v, want it cut short", err)
	}
	chaintest.MustProcess(t, c, winner, winner2)
	requireTip(t, c, winner2)
	if err := c.Abandon(); err != nil {
		t.Fatal(err)
	}

	if c, err := blockchain.Open(cfg); !errors.Is(err, crash) {
		if err == nil {
			c.Close()
		}
		t.Fatalf("open replaying: %v, want its flush cut short", err)
	}
	blockchain.SetFlushStopHook(nil)
	c, err = blockchain.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	requireTip(t, c, winner2)
	fresh := openChain(t, t.TempDir())
	chaintest.MustProcess(t, fresh, append(base, winner, winner2)...)
	if utxoHash(t, c) != utxoHash(t, fresh) {
		t.Fatal("UTXO set after the crashes differs from a node that saw only the winning branch")
	}
}
