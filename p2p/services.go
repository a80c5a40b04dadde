package p2p

import (
	"fmt"
	"math/bits"
)

// ServiceFlags say which blocks a node serves, in its status message, with
// Bitcoin's bits and names.
type ServiceFlags uint64

// Service bits.
const (
	// NodeNetwork: the node serves every block of its main chain.
	NodeNetwork ServiceFlags = 1 << 0
	// NodeNetworkLimited: the node serves the last NetworkLimitedBlocks
	// blocks of its main chain (BIP 159). A pruned node advertises it
	// alone; a full node both, as Core's.
	NodeNetworkLimited ServiceFlags = 1 << 10
)

// NetworkLimitedBlocks is how far below its tip a NodeNetworkLimited node
// serves blocks (BIP 159's 288, Core's NODE_NETWORK_LIMITED_MIN_BLOCKS).
const NetworkLimitedBlocks = 288

// limitedRace is the slack, in blocks, on each side of the limited window
// for tips that moved since a status was sent, as Core's: a pruned node
// serves two blocks past the window, and a peer asks up to two short of it.
const limitedRace = 2

// serviceNames are the names getnetworkinfo and getpeerinfo show, Core's.
var serviceNames = map[ServiceFlags]string{NodeNetwork: "NETWORK", NodeNetworkLimited: "NETWORK_LIMITED"}

// Names lists the flags set, lowest bit first; an unknown bit is shown as
// Core shows it, UNKNOWN[2^n].
func (s ServiceFlags) Names() []string {
	names := []string{}
	for s != 0 {
		bit := ServiceFlags(1) << bits.TrailingZeros64(uint64(s))
		s &^= bit
		name, ok := serviceNames[bit]
		if !ok {
			name = fmt.Sprintf("UNKNOWN[2^%d]", bits.TrailingZeros64(uint64(bit)))
		}
		names = append(names, name)
	}
	return names
}

// limited reports whether a node with these flags serves only the last
// blocks of its chain (Core's IsLimitedPeer).
func (s ServiceFlags) limited() bool {
	return s&NodeNetworkLimited != 0 && s&NodeNetwork == 0
}

// LocalServices returns the flags the node advertises: a node in prune mode
// serves only its last NetworkLimitedBlocks blocks (from the moment pruning
// is on, as Core, not from the first block pruned).
func (n *Node) LocalServices() ServiceFlags {
	if n.chain.PruneState().Enabled {
		return NodeNetworkLimited
	}
	return NodeNetwork | NodeNetworkLimited
}
