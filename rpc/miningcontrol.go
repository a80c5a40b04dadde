package rpc

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/quarrychain/quarry/chain"
)

// MiningController is the node's mining loop as the mining control methods
// drive it; pow/miner's Miner is one.
type MiningController interface {
	// SetGenerate starts or stops the loop, with threads workers if threads > 0.
	SetGenerate(on bool, threads int) error
	Generating() bool
	// SetPayTo sets the address the loop pays to, taking effect at once.
	SetPayTo(payTo [chain.PubKeyHashSize]byte)
}

// MiningControlBackend is what the mining control methods need from the node.
type MiningControlBackend struct {
	Params *chain.Params
	Miner  MiningController
	// GenerateBlock mines one block on the tip paying to payTo that holds, after
	// the coinbase, exactly the mempool transactions txids in that order, submits
	// it and returns its hash. A txid not in the mempool is a *MissingTxError.
	GenerateBlock func(ctx context.Context, payTo [chain.PubKeyHashSize]byte, txids []chain.Hash) (chain.Hash, error)
}

// MissingTxError is GenerateBlock's error for a transaction not in the mempool.
type MissingTxError struct{ TxID chain.Hash }

func (e *MissingTxError) Error() string { return fmt.Sprintf("transaction %s not in mempool", e.TxID) }

// RegisterMiningControlMethods registers setgenerate, getgenerate (btcd's),
// setminingaddress and generateblock (Core's).
func RegisterMiningControlMethods(reg *Registry, b MiningControlBackend) {
	reg.Register(setGenerateMethod(b), getGenerateMethod(b), setMiningAddressMethod(b), generateBlockMethod(b))
}

func setGenerateMethod(b MiningControlBackend) Method {
	return Method{
		Name:     "setgenerate",
		Category: "generating",
		Summary:  "Starts or stops the node's mining loop, at once and without a restart.",
		Params: []Param{
			{Name: "generate", Type: TypeBool, Required: true, Description: "true to mine, false to stop."},
			{Name: "genproclimit", Type: TypeNumber,
				Description: "How many threads search nonces: -1 for one per CPU, 0 stops mining (as generate false); omitted, the current count."},
		},
		Result: "null",
		Handler: func(_ context.Context, p *Params) (any, error) {
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
				return nil, Errorf(CodeInvalidParameter, "genproclimit must be -1, 0 or a thread count up to 1024, not %d", limit)
			default:
				threads = int(limit)
			}
			if err := b.Miner.SetGenerate(on, threads); err != nil {
				return nil, Errorf(CodeMisc, "Cannot start mining: %v (set one with setminingaddress or --mine-address)", err)
			}
			return nil, nil
		},
	}
}

func getGenerateMethod(b MiningControlBackend) Method {
	return Method{
		Name:     "getgenerate",
		Category: "generating",
		Summary:  "Returns whether the node's mining loop runs.",
		Result:   "true|false    (boolean) Whether the node is mining",
		Handler: func(context.Context, *Params) (any, error) {
			return b.Miner.Generating(), nil
		},
	}
}

func setMiningAddressMethod(b MiningControlBackend) Method {
	return Method{
		Name:     "setminingaddress",
		Category: "generating",
		Summary:  "Sets the address the mining loop pays to; a running loop mines on it from its next template, at once.",
		Params: []Param{
			{Name: "address", Type: TypeString, Required: true, Description: "The address to send newly mined coins to."},
		},
		Result: "null",
		Handler: func(_ context.Context, p *Params) (any, error) {
			addr := p.String("address")
			if err := p.Err(); err != nil {
				return nil, err
			}
			pkh, err := b.Params.DecodeAddress(addr)
			if err != nil {
				return nil, Errorf(CodeInvalidAddressOrKey, "Error: Invalid address: %s", addressReason(err, addr))
			}
			b.Miner.SetPayTo(pkh)
			return nil, nil
		},
	}
}

// GenerateBlockResult is generateblock's result.
type GenerateBlockResult struct {
	Hash string `json:"hash"`
}

func generateBlockMethod(b MiningControlBackend) Method {
	return Method{
		Name:     "generateblock",
		Category: "generating",
		Summary:  "Mines a block with exactly the given mempool transactions, in that order, to an address (regtest and testnet only).",
		Params: []Param{
			{Name: "output", Type: TypeString, Required: true, Description: "The address to send the newly generated coins to."},
			{Name: "transactions", Type: TypeArray, Required: true,
				Description: "Txids of mempool transactions to include, in block order (raw transactions are not accepted)."},
		},
		Result: `{
  "hash" : "hex"    (string) The hash of the mined block
}`,
		Handler: func(ctx context.Context, p *Params) (any, error) {
			addr := p.String("output")
			var list []string
			p.Decode("transactions", &list)
			if err := p.Err(); err != nil {
				return nil, err
			}
			if b.Params.Name == chain.MainParams.Name {
				return nil, Errorf(CodeMisc, "generateblock is only available on regtest and testnet")
			}
			pkh, err := b.Params.DecodeAddress(addr)
			if err != nil {
				return nil, Errorf(CodeInvalidAddressOrKey, "Error: Invalid address or descriptor")
			}
			txids := make([]chain.Hash, len(list))
			for i, s := range list {
				if txids[i], err = chain.ParseHash(s); err != nil {
					return nil, Errorf(CodeDeserialization, "Transaction decode failed for %s: only mempool txids are accepted", clip(s))
				}
			}
			hash, err := b.GenerateBlock(ctx, pkh, txids)
			var missing *MissingTxError
			var rule *chain.RuleError
			switch {
			case errors.As(err, &missing):
				return nil, Errorf(CodeInvalidAddressOrKey, "Transaction %s not in mempool.", missing.TxID)
			case errors.As(err, &rule):
				return nil, Errorf(CodeVerify, "TestBlockValidity failed: %v", err)
			case err != nil:
				return nil, Errorf(CodeMisc, "%v", err)
			}
			return GenerateBlockResult{Hash: hash.String()}, nil
		},
	}
}
