package methods

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/rpc"
)

// hashParam reads a hash parameter as Core's ParseHashV does, with its messages.
func hashParam(p *rpc.Params, name string) chain.Hash {
	if !p.Has(name) {
		return chain.Hash{}
	}
	s := p.String(name)
	if rpc.JSONKind(p.Raw(name)) != "string" {
		return chain.Hash{} // String has recorded the type error
	}
	h, err := chain.ParseHash(s)
	switch {
	case err == nil:
	case len(s) != 2*chain.HashSize:
		p.Fail(rpc.Errorf(rpc.CodeInvalidParameter, "%s must be of length %d (not %d, for '%s')", name, 2*chain.HashSize, len(s), rpc.Clip(s)))
	default:
		p.Fail(rpc.Errorf(rpc.CodeInvalidParameter, "%s must be hexadecimal string (not '%s')", name, rpc.Clip(s)))
	}
	return h
}

// verbosityParam reads a verbosity from 0 to most. Like Core, it also takes
// false and true for 0 and 1, as older clients send them.
func verbosityParam(p *rpc.Params, name string, most int64) int {
	if rpc.JSONKind(p.Raw(name)) == "bool" {
		if p.Bool(name) {
			return 1
		}
		return 0
	}
	v := p.Int(name)
	if v < 0 || v > most {
		p.Fail(rpc.Errorf(rpc.CodeInvalidParameter, "Invalid %s %d: must be 0 to %d", name, v, most))
		return 0
	}
	return int(v)
}

// blockInfo looks a block up in the index, answering -5 for one it does not know.
func (m *chainMethods) blockInfo(hash chain.Hash) (blockchain.BlockInfo, error) {
	info, err := m.Chain.BlockInfo(hash)
	if errors.Is(err, blockchain.ErrNotFound) {
		return info, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Block not found")
	}
	return info, err
}

// block loads a block's body, answering as Core does for a block known only by
// its header.
func (m *chainMethods) block(info blockchain.BlockInfo) (*chain.Block, error) {
	if info.Pruned {
		return nil, rpc.Errorf(rpc.CodeMisc, "Block not available (pruned data)")
	}
	if !info.HaveData {
		return nil, rpc.Errorf(rpc.CodeMisc, "Block not available")
	}
	b, err := m.Chain.BlockByHash(info.Hash)
	if err != nil {
		return nil, fmt.Errorf("read block %s: %w", info.Hash, err)
	}
	return b, nil
}

// headerResult is the verbose header of the block info describes; best is read
// after info, so a main-chain block is at or below its height.
func (m *chainMethods) headerResult(info blockchain.BlockInfo, best blockchain.BestState, nTx int) BlockHeaderResult {
	h := &info.Header
	res := BlockHeaderResult{
		Hash:          info.Hash,
		Confirmations: -1,
		Height:        info.Height,
		Version:       h.Version,
		VersionHex:    fmt.Sprintf("%08x", h.Version),
		MerkleRoot:    h.MerkleRoot,
		Time:          int64(h.Time),
		MedianTime:    info.MedianTime,
		Nonce:         h.Nonce,
		Bits:          fmt.Sprintf("%08x", h.Bits),
		Difficulty:    Difficulty(h.Bits, m.params),
		ChainWork:     workHex(info.ChainWork),
		NTx:           nTx,
	}
	if info.MainChain {
		res.Confirmations = int64(best.Height) - int64(info.Height) + 1
	}
	if info.Height > 0 {
		prev := h.PrevBlock
		res.PreviousBlockHash = &prev
	}
	if !info.Next.IsZero() {
		next := info.Next
		res.NextBlockHash = &next
	}
	return res
}

func (m *chainMethods) getblockchaininfo() rpc.Method {
	return rpc.Method{
		Name:     "getblockchaininfo",
		Category: "blockchain",
		Summary:  "Returns an object containing various state info regarding blockchain processing.",
		Result: `{
  "chain" : "str",                 (string) the network name: main, testnet or regtest
  "blocks" : n,                    (numeric) the height of the most-work fully-validated chain
  "headers" : n,                   (numeric) the height of the best valid header known
  "bestblockhash" : "hex",         (string) the hash of the tip
  "difficulty" : n,                (numeric) the tip's difficulty (see getdifficulty)
  "time" : xxx,                    (numeric) the tip's block time, in seconds since the epoch
  "mediantime" : xxx,              (numeric) the median time past of the tip
  "verificationprogress" : n,      (numeric) an estimate of the share of the chain verified, 0 to 1
  "initialblockdownload" : true|false, (boolean) whether the node is still catching up
  "chainwork" : "hex",             (string) the total work of the main chain, 64 hex digits
  "size_on_disk" : n,              (numeric) the size of the chain database, in bytes
  "pruned" : true|false,           (boolean) whether old blocks are pruned (--prune)
  "pruneheight" : n,               (numeric, optional) the height of the lowest stored block (only when pruning)
  "automatic_pruning" : true|false, (boolean, optional) whether pruning is automatic (only when pruning)
  "prune_target_size" : n,         (numeric, optional) the target size of stored blocks, in bytes (only when automatic)
  "warnings" : "str"               (string) warnings for the operator, empty when none
}`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			best := m.Chain.Best()
			sync := m.Sync()
			size, err := dirSize(m.ChainDir)
			if err != nil {
				return nil, err
			}
			res := BlockchainInfoResult{
				Chain:                m.params.Name,
				Blocks:               best.Height,
				Headers:              sync.Headers,
				BestBlockHash:        best.Hash,
				Difficulty:           Difficulty(best.Bits, m.params),
				Time:                 best.Time,
				MedianTime:           best.MedianTime,
				VerificationProgress: sync.VerificationProgress,
				InitialBlockDownload: sync.InitialBlockDownload,
				ChainWork:            workHex(best.ChainWork),
				SizeOnDisk:           size,
			}
			pruneInfo(&res, m.Chain.PruneState())
			return res, nil
		},
	}
}

// dirSize adds up the disk space the files under dir take. Badger replaces files
// as it compacts, so a file that vanishes during the walk is skipped, not an error.
func dirSize(dir string) (int64, error) {
	if dir == "" {
		return 0, nil
	}
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += diskUsage(info)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of chain directory: %w", err)
	}
	return total, nil
}

func (m *chainMethods) getblockcount() rpc.Method {
	return rpc.Method{
		Name:     "getblockcount",
		Category: "blockchain",
		Summary:  "Returns the height of the most-work fully-validated chain.",
		Result:   `n    (numeric) The current block count; the genesis block has height 0`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			return m.Chain.Best().Height, nil
		},
	}
}

func (m *chainMethods) getbestblockhash() rpc.Method {
	return rpc.Method{
		Name:     "getbestblockhash",
		Category: "blockchain",
		Summary:  "Returns the hash of the best (tip) block in the most-work fully-validated chain.",
		Result:   `"hex"    (string) the block hash, hex-encoded`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			return m.Chain.Best().Hash, nil
		},
	}
}

func (m *chainMethods) getblockhash() rpc.Method {
	return rpc.Method{
		Name:     "getblockhash",
		Category: "blockchain",
		Summary:  "Returns hash of block in best-block-chain at height provided.",
		Params: []rpc.Param{
			{Name: "height", Type: rpc.TypeNumber, Required: true, Description: "The height index"},
		},
		Result: `"hex"    (string) The block hash`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			height := p.Int("height")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if height < 0 || height > int64(m.Chain.Best().Height) {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Block height out of range")
			}
			hash, err := m.Chain.BlockHashByHeight(int32(height))
			if err != nil {
				// The chain got shorter since Best: a reorganisation to fewer blocks.
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Block height out of range")
			}
			return hash, nil
		},
	}
}

const blockHeaderResultHelp = `  "hash" : "hex",              (string) the block hash (same as provided)
  "confirmations" : n,         (numeric) the number of confirmations, or -1 if the block is not on the main chain
  "height" : n,                (numeric) the block height or index
  "version" : n,               (numeric) the block version
  "versionHex" : "hex",        (string) the block version formatted in hexadecimal
  "merkleroot" : "hex",        (string) the merkle root (over whole-transaction hashes)
  "time" : xxx,                (numeric) the block time, in seconds since the epoch
  "mediantime" : xxx,          (numeric) the median block time of the last 11 blocks
  "nonce" : n,                 (numeric) the nonce
  "bits" : "hex",              (string) the compact target, 8 hex digits
  "difficulty" : n,            (numeric) the difficulty: the network's pow limit over the block's target
  "chainwork" : "hex",         (string) expected number of hashes to produce the chain up to this block, 64 hex digits
  "nTx" : n,                   (numeric) the number of transactions in the block, 0 if only its header is known
  "previousblockhash" : "hex", (string, optional) the hash of the previous block (absent for the genesis block)
  "nextblockhash" : "hex"      (string, optional) the hash of the next block on the main chain (absent at the tip)`

func (m *chainMethods) getblock() rpc.Method {
	return rpc.Method{
		Name:     "getblock",
		Category: "blockchain",
		Summary:  "Returns the block with the given hash: hex, or an object with its header fields and transactions.",
		Params: []rpc.Param{
			{Name: "blockhash", Type: rpc.TypeHex, Required: true, Description: "The block hash"},
			{Name: "verbosity", Type: rpc.TypeNumber, Default: "1",
				Description: "0 for hex-encoded data, 1 for a JSON object, 2 for JSON object with transaction data,\nand 3 for JSON object with transaction data including prevout information for inputs"},
		},
		Result: `For verbosity = 0:
"hex"    (string) A string that is serialized, hex-encoded data for block 'hash'

For verbosity = 1:
{
  "size" : n,                  (numeric) the block size in bytes
  "strippedsize" : n,          (numeric) the block size without witness data
  "weight" : n,                (numeric) 4 × size: Quarry weighs every byte alike (no witness discount)
  "tx" : [                     (json array of string) the transaction ids
    "hex",
    ...
  ],
` + blockHeaderResultHelp + `
}

For verbosity = 2:
{
  ...,                         same output as verbosity = 1
  "tx" : [                     (json array of object)
    {
      ...,                     the transactions' fields, as getrawtransaction verbose shows them, without the block fields
      "fee" : n                (numeric, optional) the fee in QRY, when the values of all spent outputs are known
    },
    ...
  ]
}

For verbosity = 3:
{
  ...,                         same output as verbosity = 2, and each non-coinbase input has
  "prevout" : {                (json object, optional) the output it spends, when known
    "generated" : true|false,  (boolean) whether it is a coinbase output
    "height" : n,              (numeric) the height of the block that created it
    "value" : n,               (numeric) its value in QRY
    "scriptPubKey" : {...}     (json object) as in vout
  }
}`,
		Handler: func(ctx context.Context, p *rpc.Params) (any, error) {
			hash := hashParam(p, "blockhash")
			verbosity := verbosityParam(p, "verbosity", 3)
			if err := p.Err(); err != nil {
				return nil, err
			}
			info, err := m.blockInfo(hash)
			if err != nil {
				return nil, err
			}
			b, err := m.block(info)
			if err != nil {
				return nil, err
			}
			if verbosity == 0 {
				return hex.EncodeToString(b.Encode()), nil
			}
			size := b.SerializeSize()
			res := BlockResult{
				BlockHeaderResult: m.headerResult(info, m.Chain.Best(), len(b.Txs)),
				Size:              size,
				StrippedSize:      strippedSize(b),
				Weight:            4 * size,
			}
			if verbosity == 1 {
				res.Tx = b.TxIDs()
				return res, nil
			}
			prev, err := m.blockPrevouts(b, info.Height)
			if err != nil {
				return nil, err
			}
			verbose := BlockVerboseResult{BlockResult: res, Tx: make([]TxResult, len(b.Txs))}
			for i, tx := range b.Txs {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				verbose.Tx[i] = txResult(tx, m.params)
				if err := prev.fill(&verbose.Tx[i], tx, verbosity == 3, m.params); err != nil {
					return nil, err
				}
			}
			return verbose, nil
		},
	}
}

func (m *chainMethods) getblockheader() rpc.Method {
	return rpc.Method{
		Name:     "getblockheader",
		Category: "blockchain",
		Summary:  "If verbose is false, returns a string that is serialized, hex-encoded data for blockheader 'hash'; if true, an object with information about it.",
		Params: []rpc.Param{
			{Name: "blockhash", Type: rpc.TypeHex, Required: true, Description: "The block hash"},
			{Name: "verbose", Type: rpc.TypeBool, Default: "true", Description: "true for a json object, false for the hex-encoded data"},
		},
		Result: `For verbose = true:
{
` + blockHeaderResultHelp + `
}

For verbose = false:
"hex"    (string) the 80-byte header, hex-encoded`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			hash := hashParam(p, "blockhash")
			verbose := p.Bool("verbose")
			if err := p.Err(); err != nil {
				return nil, err
			}
			info, err := m.blockInfo(hash)
			if err != nil {
				return nil, err
			}
			if !verbose {
				raw := info.Header.Encode()
				return hex.EncodeToString(raw[:]), nil
			}
			nTx := 0
			if info.HaveData {
				raw, err := m.Chain.RawBlock(hash)
				if err != nil {
					return nil, fmt.Errorf("read block %s: %w", hash, err)
				}
				if nTx, err = txCount(raw); err != nil {
					return nil, fmt.Errorf("stored block %s: %w", hash, err)
				}
			}
			return m.headerResult(info, m.Chain.Best(), nTx), nil
		},
	}
}

// txCount reads the transaction count (a CompactSize) that follows the header
// of an encoded block, sparing getblockheader the decoding of the whole block.
func txCount(raw []byte) (int, error) {
	if len(raw) <= chain.HeaderSize {
		return 0, errors.New("too short for a transaction count")
	}
	b := raw[chain.HeaderSize:]
	width := 0
	switch b[0] {
	case 0xfd:
		width = 2
	case 0xfe:
		width = 4
	case 0xff:
		width = 8
	default:
		return int(b[0]), nil
	}
	if len(b) <= width {
		return 0, errors.New("transaction count cut short")
	}
	var n uint64
	for i := width; i >= 1; i-- { // little-endian
		n = n<<8 | uint64(b[i])
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("transaction count %d is impossible", n)
	}
	return int(n), nil
}

func (m *chainMethods) getchaintips() rpc.Method {
	return rpc.Method{
		Name:     "getchaintips",
		Category: "blockchain",
		Summary:  "Return information about all known tips in the block tree, including the main chain as well as orphaned branches.",
		Result: `[
  {
    "height" : n,         (numeric) height of the chain tip
    "hash" : "hex",       (string) block hash of the tip
    "branchlen" : n,      (numeric) zero for main chain, otherwise length of branch connecting the tip to the main chain
    "status" : "str"      (string) status of the chain, "active" for the main chain. Possible values for tips:
                          1.  "invalid"               This branch contains at least one invalid block
                          2.  "headers-only"          Not all blocks for this branch are available, but the headers are valid
                          3.  "valid-headers"         All blocks are available for this branch, but they were never fully validated
                                                      (also a branch a pruned node will not switch to: it forks below the pruned blocks)
                          4.  "valid-fork"            This branch is not part of the active chain, but is fully validated
                          5.  "active"                This is the tip of the active main chain, which is certainly valid
  },
  ...
]`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			tips := m.Chain.ChainTips()
			out := make([]ChainTipResult, len(tips))
			for i, t := range tips {
				out[i] = ChainTipResult{Height: t.Height, Hash: t.Hash, BranchLen: t.BranchLen, Status: t.Status}
			}
			// Highest first, as Core lists them; the hash makes the order stable.
			slices.SortFunc(out, func(a, b ChainTipResult) int {
				return cmp.Or(cmp.Compare(b.Height, a.Height), a.Hash.Compare(b.Hash))
			})
			return out, nil
		},
	}
}

func (m *chainMethods) getdifficulty() rpc.Method {
	return rpc.Method{
		Name:     "getdifficulty",
		Category: "blockchain",
		Summary:  "Returns the proof-of-work difficulty as a multiple of the minimum difficulty.",
		Result: `n    (numeric) the difficulty of the tip: the network's pow limit target divided by the tip's target,
     so the easiest block of each network has difficulty 1 (main's limit is Bitcoin's, 0x1d00ffff)`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			return Difficulty(m.Chain.Best().Bits, m.params), nil
		},
	}
}

func (m *chainMethods) gettxout() rpc.Method {
	return rpc.Method{
		Name:     "gettxout",
		Category: "blockchain",
		Summary:  "Returns details about an unspent transaction output.",
		Params: []rpc.Param{
			{Name: "txid", Type: rpc.TypeHex, Required: true, Description: "The transaction id"},
			{Name: "n", Type: rpc.TypeNumber, Required: true, Description: "vout number"},
			{Name: "include_mempool", Type: rpc.TypeBool, Default: "true",
				Description: "Whether to include the mempool. Note that an unspent output that is spent in the mempool won't appear."},
		},
		Result: `null    (json null) if the output is spent, or never existed

Otherwise:
{
  "bestblock" : "hex",       (string) The hash of the block at the tip of the chain
  "confirmations" : n,       (numeric) The number of confirmations; 0 for an output of a mempool transaction
  "value" : n,               (numeric) The transaction value in QRY
  "scriptPubKey" : {         (json object)
    "asm" : "str",           (string) "0 <key hash>"
    "hex" : "hex",           (string) "0014" and the 20-byte key hash
    "address" : "str",       (string) The address the output pays to
    "type" : "str"           (string) Always "witness_v0_keyhash"
  },
  "coinbase" : true|false    (boolean) Coinbase or not
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			txid := hashParam(p, "txid")
			n := p.Int("n")
			includeMempool := p.Bool("include_mempool")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if n < 0 || n > math.MaxUint32 {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid parameter 'n': %d is not an output index", n)
			}
			op := chain.OutPoint{TxID: txid, Index: uint32(n)}
			if _, spent := m.Mempool.HaveSpent(op); includeMempool && spent {
				return nil, nil
			}
			entry, err := m.Chain.FetchUtxo(op)
			if err != nil && !errors.Is(err, blockchain.ErrNotFound) {
				return nil, fmt.Errorf("read output %s: %w", op, err)
			}
			best := m.Chain.Best()
			if entry != nil {
				return GetTxOutResult{
					BestBlock:     best.Hash,
					Confirmations: int64(best.Height) - int64(entry.Height) + 1,
					Value:         rpc.Amount(entry.Value),
					ScriptPubKey:  ScriptPubKey(entry.PubKeyHash, m.params),
					Coinbase:      entry.Coinbase,
				}, nil
			}
			if includeMempool {
				if tx, ok := m.Mempool.Get(txid); ok && int(op.Index) < len(tx.Outputs) {
					out := tx.Outputs[op.Index]
					return GetTxOutResult{BestBlock: best.Hash, Value: rpc.Amount(out.Value), ScriptPubKey: ScriptPubKey(out.PubKeyHash, m.params)}, nil
				}
			}
			return nil, nil
		},
	}
}

func (m *chainMethods) gettxoutsetinfo() rpc.Method {
	return rpc.Method{
		Name:     "gettxoutsetinfo",
		Category: "blockchain",
		Summary:  "Returns statistics about the unspent transaction output set.",
		Params: []rpc.Param{
			{Name: "hash_type", Type: rpc.TypeString, Default: `"hash_serialized_3"`,
				Description: "Which UTXO set hash should be calculated. Options: 'hash_serialized_3' (the SHA-256 of every\noutpoint and entry in key order, equal on every node at the same tip), 'none'."},
		},
		Result: `{
  "height" : n,                 (numeric) The block height (index) of the returned statistics
  "bestblock" : "hex",          (string) The hash of the block at which these statistics are calculated
  "txouts" : n,                 (numeric) The number of unspent transaction outputs
  "hash_serialized_3" : "hex",  (string, optional) The serialized hash (only present if 'hash_serialized_3' hash_type is chosen)
  "total_amount" : n            (numeric) The total amount of coins in the UTXO set, in QRY
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			hashType := p.String("hash_type")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if hashType != "hash_serialized_3" && hashType != "none" {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "'%s' is not a valid hash_type", rpc.Clip(hashType))
			}
			st, err := m.Chain.UtxoStats()
			if err != nil {
				return nil, fmt.Errorf("walk the UTXO set: %w", err)
			}
			res := TxOutSetInfoResult{Height: st.Height, BestBlock: st.Best, TxOuts: st.TxOuts, TotalAmount: rpc.Amount(st.Total)}
			if hashType == "hash_serialized_3" {
				res.HashSerialized = &st.SetHash
			}
			return res, nil
		},
	}
}

const mempoolEntryHelp = `  "vsize" : n,                 (numeric) The size in bytes (Quarry weighs every byte alike)
  "weight" : n,                (numeric) 4 × vsize
  "time" : xxx,                (numeric) When the transaction entered the pool, in seconds since the epoch
  "height" : n,                (numeric) The block height when it entered the pool
  "descendantcount" : n,       (numeric) The number of in-mempool descendants, itself included
  "descendantsize" : n,        (numeric) Their size in bytes, its own included
  "ancestorcount" : n,         (numeric) The number of in-mempool ancestors, itself included
  "ancestorsize" : n,          (numeric) Their size in bytes, its own included
  "wtxid" : "hex",             (string) The hash of the whole transaction, witnesses included
  "fees" : {                   (json object)
    "base" : n,                (numeric) The fee in QRY
    "modified" : n,            (numeric) The same: Quarry has no prioritisetransaction
    "ancestor" : n,            (numeric) The fees of its in-mempool ancestors, its own included, in QRY
    "descendant" : n           (numeric) The fees of its in-mempool descendants, its own included, in QRY
  },
  "depends" : [                (json array) The in-mempool transactions it spends from
    "hex",
    ...
  ],
  "spentby" : [                (json array) The in-mempool transactions spending from it
    "hex",
    ...
  ],
  "bip125-replaceable" : true, (boolean) Always true: every transaction may be replaced by fee (full RBF)
  "unbroadcast" : false        (boolean) Always false: transactions are published when they enter`

func entryResult(e mempool.Entry) MempoolEntryResult {
	res := MempoolEntryResult{
		VSize:           e.Size,
		Weight:          4 * e.Size,
		Time:            e.Time.Unix(),
		Height:          e.Height,
		DescendantCount: e.DescendantCount,
		DescendantSize:  e.DescendantSize,
		AncestorCount:   e.AncestorCount,
		AncestorSize:    e.AncestorSize,
		WTxID:           e.WitnessHash,
		Fees: MempoolEntryFees{
			Base:       rpc.Amount(e.Fee),
			Modified:   rpc.Amount(e.Fee),
			Ancestor:   rpc.Amount(e.AncestorFees),
			Descendant: rpc.Amount(e.DescendantFees),
		},
		Depends:           e.Depends,
		SpentBy:           e.SpentBy,
		BIP125Replaceable: true,
	}
	// Empty lists show as [], as Core shows them, not null.
	if res.Depends == nil {
		res.Depends = []chain.Hash{}
	}
	if res.SpentBy == nil {
		res.SpentBy = []chain.Hash{}
	}
	return res
}

func (m *mempoolMethods) getrawmempool() rpc.Method {
	return rpc.Method{
		Name:     "getrawmempool",
		Category: "blockchain",
		Summary:  "Returns all transaction ids in memory pool as a json array of string transaction ids.",
		Params: []rpc.Param{
			{Name: "verbose", Type: rpc.TypeBool, Default: "false", Description: "True for a json object, false for array of transaction ids"},
			{Name: "mempool_sequence", Type: rpc.TypeBool, Default: "false",
				Description: "Must be false: Quarry has no mempool sequence numbers (Core's are for its ZMQ notifications)"},
		},
		Result: `For verbose = false:
[                              (json array) parents before children
  "hex",                       (string) The transaction id
  ...
]

For verbose = true:
{                              (json object)
  "transactionid" : {          (json object) keyed by txid: the entry as getmempoolentry shows it
    ...
  },
  ...
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			verbose := p.Bool("verbose")
			sequence := p.Bool("mempool_sequence")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if sequence {
				if verbose {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Verbose results cannot contain mempool sequence values.")
				}
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "mempool_sequence is not supported: Quarry has no mempool sequence numbers")
			}
			if !verbose {
				return m.Pool.TxIDs(), nil
			}
			entries := m.Pool.Entries()
			out := make(map[chain.Hash]MempoolEntryResult, len(entries))
			for _, e := range entries {
				out[e.TxID] = entryResult(e)
			}
			return out, nil
		},
	}
}

func (m *mempoolMethods) getmempoolentry() rpc.Method {
	return rpc.Method{
		Name:     "getmempoolentry",
		Category: "blockchain",
		Summary:  "Returns mempool data for given transaction.",
		Params: []rpc.Param{
			{Name: "txid", Type: rpc.TypeHex, Required: true, Description: "The transaction id (must be in mempool)"},
		},
		Result: `{
` + mempoolEntryHelp + `
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			txid := hashParam(p, "txid")
			if err := p.Err(); err != nil {
				return nil, err
			}
			e, ok := m.Pool.Entry(txid)
			if !ok {
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Transaction not in mempool")
			}
			return entryResult(e), nil
		},
	}
}

func (m *mempoolMethods) getmempoolinfo() rpc.Method {
	return rpc.Method{
		Name:     "getmempoolinfo",
		Category: "blockchain",
		Summary:  "Returns details on the active state of the TX memory pool.",
		Result: `{
  "loaded" : true,               (boolean) Always true: the node loads its mempool file before it serves RPC
  "size" : n,                    (numeric) The number of transactions
  "bytes" : n,                   (numeric) Their total size in bytes
  "usage" : n,                   (numeric) The memory they take, in bytes
  "total_fee" : n,               (numeric) Their total fees in QRY
  "maxmempool" : n,              (numeric) The memory bound of the pool, in bytes
  "mempoolminfee" : n,           (numeric) The lowest fee rate a transaction must pay to enter now, in QRY/kvB:
                                 minrelaytxfee, or more for a while after the pool was full
  "minrelaytxfee" : n,           (numeric) The minimum relay fee rate, in QRY/kvB
  "incrementalrelayfee" : n,     (numeric) What a replacement or the rising minimum must add, in QRY/kvB:
                                 the minimum relay fee rate
  "unbroadcastcount" : 0,        (numeric) Always 0: transactions are published when they enter
  "fullrbf" : true               (boolean) Always true: every transaction may be replaced by fee
}`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			info := m.Pool.Info()
			return MempoolInfoResult{
				Loaded:              true,
				Size:                info.Count,
				Bytes:               info.Bytes,
				Usage:               info.Usage,
				TotalFee:            rpc.Amount(info.TotalFees),
				MaxMempool:          info.MaxUsage,
				MempoolMinFee:       rpc.Amount(info.MinFeeRate),
				MinRelayTxFee:       rpc.Amount(info.MinRelayFeeRate),
				IncrementalRelayFee: rpc.Amount(info.MinRelayFeeRate),
				FullRBF:             true,
			}, nil
		},
	}
}
