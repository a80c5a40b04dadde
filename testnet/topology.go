package testnet

import (
	"fmt"
	"slices"
)

// Edge links node A and node B (indexes into the network's nodes). Links have
// no direction: both nodes see each other as peers.
type Edge struct{ A, B int }

// Topology returns the links between n nodes.
type Topology func(n int) []Edge

// Isolated links no nodes, for tests that build their own partitions.
func Isolated(int) []Edge { return nil }

// Line links each node to the next: 0-1, 1-2, ..., so a block crosses every hop.
func Line(n int) []Edge {
	var edges []Edge
	for i := 1; i < n; i++ {
		edges = append(edges, Edge{i - 1, i})
	}
	return edges
}

// Ring is Line with the last node linked back to the first.
func Ring(n int) []Edge {
	edges := Line(n)
	if n > 2 {
		edges = append(edges, Edge{0, n - 1})
	}
	return edges
}

// Star links node 0 to every other node.
func Star(n int) []Edge {
	var edges []Edge
	for i := 1; i < n; i++ {
		edges = append(edges, Edge{0, i})
	}
	return edges
}

// FullMesh links every node to every other.
func FullMesh(n int) []Edge {
	var edges []Edge
	for a := range n {
		for b := a + 1; b < n; b++ {
			edges = append(edges, Edge{a, b})
		}
	}
	return edges
}

// Edges is a topology of exactly the given links.
func Edges(edges ...Edge) Topology {
	return func(int) []Edge { return slices.Clone(edges) }
}

// normalize checks edges against n nodes and returns them with A < B, sorted
// and without duplicates, so that each link is made and waited for once.
func normalize(n int, edges []Edge) ([]Edge, error) {
	out := make([]Edge, 0, len(edges))
	for _, e := range edges {
		if e.A < 0 || e.A >= n || e.B < 0 || e.B >= n {
			return nil, fmt.Errorf("edge %d-%d: only nodes 0 to %d exist", e.A, e.B, n-1)
		}
		if e.A == e.B {
			return nil, fmt.Errorf("edge %d-%d links a node to itself", e.A, e.B)
		}
		out = append(out, orderedEdge(e.A, e.B))
	}
	slices.SortFunc(out, compareEdges)
	return slices.Compact(out), nil
}

func orderedEdge(a, b int) Edge {
	if a > b {
		a, b = b, a
	}
	return Edge{a, b}
}

func compareEdges(x, y Edge) int {
	if x.A != y.A {
		return x.A - y.A
	}
	return x.B - y.B
}
