package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestTestnetFlagsRejected(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topology", "tree"}, `--topology "tree": want line, ring, star or mesh`},
		{[]string{"--network", "main"}, `--network "main": want testnet or regtest`},
		{[]string{"--nodes", "2", "--miners", "3"}, "--miners between 0 and --nodes"},
		{[]string{"--nodes", "0"}, "--nodes at least 1"},
		{[]string{"--tx-rate", "5000"}, "--tx-rate 5000: want 0.125 to 1000"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runTestnet(tc.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

func TestTestnetTopologies(t *testing.T) {
	for name, want := range map[string]int{"line": 3, "ring": 4, "star": 3, "mesh": 6} {
		if got := len(topologies[name](4)); got != want {
			t.Errorf("--topology %s links 4 nodes with %d edges, want %d", name, got, want)
		}
	}
}
