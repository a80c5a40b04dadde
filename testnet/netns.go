package testnet

import "strconv"

// The private network of Options.Namespaces: node i has 10.213.0.<i+2>/24.
// It exists only inside the harness's namespaces, which have no route out, so
// it cannot clash with a real network even where 10.213.0.0/24 is in use.
const (
	namespaceSubnetBits = 24
	namespaceMaxNodes   = 250
	// Every node has a namespace to itself, so all use the same ports.
	namespaceRPCPort = 18443
	namespaceP2PPort = 18444
	namespaceWebPort = 18445
)

// NamespaceAddr is node i's IPv4 address when the network runs in
// namespaces.
func NamespaceAddr(i int) string { return "10.213.0." + strconv.Itoa(i+2) }
