package blockchain_test

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// FirstBlockAtTime finds the first block whose time, or an ancestor's, reaches
// the one asked for, even where block times go back, and after a restart.
func TestFirstBlockAtTime(t *testing.T) {
	dir := t.TempDir()
	c := openChain(t, dir)
	g := chaintest.New(chain.RegtestParams)
	blocks := g.Chain(chain.RegtestParams.GenesisHash, 12)
	base := blocks[len(blocks)-1].Header.Time
	at := func(dt uint32) func(*chain.Block) { return func(b *chain.Block) { b.Header.Time = base + dt } }
	// Heights 13, 14, 15: a block far ahead, then two earlier (still above
	// the median time past).
	ahead := g.BuildBlock(blocks[len(blocks)-1].Hash(), at(1000))
	back := g.BuildBlock(ahead.Hash(), at(500))
	later := g.BuildBlock(back.Hash(), at(600))
	chaintest.MustProcess(t, c, append(blocks, ahead, back, later)...)

	genesisTime := int64(chain.RegtestParams.GenesisBlock.Header.Time)
	cases := []struct {
		name   string
		t      int64
		height int32
		found  bool
	}{
		{"before genesis", genesisTime - 1, 0, true},
		{"genesis time", genesisTime, 0, true},
		{"a block's own time", int64(blocks[4].Header.Time), 5, true},
		{"between a late block and the ones after it", int64(base) + 550, 13, true},
		{"the late block's time", int64(base) + 1000, 13, true},
		{"after every block", int64(base) + 1001, 0, false},
	}
	check := func(c interface {
		FirstBlockAtTime(int64) (int32, bool)
	}) {
		t.Helper()
		for _, tc := range cases {
			h, ok := c.FirstBlockAtTime(tc.t)
			if ok != tc.found || (ok && h != tc.height) {
				t.Errorf("%s: FirstBlockAtTime(%d) = %d, %v; want %d, %v", tc.name, tc.t, h, ok, tc.height, tc.found)
			}
		}
	}
	check(c)
	c.Close()
	check(openChain(t, dir))
}
