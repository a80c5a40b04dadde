package chain_test

import (
	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

func init() { chain.UseTestHelpers(chaintest.HighS) }
