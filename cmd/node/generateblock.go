package main

import (
	"context"
	"fmt"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/methods"
)

// GenerateBlock mines a block on the tip holding exactly the mempool
// transactions txids, in that order, after a coinbase paying to payTo their
// fees and the subsidy (generateblock). A list the chain would refuse once
// the block is solved (a transaction twice, one before the pool transaction
// it spends or without it, more than a block holds) is refused before any
// hashing, which on testnet takes minutes, as a *chain.RuleError.
func (n *node) GenerateBlock(ctx context.Context, payTo [chain.PubKeyHashSize]byte, txids []chain.Hash) (chain.Hash, error) {
	best := n.chain.Best()
	height := best.Height + 1
	txs := make([]*chain.Tx, 1, len(txids)+1)
	var fees uint64
	listed := make(map[chain.Hash]bool, len(txids))
	for _, id := range txids {
		e, ok := n.pool.Entry(id)
		if !ok {
			return chain.Hash{}, &methods.MissingTxError{TxID: id}
		}
		if listed[id] {
			return chain.Hash{}, &chain.RuleError{Kind: chain.ErrDuplicateTx, Description: fmt.Sprintf("transaction %s listed twice", id)}
		}
		// The pool holds only transactions whose inputs are confirmed or
		// outputs of other pool transactions: those must come first.
		for _, in := range e.Tx.Inputs {
			if _, inPool := n.pool.Get(in.PrevOut.TxID); inPool && !listed[in.PrevOut.TxID] {
				return chain.Hash{}, &chain.RuleError{Kind: chain.ErrMissingTxOut,
					Description: fmt.Sprintf("transaction %s spends an output of %s, which the list does not hold before it", id, in.PrevOut.TxID)}
			}
		}
		listed[id] = true
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
	if size := b.SerializeSize(); size > chain.MaxBlockSize {
		return chain.Hash{}, &chain.RuleError{Kind: chain.ErrBlockTooBig,
			Description: fmt.Sprintf("a block of these transactions has %d bytes, over the %d-byte limit", size, chain.MaxBlockSize)}
	}
	b.Header.MerkleRoot = chain.MerkleRoot(b.WitnessHashes())
	return n.miner.MineBlock(ctx, b)
}
