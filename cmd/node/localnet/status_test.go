package localnet

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestRenderTableGolden(t *testing.T) {
	rows := []nodeStatus{
		{name: "node0", height: 1234, tip: "00000a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293c3d4e5f6",
			difficulty: 0.000244140625, hashesPerSec: 1_234_567, peers: 2, mempool: 3, interval: 9 * time.Second, hasInterval: true,
			miner: "on", forks: 2, deepestReorg: 3, stale: 4, sync: "synced"},
		{name: "node1", height: 1233, tip: "00000ffffffffffffffffffffffffffffffffffffffffffffffffffff0000001",
			difficulty: 1, hashesPerSec: 0, peers: 2, mempool: 0, interval: 75 * time.Second, hasInterval: true,
			miner: "off", forks: 0, sync: "headers+12"},
		{name: "node2", height: 0, tip: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
			difficulty: -1, hashesPerSec: -1, peers: -1, mempool: -1, forks: -1},
		{name: "node3", err: errors.New("connection refused")},
	}
	var buf bytes.Buffer
	if err := renderTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestRenderTableGolden -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("table differs from %s:\ngot:\n%s\nwant:\n%s", golden, buf.Bytes(), want)
	}
}

func TestFormatHashRate(t *testing.T) {
	for h, want := range map[float64]string{
		-1: "-", 0: "0 H/s", 999: "999 H/s", 1000: "1.00 kH/s", 1_500_000: "1.50 MH/s",
		2.5e9: "2.50 GH/s", 7e15: "7000.00 TH/s",
	} {
		if got := formatHashRate(h); got != want {
			t.Errorf("formatHashRate(%v) = %q, want %q", h, got, want)
		}
	}
}

func TestShortHash(t *testing.T) {
	for h, want := range map[string]string{
		"":                                 "-",
		"abc":                              "abc",
		"0123456789abcdef0123456789abcdef": "01234567..89abcdef",
	} {
		if got := shortHash(h); got != want {
			t.Errorf("shortHash(%q) = %q, want %q", h, got, want)
		}
	}
}

func TestForkStats(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		tips                       []chainTip
		forks, deepestReorg, stale int
	}{
		{"one chain", []chainTip{{Height: 10, Status: "active"}}, 0, 0, 0},
		{"a block mined on a side branch, never followed", []chainTip{
			{Height: 10, Status: "active"}, {Height: 9, BranchLen: 1, Status: "valid-headers"}}, 1, 0, 1},
		{"a 3-block branch followed, then left", []chainTip{
			{Height: 12, Status: "active"}, {Height: 11, BranchLen: 3, Status: "valid-fork"},
			{Height: 8, BranchLen: 1, Status: "valid-fork"}, {Height: 7, BranchLen: 2, Status: "invalid"}}, 3, 3, 6},
		{"headers only", []chainTip{{Height: 5, Status: "active"}, {Height: 20, BranchLen: 15, Status: "headers-only"}}, 1, 0, 15},
	} {
		forks, reorg, stale := forkStats(tc.tips)
		if forks != tc.forks || reorg != tc.deepestReorg || stale != tc.stale {
			t.Errorf("%s: forks %d, reorg %d, stale %d; want %d, %d, %d", tc.name, forks, reorg, stale, tc.forks, tc.deepestReorg, tc.stale)
		}
	}
}

func TestSyncState(t *testing.T) {
	for _, tc := range []struct {
		ibd             bool
		headers, blocks int64
		want            string
	}{
		{true, 100, 10, "ibd"},
		{false, 100, 90, "headers+10"},
		{false, 100, 100, "synced"},
		{false, 0, 7, "synced"}, // a node that gives no headers count
	} {
		if got := syncState(tc.ibd, tc.headers, tc.blocks); got != tc.want {
			t.Errorf("syncState(%v, %d, %d) = %q, want %q", tc.ibd, tc.headers, tc.blocks, got, tc.want)
		}
	}
}
