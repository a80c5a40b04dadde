package rpc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/pow"
)

// MempoolBackend is what the mempool methods (sendrawtransaction,
// testmempoolaccept, getrawmempool, getmempoolentry, getmempoolinfo) and
// getblocktemplate need from the node. Pool and Chain are required; the
// pool must be built on that chain.
type MempoolBackend struct {
	Pool  *mempool.Pool
	Chain *chain.Chain

	// Relay publishes a transaction to the node's peers. sendrawtransaction
	// calls it with the transaction it accepted, the orphans that entered the
	// pool after it, and, as Core does, a transaction submitted again while
	// it waits in the pool, so that a resubmission re-announces it. Nil
	// relays nothing.
	Relay func(*chain.Tx)

	// IsInitialBlockDownload reports whether the node is still catching up;
	// getblocktemplate refuses to serve a template then, so that miners do
	// not work on a stale tip. Nil means DefaultSyncState's answer. As in
	// Core, only main checks it: test networks mine from any state.
	IsInitialBlockDownload func() bool

	// PeerCount is the number of connected peers; on main, getblocktemplate
	// refuses to serve a template without any, as Core does, since a block
	// mined in isolation is likely to be orphaned. Nil skips the check.
	PeerCount func() int
}

// MaxTestAcceptTxs is how many transactions one testmempoolaccept call may
// test, Core's package limit.
const MaxTestAcceptTxs = 25

// defaultMaxFeeRate is sendrawtransaction's and testmempoolaccept's default
// maxfeerate, Core's: 0.10 QRY per 1000 bytes.
const defaultMaxFeeRate = "0.10"

// Long polling waits this long before the first look at the pool, then looks
// again this often, as Core does: a new tip ends the wait at once, pool
// changes only when one of these checks sees them.
const (
	longPollFirstCheck = time.Minute
	longPollRecheck    = 10 * time.Second
)

// mempoolMethods holds what the handlers share.
type mempoolMethods struct {
	MempoolBackend
	params *chain.Params
	// updates counts pool changes, Core's nTransactionsUpdated: the part of
	// a longpollid that says which pool contents a template was built from.
	updates atomic.Uint64
	// The long-polling intervals; tests shorten them.
	firstCheck, recheck time.Duration
}

// RegisterMempoolMethods registers sendrawtransaction, testmempoolaccept,
// getrawmempool, getmempoolentry, getmempoolinfo and getblocktemplate. It
// subscribes to the pool's changes for getblocktemplate's long polling. It
// panics without b.Pool or b.Chain, a wiring bug the first test finds.
func RegisterMempoolMethods(reg *Registry, b MempoolBackend) {
	registerMempoolMethods(reg, b, longPollFirstCheck, longPollRecheck)
}

func registerMempoolMethods(reg *Registry, b MempoolBackend, firstCheck, recheck time.Duration) {
	if b.Pool == nil || b.Chain == nil {
		panic("rpc: RegisterMempoolMethods needs a pool and a chain")
	}
	if b.IsInitialBlockDownload == nil {
		c := b.Chain
		b.IsInitialBlockDownload = func() bool { return DefaultSyncState(c, time.Now()).InitialBlockDownload }
	}
	m := &mempoolMethods{MempoolBackend: b, params: b.Chain.Params(), firstCheck: firstCheck, recheck: recheck}
	b.Pool.Subscribe(func(mempool.Event) { m.updates.Add(1) })
	reg.Register(
		m.sendrawtransaction(), m.testmempoolaccept(),
		m.getrawmempool(), m.getmempoolentry(), m.getmempoolinfo(),
		m.getblocktemplate(),
	)
}

// decodeTx decodes a hex transaction with decoderawtransaction's -22 errors;
// what names the transaction in them.
func decodeTx(s, what string) (*chain.Tx, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, Errorf(CodeDeserialization, "%s: %v", what, err)
	}
	tx, err := chain.DecodeTx(raw)
	if err != nil {
		return nil, Errorf(CodeDeserialization, "%s: %v", what, err)
	}
	return tx, nil
}

// maxFeeRateParam reads a maxfeerate parameter, in QRY per 1000 bytes. Like
// Core, it refuses rates of a whole coin per kvB or more: such a bound is
// surely a unit mistake and would protect nothing.
func maxFeeRateParam(p *Params) mempool.FeeRate {
	units := p.Amount("maxfeerate")
	if units >= chain.Coin {
		p.fail(Errorf(CodeInvalidParameter, "Fee rates larger than or equal to 1QRY/kvB are not accepted"))
		return 0
	}
	return mempool.FeeRate(units)
}

// maxFeeExceeded is Core's message for a fee above maxfeerate, which scripts
// may match.
const maxFeeExceeded = "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)"

func (m *mempoolMethods) sendrawtransaction() Method {
	return Method{
		Name:     "sendrawtransaction",
		Category: "rawtransactions",
		Summary:  "Submit a raw transaction (serialized, hex-encoded) to the node's mempool and relay it to its peers.",
		Params: []Param{
			{Name: "hexstring", Type: TypeHex, Required: true, Description: "The hex string of the raw transaction"},
			{Name: "maxfeerate", Type: TypeAmount, Default: defaultMaxFeeRate,
				Description: "Reject transactions whose fee rate is higher than the specified value, expressed in QRY/kvB\n(1000 bytes). Fee rates of 1QRY/kvB or more are rejected. Set to 0 to accept any fee rate."},
		},
		Result: `"hex"    (string) The transaction id

A transaction already in the mempool is not an error: its txid is returned and it is
announced to the peers again. Errors:
  -22  the hex or the transaction does not decode
  -25  "bad-txns-inputs-missingorspent": an input is neither in the UTXO set nor created by a
       mempool transaction; or the fee is above maxfeerate
  -26  rejected by a consensus or policy rule: the reason as testmempoolaccept gives it, a comma
       and the details, e.g. "min relay fee not met, 100 < 141"
  -27  "Transaction already in block chain"`,
		Handler: func(_ context.Context, p *Params) (any, error) {
			s := p.String("hexstring")
			maxRate := maxFeeRateParam(p)
			if err := p.Err(); err != nil {
				return nil, err
			}
			tx, err := decodeTx(s, "TX decode failed")
			if err != nil {
				return nil, err
			}
			txid := tx.TxID()
			if pooled, ok := m.Pool.Get(txid); ok {
				m.relay(pooled)
				return txid, nil
			}
			res, err := m.Pool.AcceptLocal(tx, maxRate)
			if err != nil {
				return m.sendError(txid, err)
			}
			m.relay(tx)
			for _, id := range res.Resolved {
				if child, ok := m.Pool.Get(id); ok {
					m.relay(child)
				}
			}
			return txid, nil
		},
	}
}

func (m *mempoolMethods) relay(tx *chain.Tx) {
	if m.Relay != nil {
		m.Relay(tx)
	}
}

// sendError turns a refusal of the pool into sendrawtransaction's answer, as
// Core's BroadcastTransaction does. A transaction that entered the pool
// between the check for it and the acceptance is a success, as it would
// have been a moment earlier.
func (m *mempoolMethods) sendError(txid chain.Hash, err error) (any, error) {
	var re *mempool.RejectError
	if !errors.As(err, &re) {
		return nil, err
	}
	switch {
	case re.Reason == mempool.ReasonAlreadyInMempool || re.Reason == mempool.ReasonSameNonWitness:
		if pooled, ok := m.Pool.Get(txid); ok {
			m.relay(pooled)
			return txid, nil
		}
	case mempool.IsMissingInputs(err):
		// Core reports the bare reason: its details would only repeat it.
		return nil, Errorf(re.Code, "%s", re.Reason)
	case re.Reason == mempool.ReasonAlreadyInChain:
		return nil, Errorf(CodeVerifyAlreadyInChain, "Transaction already in block chain")
	case re.Reason == mempool.ReasonMaxFeeExceeded:
		return nil, Errorf(CodeVerify, maxFeeExceeded)
	}
	return nil, Errorf(re.Code, "%s", re.Error())
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
	Base Amount `json:"base"`
	// EffectiveFeeRate is in QRY per 1000 bytes; EffectiveIncludes lists the
	// wtxids whose fees and sizes it counts: only the transaction itself, as
	// Quarry tests each transaction alone.
	EffectiveFeeRate  Amount       `json:"effective-feerate"`
	EffectiveIncludes []chain.Hash `json:"effective-includes"`
}

func (m *mempoolMethods) testmempoolaccept() Method {
	return Method{
		Name:     "testmempoolaccept",
		Category: "rawtransactions",
		Summary:  "Returns result of mempool acceptance tests indicating if raw transaction(s) (serialized, hex-encoded) would be accepted by mempool.",
		Params: []Param{
			{Name: "rawtxs", Type: TypeArray, Required: true,
				Description: fmt.Sprintf("An array of hex strings of raw transactions, 1 to %d. Unlike Core, which tests several as a\n"+
					"package, Quarry tests each alone against the current mempool, so a transaction spending another\n"+
					"of the list shows missing-inputs until that one is in the mempool.", MaxTestAcceptTxs)},
			{Name: "maxfeerate", Type: TypeAmount, Default: defaultMaxFeeRate,
				Description: "Reject transactions whose fee rate is higher than the specified value, expressed in QRY/kvB\n(1000 bytes). Fee rates of 1QRY/kvB or more are rejected. Set to 0 to accept any fee rate."},
		},
		Result: `[                              (json array) one result per transaction, in the order given
  {
    "txid" : "hex",              (string) The transaction id
    "wtxid" : "hex",             (string) The hash of the whole transaction, witnesses included
    "allowed" : true|false,      (boolean) Whether it would be accepted to the mempool and pass maxfeerate
    "vsize" : n,                 (numeric, optional) Its size in bytes (Quarry weighs every byte alike); when allowed
    "fees" : {                   (json object, optional) When allowed
      "base" : n,                (numeric) The fee in QRY
      "effective-feerate" : n,   (numeric) The fee rate in QRY/kvB
      "effective-includes" : [   (json array) The wtxids whose fees and sizes the rate counts: its own
        "hex",
        ...
      ]
    },
    "reject-reason" : "str",     (string, optional) Why not, when not allowed: as sendrawtransaction's -26
                                 message before the comma, "missing-inputs", or "max-fee-exceeded"
    "reject-details" : "str"     (string, optional) The reason with its details, when there are details
  },
  ...
]`,
		Handler: func(_ context.Context, p *Params) (any, error) {
			var rawTxs []string
			p.Decode("rawtxs", &rawTxs)
			maxRate := maxFeeRateParam(p)
			if err := p.Err(); err != nil {
				return nil, err
			}
			if len(rawTxs) < 1 || len(rawTxs) > MaxTestAcceptTxs {
				return nil, Errorf(CodeInvalidParameter, "Array must contain between 1 and %d transactions.", MaxTestAcceptTxs)
			}
			txs := make([]*chain.Tx, len(rawTxs))
			for i, s := range rawTxs {
				tx, err := decodeTx(s, fmt.Sprintf("TX decode failed for tx %d", i))
				if err != nil {
					return nil, err
				}
				txs[i] = tx
			}
			out := make([]TestMempoolAcceptResult, len(txs))
			for i, tx := range txs {
				r, err := m.testAccept(tx, maxRate)
				if err != nil {
					return nil, err
				}
				out[i] = r
			}
			return out, nil
		},
	}
}

// testAccept is testmempoolaccept's verdict on one transaction. Errors other
// than refusals (a closed pool) fail the call.
func (m *mempoolMethods) testAccept(tx *chain.Tx, maxRate mempool.FeeRate) (TestMempoolAcceptResult, error) {
	out := TestMempoolAcceptResult{TxID: tx.TxID(), WTxID: tx.WitnessHash()}
	res, err := m.Pool.TestAccept(tx, maxRate)
	var re *mempool.RejectError
	switch {
	case errors.As(err, &re):
		out.RejectReason = re.Reason
		if mempool.IsMissingInputs(err) {
			out.RejectReason = mempool.TestAcceptMissingInputs
		} else if re.Err != nil {
			out.RejectDetails = re.Error()
		}
	case err != nil:
		return out, err
	default:
		out.Allowed = true
		out.VSize = res.Size
		out.Fees = &TestMempoolAcceptFee{
			Base:              Amount(res.Fee),
			EffectiveFeeRate:  Amount(mempool.NewFeeRate(res.Fee, int64(res.Size))),
			EffectiveIncludes: []chain.Hash{out.WTxID},
		}
	}
	return out, nil
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
	Base       Amount `json:"base"`
	Modified   Amount `json:"modified"`
	Ancestor   Amount `json:"ancestor"`
	Descendant Amount `json:"descendant"`
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
			Base:       Amount(e.Fee),
			Modified:   Amount(e.Fee),
			Ancestor:   Amount(e.AncestorFees),
			Descendant: Amount(e.DescendantFees),
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

func (m *mempoolMethods) getrawmempool() Method {
	return Method{
		Name:     "getrawmempool",
		Category: "blockchain",
		Summary:  "Returns all transaction ids in memory pool as a json array of string transaction ids.",
		Params: []Param{
			{Name: "verbose", Type: TypeBool, Default: "false", Description: "True for a json object, false for array of transaction ids"},
			{Name: "mempool_sequence", Type: TypeBool, Default: "false",
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
		Handler: func(_ context.Context, p *Params) (any, error) {
			verbose := p.Bool("verbose")
			sequence := p.Bool("mempool_sequence")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if sequence {
				if verbose {
					return nil, Errorf(CodeInvalidParameter, "Verbose results cannot contain mempool sequence values.")
				}
				return nil, Errorf(CodeInvalidParameter, "mempool_sequence is not supported: Quarry has no mempool sequence numbers")
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

func (m *mempoolMethods) getmempoolentry() Method {
	return Method{
		Name:     "getmempoolentry",
		Category: "blockchain",
		Summary:  "Returns mempool data for given transaction.",
		Params: []Param{
			{Name: "txid", Type: TypeHex, Required: true, Description: "The transaction id (must be in mempool)"},
		},
		Result: `{
` + mempoolEntryHelp + `
}`,
		Handler: func(_ context.Context, p *Params) (any, error) {
			txid := hashParam(p, "txid")
			if err := p.Err(); err != nil {
				return nil, err
			}
			e, ok := m.Pool.Entry(txid)
			if !ok {
				return nil, Errorf(CodeInvalidAddressOrKey, "Transaction not in mempool")
			}
			return entryResult(e), nil
		},
	}
}

// MempoolInfoResult is getmempoolinfo's result. Fee rates are in QRY per
// 1000 bytes.
type MempoolInfoResult struct {
	Loaded              bool   `json:"loaded"`
	Size                int    `json:"size"`
	Bytes               int64  `json:"bytes"`
	Usage               int64  `json:"usage"`
	TotalFee            Amount `json:"total_fee"`
	MaxMempool          int64  `json:"maxmempool"`
	MempoolMinFee       Amount `json:"mempoolminfee"`
	MinRelayTxFee       Amount `json:"minrelaytxfee"`
	IncrementalRelayFee Amount `json:"incrementalrelayfee"`
	UnbroadcastCount    int    `json:"unbroadcastcount"`
	FullRBF             bool   `json:"fullrbf"`
}

func (m *mempoolMethods) getmempoolinfo() Method {
	return Method{
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
		Handler: func(context.Context, *Params) (any, error) {
			info := m.Pool.Info()
			return MempoolInfoResult{
				Loaded:              true,
				Size:                info.Count,
				Bytes:               info.Bytes,
				Usage:               info.Usage,
				TotalFee:            Amount(info.TotalFees),
				MaxMempool:          info.MaxUsage,
				MempoolMinFee:       Amount(info.MinFeeRate),
				MinRelayTxFee:       Amount(info.MinRelayFeeRate),
				IncrementalRelayFee: Amount(info.MinRelayFeeRate),
				FullRBF:             true,
			}, nil
		},
	}
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

// templateRequest is getblocktemplate's template_request; the capabilities
// and rules a client lists change nothing, as Quarry has no soft forks to
// negotiate.
type templateRequest struct {
	Mode       string          `json:"mode"`
	LongPollID json.RawMessage `json:"longpollid"`
}

func (m *mempoolMethods) getblocktemplate() Method {
	return Method{
		Name:     "getblocktemplate",
		Category: "mining",
		Summary:  "Returns data needed to construct a block to work on (BIP22, BIP23).",
		Params: []Param{
			{Name: "template_request", Type: TypeObject, Default: "{}",
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
		Handler: func(ctx context.Context, p *Params) (any, error) {
			var req templateRequest
			p.Decode("template_request", &req)
			if err := p.Err(); err != nil {
				return nil, err
			}
			switch req.Mode {
			case "", "template":
			case "proposal":
				return nil, Errorf(CodeInvalidParameter, "Invalid mode: block proposals are not supported")
			default:
				return nil, Errorf(CodeInvalidParameter, "Invalid mode")
			}
			if m.params.Name == chain.MainParams.Name {
				if m.PeerCount != nil && m.PeerCount() == 0 {
					return nil, Errorf(CodeClientNotConnected, "Quarry is not connected!")
				}
				if m.IsInitialBlockDownload() {
					return nil, Errorf(CodeClientInInitialDownload, "Quarry is in initial sync and waiting for blocks...")
				}
			}
			if jsonKind(req.LongPollID) != "null" {
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
	if jsonKind(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		return m.Chain.Best().Hash, m.updates.Load(), nil
	}
	head := s[:min(len(s), 2*chain.HashSize)]
	tip, err := chain.ParseHash(head)
	switch {
	case err == nil:
	case len(head) != 2*chain.HashSize:
		return tip, 0, Errorf(CodeInvalidParameter, "longpollid must be of length %d (not %d, for '%s')", 2*chain.HashSize, len(head), clip(head))
	default:
		return tip, 0, Errorf(CodeInvalidParameter, "longpollid must be hexadecimal string (not '%s')", clip(head))
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
	cancel := m.Chain.Subscribe(func(chain.Event) {
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
			return Errorf(CodeClientNotConnected, "Shutting down")
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
