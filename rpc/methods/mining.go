package methods

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/pow"
	"github.com/quarrychain/quarry/rpc"
)

func (m *miningMethods) getmininginfo() rpc.Method {
	return rpc.Method{
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
		Handler: func(ctx context.Context, _ *rpc.Params) (any, error) {
			best := m.Chain.Best()
			netHash, err := m.chain.networkHashPS(ctx, 120, -1)
			if err != nil {
				return nil, err
			}
			info := MiningInfo{
				Blocks:        int64(best.Height),
				Difficulty:    Difficulty(best.Bits, m.chain.params),
				NetworkHashPS: netHash,
				HashesPerSec:  m.Miner.HashesPerSecond(),
				Generate:      m.Miner.Generating(),
				Kernel:        m.Miner.Kernel(),
				Threads:       m.Miner.Threads(),
				Chain:         m.chain.params.Name,
			}
			if info.Threads > 0 {
				info.HashesPerSecPerThread = info.HashesPerSec / float64(info.Threads)
			}
			if m.Pool != nil {
				info.PooledTx = int64(m.Pool.Info().Count)
			}
			return info, nil
		},
	}
}

func (m *chainMethods) getnetworkhashps() rpc.Method {
	return rpc.Method{
		Name:     "getnetworkhashps",
		Category: "mining",
		Summary:  "Returns the estimated network hashes per second based on the last n blocks.",
		Params: []rpc.Param{
			{Name: "nblocks", Type: rpc.TypeNumber, Default: "120",
				Description: "The number of previous blocks to calculate estimate from, or -1 for blocks since last difficulty change."},
			{Name: "height", Type: rpc.TypeNumber, Default: "-1",
				Description: "To estimate at the time of the given height, or -1 for the tip."},
		},
		Result: `n    (numeric) Hashes per second estimated: the work of the blocks over the time between the earliest and latest of them`,
		Handler: func(ctx context.Context, p *rpc.Params) (any, error) {
			lookup := p.Int("nblocks")
			height := p.Int("height")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if lookup < -1 || lookup == 0 {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid nblocks. Must be a positive number or -1.")
			}
			if height < -1 || height > int64(m.Chain.Best().Height) {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Block does not exist at specified height")
			}
			return m.networkHashPS(ctx, lookup, height)
		},
	}
}

// networkHashPS is Core's GetNetworkHashPS: the work done between the block at
// height (the tip for -1) and the one lookup blocks before it, over the spread of
// their times.
func (m *chainMethods) networkHashPS(ctx context.Context, lookup, height int64) (float64, error) {
	if height == -1 {
		height = int64(m.Chain.Best().Height)
	}
	if height == 0 {
		return 0, nil
	}
	if lookup == -1 {
		lookup = height // regtest never retargets: the whole chain
		if interval := int64(m.params.RetargetInterval); interval > 0 {
			lookup = height%interval + 1
		}
	}
	lookup = min(lookup, height)
	at := func(h int64) (blockchain.BlockInfo, error) {
		hash, err := m.Chain.BlockHashByHeight(int32(h))
		if err != nil {
			return blockchain.BlockInfo{}, fmt.Errorf("block at height %d: %w", h, err)
		}
		return m.Chain.BlockInfo(hash)
	}
	last, err := at(height)
	if err != nil {
		return 0, err
	}
	minTime, maxTime := int64(last.Header.Time), int64(last.Header.Time)
	first := last
	for h := height - 1; h >= height-lookup; h-- {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if first, err = at(h); err != nil {
			return 0, err
		}
		minTime, maxTime = min(minTime, int64(first.Header.Time)), max(maxTime, int64(first.Header.Time))
	}
	if minTime == maxTime {
		return 0, nil
	}
	work, _ := new(big.Float).SetInt(new(big.Int).Sub(last.ChainWork, first.ChainWork)).Float64()
	return work / float64(maxTime-minTime), nil
}

// submitResult is submitblock's answer for what processing the block gave: null
// when it extended the main chain, "inconclusive" when it was stored without
// being connected (an orphan, or a branch with less work), the reject reason
// when it broke a rule.
func submitResult(res blockchain.ProcessResult, err error) (any, error) {
	var re *chain.RuleError
	switch {
	case errors.As(err, &re):
		return re.Kind.Reason(), nil
	case err != nil:
		return nil, rpc.Errorf(rpc.CodeVerify, "Block processing failed: %v", err)
	case res.Orphan || !res.MainChain:
		return "inconclusive", nil
	}
	return nil, nil
}

func (m *chainMethods) submitblock() rpc.Method {
	var reasons []string
	for _, k := range chain.Kinds() {
		// duplicate and duplicate-invalid are listed first, with their
		// meaning; a block that does not decode is a -22 error instead.
		if r := k.Reason(); r != "duplicate" && r != "duplicate-invalid" && r != chain.DecodingFailed {
			reasons = append(reasons, r)
		}
	}
	slices.Sort(reasons)
	return rpc.Method{
		Name:     "submitblock",
		Category: "mining",
		Summary:  "Attempts to submit new block to network.",
		Params: []rpc.Param{
			{Name: "hexdata", Type: rpc.TypeHex, Required: true, Description: "the hex-encoded block data to submit"},
			{Name: "dummy", Type: rpc.TypeString, Description: "dummy value, for compatibility with BIP22. This value is ignored."},
		},
		Result: `null    (json null) When the block extended the main chain
"str"   (string) Otherwise, according to BIP22:
        "duplicate"          the block is already known
        "duplicate-invalid"  the block is known and invalid
        "inconclusive"       the block was stored but not connected: its parent is unknown, or its branch has less work
        or the reason the block was rejected, one of:
          ` + strings.Join(slices.Compact(reasons), "\n          "),
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			s := p.String("hexdata")
			if err := p.Err(); err != nil {
				return nil, err
			}
			raw, err := hex.DecodeString(s)
			if err != nil {
				return nil, rpc.Errorf(rpc.CodeDeserialization, "Block decode failed: %v", err)
			}
			b, err := chain.DecodeBlock(raw)
			if err != nil {
				return nil, rpc.Errorf(rpc.CodeDeserialization, "Block decode failed: %v", err)
			}
			if len(b.Txs) == 0 || !b.Txs[0].IsCoinbase() {
				return nil, rpc.Errorf(rpc.CodeDeserialization, "Block does not start with a coinbase")
			}
			return submitResult(m.SubmitBlock(b))
		},
	}
}

// templateRequest is getblocktemplate's template_request; the capabilities
// and rules a client lists change nothing, as Quarry has no soft forks to
// negotiate.
type templateRequest struct {
	Mode       string          `json:"mode"`
	LongPollID json.RawMessage `json:"longpollid"`
}

func (m *mempoolMethods) getblocktemplate() rpc.Method {
	return rpc.Method{
		Name:     "getblocktemplate",
		Category: "mining",
		Summary:  "Returns data needed to construct a block to work on (BIP22, BIP23).",
		Params: []rpc.Param{
			{Name: "template_request", Type: rpc.TypeObject, Default: "{}",
				Description: `Format of the template:
{
  "mode" : "str",          (string, optional, default "template") Only "template": Quarry does not take proposals
  "capabilities" : [...],  (json array, optional) Ignored
  "rules" : [...],         (json array, optional) Ignored: Quarry has no soft forks to negotiate
  "longpollid" : "str"     (string, optional) Wait until the tip changes, or the mempool changed since the template
                           with this id and a minute has passed (BIP22 long polling)
}`},
		},
		Result: `{
  "capabilities" : [],          (json array) None: proposals are not supported
  "version" : n,                (numeric) The block version
  "rules" : [],                 (json array) None
  "vbavailable" : {},           (json object) None
  "vbrequired" : 0,             (numeric) No version bits are required
  "previousblockhash" : "hex",  (string) The hash of the tip the block builds on
  "transactions" : [            (json array) The transactions to include after the coinbase, in this order
    {
      "data" : "hex",           (string) The transaction, hex-encoded
      "txid" : "hex",           (string) Its txid
      "hash" : "hex",           (string) The hash of the whole transaction, witnesses included
      "depends" : [n, ...],     (json array) 1-based indexes in this list of the transactions it spends from
      "fee" : n,                (numeric) Its fee in base units
      "sigops" : 0,             (numeric) Always 0: Quarry has no scripts and no sigop limit
      "weight" : n              (numeric) 4 × its size
    },
    ...
  ],
  "coinbaseaux" : {},           (json object) Nothing the coinbase must carry
  "coinbasevalue" : n,          (numeric) The most the coinbase may pay: subsidy plus fees, in base units
  "longpollid" : "str",         (string) The id to pass to wait for the next template
  "target" : "hex",             (string) The target the block hash must not exceed, 64 hex digits
  "mintime" : xxx,              (numeric) The earliest block time allowed: median time past + 1
  "mutable" : [                 (json array) What the miner may change
    "time", "transactions", "prevblock"
  ],
  "noncerange" : "00000000ffffffff", (string) The nonce range
  "sizelimit" : n,              (numeric) The block size limit in bytes
  "weightlimit" : n,            (numeric) 4 × sizelimit
  "curtime" : xxx,              (numeric) The block time to use, in seconds since the epoch
  "bits" : "hex",               (string) The compact target the header must carry
  "height" : n                  (numeric) The height of the block
}

The miner builds the coinbase itself, as the first transaction, following the
consensus rules (docs/consensus.md): version 1; one input spending the null
outpoint (zero txid, index 0xffffffff) whose witness is one item, the coinbase
data: height (u32, little-endian), extra nonce (u64, little-endian), then free
bytes, at most 100 bytes in all; outputs paying at most coinbasevalue; lock time
height-1. The merkle root is Bitcoin's tree over the hashes of whole
transactions (SHA-256d of the full encoding, witnesses included: "hash" above),
the coinbase's first; there is no witness commitment. The header carries the
version, previousblockhash, the merkle root, a time from mintime up (curtime,
at most 2 hours ahead of the node's clock), bits and a nonce; submit the block
with submitblock.

On main, the node refuses with -9 while it has no peers and -10 while it is
catching up with the network.`,
		Handler: func(ctx context.Context, p *rpc.Params) (any, error) {
			var req templateRequest
			p.Decode("template_request", &req)
			if err := p.Err(); err != nil {
				return nil, err
			}
			switch req.Mode {
			case "", "template":
			case "proposal":
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid mode: block proposals are not supported")
			default:
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid mode")
			}
			if m.params.Name == chain.MainParams.Name {
				if m.PeerCount != nil && m.PeerCount() == 0 {
					return nil, rpc.Errorf(rpc.CodeClientNotConnected, "Quarry is not connected!")
				}
				if m.IsInitialBlockDownload() {
					return nil, rpc.Errorf(rpc.CodeClientInInitialDownload, "Quarry is in initial sync and waiting for blocks...")
				}
			}
			if rpc.JSONKind(req.LongPollID) != "null" {
				tip, updates, err := m.parseLongPollID(req.LongPollID)
				if err != nil {
					return nil, err
				}
				if err := m.longPoll(ctx, tip, updates); err != nil {
					return nil, err
				}
			}
			return m.template()
		},
	}
}

// parseLongPollID reads a longpollid as Core does: the tip's hash in 64 hex
// digits, then the pool's change count in decimal, taken as 0 when it does
// not parse. Any value but a string waits on the current state.
func (m *mempoolMethods) parseLongPollID(raw json.RawMessage) (chain.Hash, uint64, error) {
	var s string
	if rpc.JSONKind(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		return m.Chain.Best().Hash, m.updates.Load(), nil
	}
	head := s[:min(len(s), 2*chain.HashSize)]
	tip, err := chain.ParseHash(head)
	switch {
	case err == nil:
	case len(head) != 2*chain.HashSize:
		return tip, 0, rpc.Errorf(rpc.CodeInvalidParameter, "longpollid must be of length %d (not %d, for '%s')", 2*chain.HashSize, len(head), rpc.Clip(head))
	default:
		return tip, 0, rpc.Errorf(rpc.CodeInvalidParameter, "longpollid must be hexadecimal string (not '%s')", rpc.Clip(head))
	}
	updates, _ := strconv.ParseUint(s[len(head):], 10, 64)
	return tip, updates, nil
}

// longPoll waits while the tip is tip, until the pool has changed from the
// count updates at one of the checks: the first after firstCheck, then one
// every recheck, as Core checks.
func (m *mempoolMethods) longPoll(ctx context.Context, tip chain.Hash, updates uint64) error {
	changed := make(chan struct{}, 1)
	// Subscribed before the tip is read, so that no change slips between.
	cancel := m.Chain.Subscribe(func(blockchain.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer cancel()
	check := time.NewTimer(m.firstCheck)
	defer check.Stop()
	for m.Chain.Best().Hash == tip {
		select {
		case <-ctx.Done():
			return rpc.Errorf(rpc.CodeClientNotConnected, "Shutting down")
		case <-changed:
		case <-check.C:
			if m.updates.Load() != updates {
				return nil
			}
			check.Reset(m.recheck)
		}
	}
	return nil
}

// template builds the block template from the pool. The pool's template
// carries a coinbase, which is dropped: external miners build their own.
func (m *mempoolMethods) template() (BlockTemplateResult, error) {
	// Read before the template is built, so that a change while it is built
	// ends the next long poll instead of being missed.
	updates := m.updates.Load()
	t, err := m.Pool.BlockTemplate([chain.PubKeyHashSize]byte{}, 0, nil)
	if err != nil {
		return BlockTemplateResult{}, fmt.Errorf("build block template: %w", err)
	}
	h := &t.Block.Header
	target, _, _ := pow.CompactToBig(h.Bits)
	res := BlockTemplateResult{
		Capabilities:      []string{},
		Version:           h.Version,
		Rules:             []string{},
		VBAvailable:       map[string]int{},
		PreviousBlockHash: h.PrevBlock,
		Transactions:      make([]BlockTemplateTx, len(t.Txs)),
		CoinbaseAux:       map[string]string{},
		CoinbaseValue:     t.CoinbaseValue,
		LongPollID:        h.PrevBlock.String() + strconv.FormatUint(updates, 10),
		Target:            fmt.Sprintf("%064x", target),
		MinTime:           t.MinTime,
		Mutable:           []string{"time", "transactions", "prevblock"},
		NonceRange:        "00000000ffffffff",
		SizeLimit:         chain.MaxBlockSize,
		WeightLimit:       4 * chain.MaxBlockSize,
		CurTime:           int64(h.Time),
		Bits:              fmt.Sprintf("%08x", h.Bits),
		Height:            t.Height,
	}
	for i, tt := range t.Txs {
		tx := t.Block.Txs[i+1]
		depends := tt.Depends
		if depends == nil {
			depends = []int{}
		}
		res.Transactions[i] = BlockTemplateTx{
			Data:    hex.EncodeToString(tx.Encode()),
			TxID:    tt.TxID,
			Hash:    tx.WitnessHash(),
			Depends: depends,
			Fee:     tt.Fee,
			Weight:  4 * tt.Size,
		}
	}
	return res, nil
}
