package methods

import (
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/p2p"
	"github.com/quarrychain/quarry/pow/miner"
)

// The node's parts satisfy the interfaces the methods are written against.
var (
	_ TxPool  = (*mempool.Pool)(nil)
	_ Miner   = (*miner.Miner)(nil)
	_ Network = (*p2p.Node)(nil)
)
