package main

import (
	"context"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/methods"
)

// GenerateBlock mines a block on the tip holding exactly the mempool
// transactions txids, in that order, after a coinbase paying to payTo their
// fees and the subsidy (generateblock). The chain judges the order: a child
// before its parent is refused as any invalid block is.
func (n *node) GenerateBlock(ctx context.Context, payTo [chain.PubKeyHashSize]byte, txids []chain.Hash) (chain.Hash, error) {
	best := n.chain.Best()
	height := best.Height + 1
	txs := make([]*chain.Tx, 1, len(txids)+1)
	var fees uint64
	for _, id := range txids {
		e, ok := n.pool.Entry(id)
		if !ok {
			return chain.Hash{}, &methods.MissingTxError{TxID: id}
		}
		txs = append(txs, e.Tx)
		fees += e.Fee
	}
	txs[0] = chain.NewCoinbase(height, 0, []byte("quarry"), n.cfg.params.Subsidy(height)+fees, payTo)
	b := &chain.Block{
		Header: chain.Header{
			Version:   1,
			PrevBlock: best.Hash,
			Time:      uint32(max(time.Now().Unix(), best.MedianTime+1)),
			Bits:      best.NextBits,
		},
		Txs: txs,
	}
	b.Header.MerkleRoot = chain.MerkleRoot(b.WitnessHashes())
	return n.miner.MineBlock(ctx, b)
}
