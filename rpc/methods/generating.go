package methods

import (
	"context"
	"errors"
	"fmt"
	"runtime"

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

func (m *miningMethods) setgenerate() rpc.Method {
	return rpc.Method{
		Name:     "setgenerate",
		Category: "generating",
		Summary:  "Starts or stops the node's mining loop, at once and without a restart.",
		Params: []rpc.Param{
			{Name: "generate", Type: rpc.TypeBool, Required: true, Description: "true to mine, false to stop."},
			{Name: "genproclimit", Type: rpc.TypeNumber,
				Description: "How many threads search nonces: -1 for one per CPU, 0 stops mining (as generate false); omitted, the current count."},
		},
		Result: "null",
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			on := p.Bool("generate")
			limit := int64(0)
			if p.Has("genproclimit") {
				limit = p.Int("genproclimit")
			}
			if err := p.Err(); err != nil {
				return nil, err
			}
			threads := 0 // keep
			switch {
			case !p.Has("genproclimit"):
			case limit == -1:
				threads = runtime.NumCPU()
			case limit == 0:
				on = false
			case limit < -1 || limit > 1024:
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "genproclimit must be -1, 0 or a thread count up to 1024, not %d", limit)
			default:
				threads = int(limit)
			}
			err := m.Miner.SetGenerate(on, threads)
			switch {
			case errors.Is(err, miner.ErrNoPayTo):
				return nil, rpc.Errorf(rpc.CodeMisc, "Cannot start mining: %v (set one with setminingaddress or --mine-address)", err)
			case err != nil:
				return nil, rpc.Errorf(rpc.CodeMisc, "Cannot start mining: %v", err)
			}
			return nil, nil
		},
	}
}

func (m *miningMethods) getgenerate() rpc.Method {
	return rpc.Method{
		Name:     "getgenerate",
		Category: "generating",
		Summary:  "Returns whether the node's mining loop runs.",
		Result:   "true|false    (boolean) Whether the node is mining",
		Handler: func(context.Context, *rpc.Params) (any, error) {
			return m.Miner.Generating(), nil
		},
	}
}

func (m *miningMethods) setminingaddress() rpc.Method {
	return rpc.Method{
		Name:     "setminingaddress",
		Category: "generating",
		Summary:  "Sets the address the mining loop pays to; a running loop mines on it from its next template, at once.",
		Params: []rpc.Param{
			{Name: "address", Type: rpc.TypeString, Required: true, Description: "The address to send newly mined coins to."},
		},
		Result: "null",
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			addr := p.String("address")
			if err := p.Err(); err != nil {
				return nil, err
			}
			pkh, err := m.Chain.Params().DecodeAddress(addr)
			if err != nil {
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Error: Invalid address: %s", addressReason(err, addr))
			}
			m.Miner.SetPayTo(pkh)
			return nil, nil
		},
	}
}

func (m *miningMethods) generateblock() rpc.Method {
	return rpc.Method{
		Name:     "generateblock",
		Category: "generating",
		Summary:  "Mines a block with exactly the given mempool transactions, in that order, to an address (regtest and testnet only).",
		Params: []rpc.Param{
			{Name: "output", Type: rpc.TypeString, Required: true, Description: "The address to send the newly generated coins to."},
			{Name: "transactions", Type: rpc.TypeArray, Required: true,
				Description: "Txids of mempool transactions to include, in block order (raw transactions are not accepted)."},
		},
		Result: `{
  "hash" : "hex"    (string) The hash of the mined block
}`,
		Handler: func(ctx context.Context, p *rpc.Params) (any, error) {
			addr := p.String("output")
			var list []string
			p.Decode("transactions", &list)
			if err := p.Err(); err != nil {
				return nil, err
			}
			if m.Chain.Params().Name == chain.MainParams.Name {
				return nil, rpc.Errorf(rpc.CodeMisc, "generateblock is only available on regtest and testnet")
			}
			pkh, err := m.Chain.Params().DecodeAddress(addr)
			if err != nil {
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Error: Invalid address or descriptor")
			}
			txids := make([]chain.Hash, len(list))
			for i, s := range list {
				if txids[i], err = chain.ParseHash(s); err != nil {
					return nil, rpc.Errorf(rpc.CodeDeserialization, "Transaction decode failed for %s: only mempool txids are accepted", rpc.Clip(s))
				}
			}
			hash, err := m.Blocks.GenerateBlock(ctx, pkh, txids)
			var missing *MissingTxError
			var rule *chain.RuleError
			switch {
			case errors.As(err, &missing):
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Transaction %s not in mempool.", missing.TxID)
			case errors.As(err, &rule):
				return nil, rpc.Errorf(rpc.CodeVerify, "TestBlockValidity failed: %v", err)
			case err != nil:
				return nil, rpc.Errorf(rpc.CodeMisc, "%v", err)
			}
			return GenerateBlockResult{Hash: hash.String()}, nil
		},
	}
}

// MissingTxError is BlockGenerator's error for a transaction not in the
// mempool.
type MissingTxError struct{ TxID chain.Hash }

func (e *MissingTxError) Error() string { return fmt.Sprintf("transaction %s not in mempool", e.TxID) }
