package testnet

import (
	"reflect"
	"strings"
	"testing"
)

func TestTopologies(t *testing.T) {
	for _, tc := range []struct {
		name string
		topo Topology
		n    int
		want []Edge
	}{
		{"isolated", Isolated, 3, nil},
		{"line1", Line, 1, nil},
		{"line4", Line, 4, []Edge{{0, 1}, {1, 2}, {2, 3}}},
		{"ring2", Ring, 2, []Edge{{0, 1}}},
		{"ring4", Ring, 4, []Edge{{0, 1}, {0, 3}, {1, 2}, {2, 3}}},
		{"star4", Star, 4, []Edge{{0, 1}, {0, 2}, {0, 3}}},
		{"mesh1", FullMesh, 1, nil},
		{"mesh4", FullMesh, 4, []Edge{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}}},
		{"explicit", Edges(Edge{2, 0}, Edge{0, 2}, Edge{1, 2}), 3, []Edge{{0, 2}, {1, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalize(tc.n, tc.topo(tc.n))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNormalizeRejects(t *testing.T) {
	for _, tc := range []struct {
		edges []Edge
		want  string
	}{
		{[]Edge{{0, 3}}, "only nodes 0 to 2"},
		{[]Edge{{-1, 0}}, "only nodes 0 to 2"},
		{[]Edge{{1, 1}}, "to itself"},
	} {
		if _, err := normalize(3, tc.edges); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("normalize(%v) = %v, want an error containing %q", tc.edges, err, tc.want)
		}
	}
}

func TestEdgesDoesNotShareItsSlice(t *testing.T) {
	topo := Edges(Edge{0, 1})
	topo(2)[0] = Edge{5, 6}
	if got := topo(2); got[0] != (Edge{0, 1}) {
		t.Errorf("a caller's change leaked into the topology: %v", got)
	}
}
