package methods

import (
	"context"
	"errors"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/pow/miner"
	"github.com/quarrychain/quarry/rpc"
)

func (m *miningMethods) generatetoaddress() rpc.Method {
	return rpc.Method{
		Name:     "generatetoaddress",
		Category: "generating",
		Summary:  "Mine blocks immediately to a specified address (regtest and testnet only).",
		Params: []rpc.Param{
			{Name: "nblocks", Type: rpc.TypeNumber, Required: true, Description: "How many blocks are generated."},
			{Name: "address", Type: rpc.TypeString, Required: true, Description: "The address to send the newly generated coins to."},
			{Name: "maxtries", Type: rpc.TypeNumber, Default: "1000000", Description: "How many nonces to try in all."},
		},
		Result: `[
  "hex",    (string) blockhash
  ...
]`,
		Handler: func(ctx context.Context, p *rpc.Params) (any, error) {
			n := p.Int("nblocks")
			addr := p.String("address")
			maxTries := p.Int("maxtries")
			if err := p.Err(); err != nil {
				return nil, err
			}
			params := m.chain.params
			if params.Name == chain.MainParams.Name {
				return nil, rpc.Errorf(rpc.CodeMisc, "generatetoaddress is only available on regtest and testnet")
			}
			if n < 0 || maxTries < 0 {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "nblocks and maxtries must not be negative")
			}
			pkh, err := params.DecodeAddress(addr)
			if err != nil {
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Error: Invalid address: %s", addressReason(err, addr))
			}
			// Like Core, running out of tries is no error: the caller gets the
			// blocks found so far.
			hashes, err := m.Miner.MineBlocks(ctx, int(n), pkh, uint64(maxTries))
			if err != nil && !errors.Is(err, miner.ErrMaxTries) {
				return nil, rpc.Errorf(rpc.CodeMisc, "%v", err)
			}
			out := make([]string, len(hashes))
			for i, h := range hashes {
				out[i] = h.String()
			}
			return out, nil
		},
	}
}
