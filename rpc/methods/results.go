package methods

import (
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/pow"
	"github.com/quarrychain/quarry/rpc"
)

// The types below are the JSON shapes of the chain methods' results, with Bitcoin
// Core's field names so that Core client libraries parse them. They decode as well
// as encode, so Go callers (the wallet, the testnet harness) can read replies into
// them with Client.Call.

// ScriptPubKeyResult describes an output's locking condition as Core shows a P2WPKH
// output: Quarry has no scripts, but every output is, in effect, witness version 0
// paying to a 20-byte key hash.
type ScriptPubKeyResult struct {
	Asm     string `json:"asm"`
	Hex     string `json:"hex"`
	Address string `json:"address"`
	Type    string `json:"type"`
}

// scriptTypeP2WPKH is Core's name for the only output type Quarry has.
const scriptTypeP2WPKH = "witness_v0_keyhash"

// scriptHex is what Core shows as the scriptPubKey of a P2WPKH output paying to
// pkh: OP_0, a 20-byte push, the hash.
func scriptHex(pkh [chain.PubKeyHashSize]byte) string {
	return "0014" + hex.EncodeToString(pkh[:])
}

// ScriptPubKey is the verbose form of an output paying to pkh, as every verbose
// result shows it; the REST interface (rpc/web) shows getutxos' outputs with it.
func ScriptPubKey(pkh [chain.PubKeyHashSize]byte, params *chain.Params) ScriptPubKeyResult {
	return ScriptPubKeyResult{
		Asm:     "0 " + hex.EncodeToString(pkh[:]),
		Hex:     scriptHex(pkh),
		Address: params.EncodeAddress(pkh),
		Type:    scriptTypeP2WPKH,
	}
}

// ScriptSigResult is always empty: a Quarry input unlocks with its witness alone, as a
// native segwit input does in Core, which shows the same empty object.
type ScriptSigResult struct {
	Asm string `json:"asm"`
	Hex string `json:"hex"`
}

// PrevoutResult is the output an input spends, shown by getblock verbosity 3 and
// getrawtransaction verbosity 2.
type PrevoutResult struct {
	Generated    bool               `json:"generated"` // a coinbase output
	Height       int32              `json:"height"`
	Value        rpc.Amount         `json:"value"`
	ScriptPubKey ScriptPubKeyResult `json:"scriptPubKey"`
}

// TxInResult is one input of a verbose transaction: Coinbase for a coinbase input,
// TxID, Vout, ScriptSig and Witness for a spend.
type TxInResult struct {
	Coinbase  string           `json:"coinbase,omitempty"` // hex of the coinbase data
	TxID      *chain.Hash      `json:"txid,omitempty"`
	Vout      *uint32          `json:"vout,omitempty"`
	ScriptSig *ScriptSigResult `json:"scriptSig,omitempty"`
	Witness   []string         `json:"txinwitness,omitempty"` // hex of each item: public key, signature
	Prevout   *PrevoutResult   `json:"prevout,omitempty"`
}

// TxOutResult is one output of a verbose transaction.
type TxOutResult struct {
	Value        rpc.Amount         `json:"value"`
	N            uint32             `json:"n"`
	ScriptPubKey ScriptPubKeyResult `json:"scriptPubKey"`
}

// TxResult is a verbose transaction (getrawtransaction, decoderawtransaction, and the
// entries of getblock verbosity 2 and 3). The block fields are set only by
// getrawtransaction for a confirmed transaction; Fee only when the values of all
// spent outputs are known.
type TxResult struct {
	InActiveChain *bool         `json:"in_active_chain,omitempty"`
	TxID          chain.Hash    `json:"txid"`
	Hash          chain.Hash    `json:"hash"` // the whole-transaction hash, witnesses included
	Version       uint32        `json:"version"`
	Size          int           `json:"size"`
	VSize         int           `json:"vsize"`
	Weight        int           `json:"weight"`
	LockTime      uint32        `json:"locktime"`
	Vin           []TxInResult  `json:"vin"`
	Vout          []TxOutResult `json:"vout"`
	Fee           *rpc.Amount   `json:"fee,omitempty"`
	Hex           string        `json:"hex,omitempty"`
	BlockHash     *chain.Hash   `json:"blockhash,omitempty"`
	Confirmations *int64        `json:"confirmations,omitempty"`
	Time          int64         `json:"time,omitempty"`
	BlockTime     int64         `json:"blocktime,omitempty"`
}

// BlockHeaderResult is the verbose result of getblockheader, and the header part of
// getblock's.
type BlockHeaderResult struct {
	Hash chain.Hash `json:"hash"`
	// Confirmations is -1 for a block off the main chain, as in Core.
	Confirmations     int64       `json:"confirmations"`
	Height            int32       `json:"height"`
	Version           uint32      `json:"version"`
	VersionHex        string      `json:"versionHex"`
	MerkleRoot        chain.Hash  `json:"merkleroot"`
	Time              int64       `json:"time"`
	MedianTime        int64       `json:"mediantime"`
	Nonce             uint32      `json:"nonce"`
	Bits              string      `json:"bits"`
	Difficulty        float64     `json:"difficulty"`
	ChainWork         string      `json:"chainwork"`
	NTx               int         `json:"nTx"`
	PreviousBlockHash *chain.Hash `json:"previousblockhash,omitempty"`
	NextBlockHash     *chain.Hash `json:"nextblockhash,omitempty"`
}

// BlockResult is getblock's result at verbosity 1: the header fields, sizes, and txids.
type BlockResult struct {
	BlockHeaderResult
	Size         int          `json:"size"`
	StrippedSize int          `json:"strippedsize"`
	Weight       int          `json:"weight"`
	Tx           []chain.Hash `json:"tx"`
}

// BlockVerboseResult is getblock's result at verbosity 2 and 3. Its Tx, holding whole
// transactions, takes the place of BlockResult.Tx in JSON: encoding/json lets the
// shallower of two fields with one name win.
type BlockVerboseResult struct {
	BlockResult
	Tx []TxResult `json:"tx"`
}

// BlockchainInfoResult is getblockchaininfo's result.
type BlockchainInfoResult struct {
	Chain                string     `json:"chain"`
	Blocks               int32      `json:"blocks"`
	Headers              int32      `json:"headers"`
	BestBlockHash        chain.Hash `json:"bestblockhash"`
	Difficulty           float64    `json:"difficulty"`
	Time                 int64      `json:"time"`
	MedianTime           int64      `json:"mediantime"`
	VerificationProgress float64    `json:"verificationprogress"`
	InitialBlockDownload bool       `json:"initialblockdownload"`
	ChainWork            string     `json:"chainwork"`
	SizeOnDisk           int64      `json:"size_on_disk"`
	Pruned               bool       `json:"pruned"`
	PruneHeight          *int32     `json:"pruneheight,omitempty"`
	AutomaticPruning     *bool      `json:"automatic_pruning,omitempty"`
	PruneTargetSize      *int64     `json:"prune_target_size,omitempty"`
	Warnings             string     `json:"warnings"`
}

// ChainTipResult is one entry of getchaintips' result.
type ChainTipResult struct {
	Height    int32      `json:"height"`
	Hash      chain.Hash `json:"hash"`
	BranchLen int32      `json:"branchlen"`
	Status    string     `json:"status"`
}

// GetTxOutResult is gettxout's result for an unspent output.
type GetTxOutResult struct {
	BestBlock     chain.Hash         `json:"bestblock"`
	Confirmations int64              `json:"confirmations"` // 0 for an output of a mempool transaction
	Value         rpc.Amount         `json:"value"`
	ScriptPubKey  ScriptPubKeyResult `json:"scriptPubKey"`
	Coinbase      bool               `json:"coinbase"`
}

// TxOutSetInfoResult is gettxoutsetinfo's result.
type TxOutSetInfoResult struct {
	Height         int32       `json:"height"`
	BestBlock      chain.Hash  `json:"bestblock"`
	TxOuts         int64       `json:"txouts"`
	HashSerialized *chain.Hash `json:"hash_serialized_3,omitempty"`
	TotalAmount    rpc.Amount  `json:"total_amount"`
}

// ValidateAddressResult is validateaddress's result: the address fields when IsValid,
// Error otherwise.
type ValidateAddressResult struct {
	IsValid        bool   `json:"isvalid"`
	Address        string `json:"address,omitempty"`
	ScriptPubKey   string `json:"scriptPubKey,omitempty"`
	IsScript       *bool  `json:"isscript,omitempty"`
	IsWitness      *bool  `json:"iswitness,omitempty"`
	WitnessVersion *int   `json:"witness_version,omitempty"`
	WitnessProgram string `json:"witness_program,omitempty"`
	Error          string `json:"error,omitempty"`
}

// AddressBalanceResult is getaddressbalance's result, in base units as bitcore gives
// satoshis.
type AddressBalanceResult struct {
	Balance  uint64 `json:"balance"`  // unspent, immature coinbase outputs included
	Received uint64 `json:"received"` // everything ever paid to the addresses
}

// AddressUtxoResult is one entry of getaddressutxos' result, as bitcore shows it.
type AddressUtxoResult struct {
	Address     string     `json:"address"`
	TxID        chain.Hash `json:"txid"`
	OutputIndex uint32     `json:"outputIndex"`
	Script      string     `json:"script"`
	Satoshis    uint64     `json:"satoshis"` // base units
	Height      int32      `json:"height"`
}

// Difficulty is how many times harder than the easiest target the target of
// bits is, as getdifficulty and getblock show it (the explorer, rpc/web,
// charts it). Core measures against 0x1d00ffff, Bitcoin's pow limit; Quarry
// measures against each network's own pow limit, so that difficulty 1 is the
// easiest block on every network (and main, whose limit is 0x1d00ffff, agrees
// with Core).
func Difficulty(bits uint32, params *chain.Params) float64 {
	target, negative, overflow := pow.CompactToBig(bits)
	if negative || overflow || target.Sign() <= 0 {
		return 0
	}
	d, _ := new(big.Float).Quo(new(big.Float).SetInt(params.PowLimit), new(big.Float).SetInt(target)).Float64()
	return d
}

// workHex shows cumulative work as Core does: 64 hex digits.
func workHex(work *big.Int) string { return fmt.Sprintf("%064x", work) }

// txResult is the verbose form of tx without its block fields, fee or prevouts.
// Quarry counts every byte alike (fee rates are per byte, the block limit is on
// whole bytes), so vsize is the size and weight four times it, keeping Core's
// weight = 4 × vsize.
func txResult(tx *chain.Tx, params *chain.Params) TxResult {
	raw := tx.Encode()
	res := TxResult{
		TxID:     tx.TxID(),
		Hash:     tx.WitnessHash(),
		Version:  tx.Version,
		Size:     len(raw),
		VSize:    len(raw),
		Weight:   4 * len(raw),
		LockTime: tx.LockTime,
		Vin:      make([]TxInResult, len(tx.Inputs)),
		Vout:     make([]TxOutResult, len(tx.Outputs)),
		Hex:      hex.EncodeToString(raw),
	}
	coinbase := tx.IsCoinbase()
	for i, in := range tx.Inputs {
		witness := make([]string, len(in.Witness))
		for j, item := range in.Witness {
			witness[j] = hex.EncodeToString(item)
		}
		if coinbase {
			// The coinbase data is the witness's one item; a malformed coinbase (from
			// decoderawtransaction) shows all its items so nothing is hidden.
			if len(witness) > 0 {
				res.Vin[i].Coinbase = witness[0]
			}
			if len(witness) != 1 {
				res.Vin[i].Witness = witness
			}
			continue
		}
		txid, vout := in.PrevOut.TxID, in.PrevOut.Index
		res.Vin[i] = TxInResult{TxID: &txid, Vout: &vout, ScriptSig: &ScriptSigResult{}, Witness: witness}
	}
	for i, out := range tx.Outputs {
		res.Vout[i] = TxOutResult{Value: rpc.Amount(out.Value), N: uint32(i), ScriptPubKey: ScriptPubKey(out.PubKeyHash, params)}
	}
	return res
}

// strippedSize is the block's size without witnesses, as Core's strippedsize.
func strippedSize(b *chain.Block) int {
	n := chain.HeaderSize + chain.CompactSizeLen(uint64(len(b.Txs)))
	var buf []byte
	for _, tx := range b.Txs {
		buf = tx.AppendEncoding(buf[:0], false)
		n += len(buf)
	}
	return n
}

// MempoolEntryResult is a mempool transaction as getmempoolentry and verbose
// getrawmempool show it. Sizes are in bytes: Quarry weighs every byte alike,
// so vsize is the size and weight four times it.
type MempoolEntryResult struct {
	VSize           int              `json:"vsize"`
	Weight          int              `json:"weight"`
	Time            int64            `json:"time"`
	Height          int32            `json:"height"`
	DescendantCount int              `json:"descendantcount"`
	DescendantSize  int64            `json:"descendantsize"`
	AncestorCount   int              `json:"ancestorcount"`
	AncestorSize    int64            `json:"ancestorsize"`
	WTxID           chain.Hash       `json:"wtxid"`
	Fees            MempoolEntryFees `json:"fees"`
	Depends         []chain.Hash     `json:"depends"`
	SpentBy         []chain.Hash     `json:"spentby"`
	// BIP125Replaceable is always true: the pool replaces by fee without
	// signalling (full RBF).
	BIP125Replaceable bool `json:"bip125-replaceable"`
	// Unbroadcast is always false: gossip publishes a transaction when it
	// enters, and the node does not track acknowledgements.
	Unbroadcast bool `json:"unbroadcast"`
}

// MempoolEntryFees are a mempool entry's fees in QRY. Modified equals Base:
// Quarry has no prioritisetransaction.
type MempoolEntryFees struct {
	Base       rpc.Amount `json:"base"`
	Modified   rpc.Amount `json:"modified"`
	Ancestor   rpc.Amount `json:"ancestor"`
	Descendant rpc.Amount `json:"descendant"`
}

// MempoolInfoResult is getmempoolinfo's result. Fee rates are in QRY per
// 1000 bytes.
type MempoolInfoResult struct {
	Loaded              bool       `json:"loaded"`
	Size                int        `json:"size"`
	Bytes               int64      `json:"bytes"`
	Usage               int64      `json:"usage"`
	TotalFee            rpc.Amount `json:"total_fee"`
	MaxMempool          int64      `json:"maxmempool"`
	MempoolMinFee       rpc.Amount `json:"mempoolminfee"`
	MinRelayTxFee       rpc.Amount `json:"minrelaytxfee"`
	IncrementalRelayFee rpc.Amount `json:"incrementalrelayfee"`
	UnbroadcastCount    int        `json:"unbroadcastcount"`
	FullRBF             bool       `json:"fullrbf"`
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

// GenerateBlockResult is generateblock's result.
type GenerateBlockResult struct {
	Hash string `json:"hash"`
}

// BlockTemplateResult is getblocktemplate's result (BIP22 and BIP23), with
// Core's fields. Amounts are in base units, as Core gives satoshis here.
type BlockTemplateResult struct {
	Capabilities      []string          `json:"capabilities"`
	Version           uint32            `json:"version"`
	Rules             []string          `json:"rules"`
	VBAvailable       map[string]int    `json:"vbavailable"`
	VBRequired        int               `json:"vbrequired"`
	PreviousBlockHash chain.Hash        `json:"previousblockhash"`
	Transactions      []BlockTemplateTx `json:"transactions"`
	CoinbaseAux       map[string]string `json:"coinbaseaux"`
	CoinbaseValue     uint64            `json:"coinbasevalue"`
	LongPollID        string            `json:"longpollid"`
	Target            string            `json:"target"`
	MinTime           int64             `json:"mintime"`
	Mutable           []string          `json:"mutable"`
	NonceRange        string            `json:"noncerange"`
	SizeLimit         int               `json:"sizelimit"`
	WeightLimit       int               `json:"weightlimit"`
	CurTime           int64             `json:"curtime"`
	Bits              string            `json:"bits"`
	Height            int32             `json:"height"`
}

// BlockTemplateTx is one transaction of a block template.
type BlockTemplateTx struct {
	Data string     `json:"data"`
	TxID chain.Hash `json:"txid"`
	Hash chain.Hash `json:"hash"`
	// Depends are 1-based indexes into the template's transactions.
	Depends []int  `json:"depends"`
	Fee     uint64 `json:"fee"`
	SigOps  int    `json:"sigops"`
	Weight  int    `json:"weight"`
}

// TestMempoolAcceptResult is one entry of testmempoolaccept's result: Fees and
// VSize when Allowed, RejectReason (and RejectDetails, when there are any)
// when not.
type TestMempoolAcceptResult struct {
	TxID          chain.Hash            `json:"txid"`
	WTxID         chain.Hash            `json:"wtxid"`
	Allowed       bool                  `json:"allowed"`
	VSize         int                   `json:"vsize,omitempty"`
	Fees          *TestMempoolAcceptFee `json:"fees,omitempty"`
	RejectReason  string                `json:"reject-reason,omitempty"`
	RejectDetails string                `json:"reject-details,omitempty"`
}

// TestMempoolAcceptFee is the fees object of an allowed transaction.
type TestMempoolAcceptFee struct {
	Base rpc.Amount `json:"base"`
	// EffectiveFeeRate is in QRY per 1000 bytes; EffectiveIncludes lists the
	// wtxids whose fees and sizes it counts: only the transaction itself, as
	// Quarry tests each transaction alone.
	EffectiveFeeRate  rpc.Amount   `json:"effective-feerate"`
	EffectiveIncludes []chain.Hash `json:"effective-includes"`
}

// PeerInfoResult is one entry of getpeerinfo.
type PeerInfoResult struct {
	ID             int      `json:"id"`
	PeerID         string   `json:"peerid"`
	Addr           string   `json:"addr"`
	Services       string   `json:"services"`
	ServicesNames  []string `json:"servicesnames"`
	Version        int      `json:"version"`
	Inbound        bool     `json:"inbound"`
	ConnectionType string   `json:"connection_type"`
	SyncedBlocks   int32    `json:"synced_blocks"`
	Tip            string   `json:"tip,omitempty"`
	PingTime       float64  `json:"pingtime"`
	BytesSent      int64    `json:"bytessent"`
	BytesRecv      int64    `json:"bytesrecv"`
	ConnTime       int64    `json:"conntime"`
	Score          float64  `json:"score"`
	Mesh           []string `json:"mesh"`
}

// NetworkInfoResult is getnetworkinfo's result.
type NetworkInfoResult struct {
	Version            int            `json:"version"`
	Subversion         string         `json:"subversion"`
	ProtocolVersion    int            `json:"protocolversion"`
	LocalServices      string         `json:"localservices"`
	LocalServicesNames []string       `json:"localservicesnames"`
	LocalRelay         bool           `json:"localrelay"`
	NetworkActive      bool           `json:"networkactive"`
	Connections        int            `json:"connections"`
	ConnectionsIn      int            `json:"connections_in"`
	ConnectionsOut     int            `json:"connections_out"`
	RelayFee           rpc.Amount     `json:"relayfee"`
	IncrementalFee     rpc.Amount     `json:"incrementalfee"`
	LocalAddresses     []LocalAddress `json:"localaddresses"`
	Warnings           string         `json:"warnings"`
}

// LocalAddress is one of the node's dialable addresses.
type LocalAddress struct {
	Address string `json:"address"`
	Score   int    `json:"score"`
}

// BannedResult is one entry of listbanned.
type BannedResult struct {
	Address       string `json:"address"`
	BanCreated    int64  `json:"ban_created"`
	BannedUntil   int64  `json:"banned_until"`
	BanDuration   int64  `json:"ban_duration"`
	TimeRemaining int64  `json:"time_remaining"`
	BanReason     string `json:"ban_reason"`
}
