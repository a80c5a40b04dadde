package methods

import (
	"context"
	"errors"

	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/rpc"
)

// errTooShortToPrune is Core's answer while the tip is below the network's
// PruneAfterHeight.
var errTooShortToPrune = rpc.Errorf(rpc.CodeMisc, "Blockchain is too short for pruning.")

func (m *chainMethods) pruneblockchain() rpc.Method {
	return rpc.Method{
		Name:     "pruneblockchain",
		Category: "blockchain",
		Summary:  "Deletes the bodies and undo data of blocks up to a height (the last 288 blocks are always kept). Needs --prune.",
		Params: []rpc.Param{
			{Name: "height", Type: rpc.TypeNumber, Required: true,
				Description: "The block height to prune up to. May be set to a discrete height, or to a UNIX epoch time\nto prune blocks whose block time is at least 2 hours older than the provided timestamp."},
		},
		Result: `n    (numeric) Height of the last block pruned`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			height := p.Int("height")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if !m.Chain.PruneState().Enabled {
				return nil, rpc.Errorf(rpc.CodeMisc, "Cannot prune blocks because node is not in prune mode.")
			}
			if height < 0 {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Negative block height.")
			}
			best := m.Chain.Best()
			if height > 1_000_000_000 {
				// A time, with two hours of slack for blocks stamped early.
				h, ok := m.Chain.FirstBlockAtTime(height - 2*60*60)
				if !ok {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Could not find block with at least the specified timestamp.")
				}
				height = int64(h)
			}
			if best.Height < m.params.PruneAfterHeight {
				return nil, errTooShortToPrune
			}
			if height > int64(best.Height) {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Blockchain is shorter than the attempted prune height.")
			}
			pruned, err := m.Chain.PruneBlockchain(int32(height))
			if errors.Is(err, blockchain.ErrTooShortToPrune) {
				// The chain reorganised to a shorter branch meanwhile.
				return nil, errTooShortToPrune
			}
			if err != nil {
				return nil, err
			}
			return pruned, nil
		},
	}
}

// pruneInfo fills getblockchaininfo's pruning fields as Core does: the height
// and target only when pruning is on (the target only when automatic).
func pruneInfo(res *BlockchainInfoResult, st blockchain.PruneState) {
	res.Pruned = st.Enabled
	if !st.Enabled {
		return
	}
	height := st.Height
	if !st.Pruned {
		height = 0
	}
	res.PruneHeight = &height
	res.AutomaticPruning = &st.Automatic
	if st.Automatic {
		res.PruneTargetSize = &st.TargetBytes
	}
}
