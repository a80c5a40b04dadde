package chain_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

const crashDirEnv = "QUARRY_CRASH_TEST_DIR"

// crashChain is 101 mature blocks, then 40 blocks that each fan a coinbase out
// into 200 outputs and gather the previous block's 200 outputs back into one
// (200 signatures), and a heavier fork from 20 blocks back that spends the same
// coinbases differently, so a child killed at random moments is caught in
// connects, disconnects and reorganisations.
func crashChain(t *testing.T) (blocks []*chain.Block, final *chain.Block) {
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
	mainBranch := branch(blocks[100].Hash(), 0, 40)
	fork := branch(mainBranch[19].Hash(), 20, 25)
	blocks = append(append(blocks, mainBranch...), fork...)
	return blocks, fork[len(fork)-1]
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
	c, err := chain.Open(chain.Config{Params: chain.RegtestParams, Dir: filepath.Join(dir, "chain"), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if _, err := c.ProcessBlock(b); err != nil && !errors.Is(err, chain.ErrDuplicateBlock) {
			t.Fatal(err)
		}
	}
	fmt.Println("all blocks processed")
	c.Close()
}

// A node killed with SIGKILL at any moment restarts on a fully connected tip
// whose UTXO set equals the one replayed from the stored blocks.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	blocks, final := crashChain(t)
	writeBlocks(t, filepath.Join(dir, "blocks"), blocks)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	heights := map[int32]bool{}
	for round := 0; round < 12; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		c, err := chain.Open(chain.Config{Params: chain.RegtestParams, Dir: filepath.Join(dir, "chain"), Logger: quietLog})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		if err := c.VerifyUtxoSet(); err != nil {
			t.Fatalf("round %d at height %d: %v", round, c.Best().Height, err)
		}
		heights[c.Best().Height] = true
		c.Close()
	}
	t.Logf("tips after kills at heights %v", heights)

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	c := openChain(t, filepath.Join(dir, "chain"))
	requireTip(t, c, final)
	if err := c.VerifyUtxoSet(); err != nil {
		t.Fatal(err)
	}
}
