package rpc

import (
	"context"
	"errors"

	"github.com/quarrychain/quarry/chain"
)

// MiningBackend is what the mining methods need from the node.
type MiningBackend struct {
	Chain *chain.Chain
	// Generate mines n blocks paying to payTo with the node's nonce search, trying
	// at most maxTries nonces in all, and returns their hashes.
	Generate func(ctx context.Context, n int, payTo [chain.PubKeyHashSize]byte, maxTries uint64) ([]chain.Hash, error)
	// ErrMaxTries is what Generate returns when it runs out of tries.
	ErrMaxTries error
	// HashesPerSecond is the node's own search rate; Mining says whether the
	// mining loop runs.
	HashesPerSecond func() float64
	Mining          func() bool
	// Kernel names the nonce-search code in use, Threads the search workers.
	Kernel  func() string
	Threads func() int
	// PooledTx is the number of mempool transactions; nil means none.
	PooledTx func() int
}

// RegisterMiningMethods registers getmininginfo and generatetoaddress.
func RegisterMiningMethods(reg *Registry, b MiningBackend) {
	cm := &chainMethods{ChainBackend: ChainBackend{Chain: b.Chain}, params: b.Chain.Params()}
	reg.Register(
		Method{
			Name:     "getmininginfo",
			Category: "mining",
			Summary:  "Returns a json object containing mining-related information.",
			Result: `{
  "blocks" : n,           (numeric) The current block count
  "difficulty" : n,       (numeric) The current difficulty
  "networkhashps" : n,    (numeric) The network hashes per second over the last 120 blocks
  "hashespersec" : n,     (numeric) This node's own nonce search rate over the last minute
  "generate" : true|false (boolean) Whether the node's mining loop runs
  "kernel" : "str",       (string) The nonce-search code in use: shani, avx512, hybrid, avx2, sha2 or generic
  "threads" : n,          (numeric) How many threads search nonces
  "hashespersecperthread" : n, (numeric) hashespersec divided by threads
  "pooledtx" : n,         (numeric) The size of the mempool
  "chain" : "str",        (string) The network name
  "warnings" : "str"      (string) Any network and blockchain warnings
}`,
			Handler: func(ctx context.Context, p *Params) (any, error) {
				best := b.Chain.Best()
				netHash, err := cm.networkHashPS(ctx, 120, -1)
				if err != nil {
					return nil, err
				}
				info := MiningInfo{
					Blocks:        int64(best.Height),
					Difficulty:    difficulty(best.Bits, cm.params),
					NetworkHashPS: netHash,
					Chain:         cm.params.Name,
				}
				if b.HashesPerSecond != nil {
					info.HashesPerSec = b.HashesPerSecond()
				}
				if b.Mining != nil {
					info.Generate = b.Mining()
				}
				if b.PooledTx != nil {
					info.PooledTx = int64(b.PooledTx())
				}
				if b.Kernel != nil {
					info.Kernel = b.Kernel()
				}
				if b.Threads != nil {
					info.Threads = b.Threads()
				}
				if info.Threads > 0 {
					info.HashesPerSecPerThread = info.HashesPerSec / float64(info.Threads)
				}
				return info, nil
			},
		},
		Method{
			Name:     "generatetoaddress",
			Category: "generating",
			Summary:  "Mine blocks immediately to a specified address (regtest and testnet only).",
			Params: []Param{
				{Name: "nblocks", Type: TypeNumber, Required: true, Description: "How many blocks are generated."},
				{Name: "address", Type: TypeString, Required: true, Description: "The address to send the newly generated coins to."},
				{Name: "maxtries", Type: TypeNumber, Default: "1000000", Description: "How many nonces to try in all."},
			},
			Result: `[
  "hex",    (string) blockhash
  ...
]`,
			Handler: func(ctx context.Context, p *Params) (any, error) {
				n := p.Int("nblocks")
				addr := p.String("address")
				maxTries := p.Int("maxtries")
				if err := p.Err(); err != nil {
					return nil, err
				}
				if cm.params.Name == chain.MainParams.Name {
					return nil, Errorf(CodeMisc, "generatetoaddress is only available on regtest and testnet")
				}
				if n < 0 || maxTries < 0 {
					return nil, Errorf(CodeInvalidParameter, "nblocks and maxtries must not be negative")
				}
				pkh, err := cm.params.DecodeAddress(addr)
				if err != nil {
					return nil, Errorf(CodeInvalidAddressOrKey, "Error: Invalid address: %s", addressReason(err, addr))
				}
				hashes, err := b.Generate(ctx, int(n), pkh, uint64(maxTries))
				if err != nil && !(b.ErrMaxTries != nil && errors.Is(err, b.ErrMaxTries)) {
					return nil, Errorf(CodeMisc, "%v", err)
				}
				out := make([]string, len(hashes))
				for i, h := range hashes {
					out[i] = h.String()
				}
				return out, nil
			},
		},
	)
}

// MiningInfo is getmininginfo's result.
type MiningInfo struct {
	Blocks        int64   `json:"blocks"`
	Difficulty    float64 `json:"difficulty"`
	NetworkHashPS float64 `json:"networkhashps"`
	HashesPerSec  float64 `json:"hashespersec"`
	Generate      bool    `json:"generate"`
	Kernel        string  `json:"kernel"`
	Threads       int     `json:"threads"`
	// HashesPerSecPerThread is HashesPerSec over Threads.
	HashesPerSecPerThread float64 `json:"hashespersecperthread"`
	PooledTx              int64   `json:"pooledtx"`
	Chain                 string  `json:"chain"`
	Warnings              string  `json:"warnings"`
}
