package methods

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/rpc"
)

const txResultHelp = `  "txid" : "hex",              (string) The transaction id (without witnesses)
  "hash" : "hex",              (string) The hash of the whole transaction, witnesses included
  "version" : n,               (numeric) The version
  "size" : n,                  (numeric) The serialized transaction size
  "vsize" : n,                 (numeric) The same as size: Quarry weighs every byte alike (no witness discount)
  "weight" : n,                (numeric) 4 × size
  "locktime" : xxx,            (numeric) The lock time
  "vin" : [                    (json array)
    {
      "coinbase" : "hex",      (string, optional) The coinbase data (height, extra nonce, free bytes), if a coinbase input
      "txid" : "hex",          (string, optional) The transaction id of the output spent, if not a coinbase input
      "vout" : n,              (numeric, optional) The index of the output spent, if not a coinbase input
      "scriptSig" : {          (json object, optional) Always empty, as for a native segwit spend; absent for a coinbase
        "asm" : "",
        "hex" : ""
      },
      "txinwitness" : [        (json array of string, optional) The witness items, hex: public key, signature
        "hex",
        ...
      ]
    },
    ...
  ],
  "vout" : [                   (json array)
    {
      "value" : n,             (numeric) The value in QRY
      "n" : n,                 (numeric) index
      "scriptPubKey" : {       (json object)
        "asm" : "str",         (string) "0 <key hash>"
        "hex" : "hex",         (string) "0014" and the 20-byte key hash
        "address" : "str",     (string) The address the output pays to
        "type" : "str"         (string) Always "witness_v0_keyhash"
      }
    },
    ...
  ]`

func (m *chainMethods) getrawtransaction() rpc.Method {
	return rpc.Method{
		Name:     "getrawtransaction",
		Category: "rawtransactions",
		Summary:  "Return the raw transaction data, from the mempool or the transaction index, or from the given block.",
		Params: []rpc.Param{
			{Name: "txid", Type: rpc.TypeHex, Required: true, Description: "The transaction id"},
			{Name: "verbosity", Type: rpc.TypeNumber, Default: "0",
				Description: "0 for hex-encoded data, 1 for a JSON object, and 2 for JSON object with fee and prevout\n(false and true are taken for 0 and 1)"},
			{Name: "blockhash", Type: rpc.TypeHex, Description: "The block in which to look for the transaction"},
		},
		Result: `If verbosity is not set or set to 0:
"str"    (string) The serialized, hex-encoded data for 'txid'

If verbosity is set to 1:
{
  "in_active_chain" : true|false, (boolean, optional) Whether specified block is in the active chain or not (only present with explicit "blockhash" argument)
  "blockhash" : "hex",         (string, optional) the block hash
  "confirmations" : n,         (numeric, optional) The confirmations; 0 if the block is not on the main chain
  "blocktime" : xxx,           (numeric, optional) The block time, in seconds since the epoch (main chain only)
  "time" : n,                  (numeric, optional) Same as "blocktime"
  "hex" : "hex",               (string) The serialized, hex-encoded data for 'txid'
` + txResultHelp + `
}

If verbosity is set to 2:
{
  ...,                         Same output as verbosity = 1
  "fee" : n,                   (numeric, optional) transaction fee in QRY, omitted if any spent output is
                               unknown (such as one of an unconfirmed transaction)
  "vin" : [                    (json array)
    {
      ...,                     Same output as verbosity = 1
      "prevout" : {            (json object, optional) The output spent, when known
        "generated" : true|false, (boolean) Coinbase or not
        "height" : n,          (numeric) The height of the prevout
        "value" : n,           (numeric) The value in QRY
        "scriptPubKey" : {...} (json object) As in vout
      }
    },
    ...
  ]
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			txid := hashParam(p, "txid")
			verbosity := verbosityParam(p, "verbosity", 2)
			blockHash := hashParam(p, "blockhash")
			inBlock := p.Has("blockhash")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if txid == m.params.GenesisBlock.Txs[0].TxID() {
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved")
			}
			tx, b, info, err := m.findTx(txid, inBlock, blockHash)
			if err != nil {
				return nil, err
			}
			if verbosity == 0 {
				return hex.EncodeToString(tx.Encode()), nil
			}
			res := txResult(tx, m.params)
			if verbosity == 2 {
				prev := newPrevouts(m.TxIndex)
				if b != nil {
					if prev, err = m.blockPrevouts(b, info.Height); err != nil {
						return nil, err
					}
				}
				if err := prev.fill(&res, tx, true, m.params); err != nil {
					return nil, err
				}
			}
			if info != nil {
				best := m.Chain.Best()
				res.BlockHash = &info.Hash
				confirmations := int64(0)
				if info.MainChain {
					confirmations = int64(best.Height) - int64(info.Height) + 1
					res.Time, res.BlockTime = int64(info.Header.Time), int64(info.Header.Time)
				}
				res.Confirmations = &confirmations
				if inBlock {
					res.InActiveChain = &info.MainChain
				}
			}
			return res, nil
		},
	}
}

// findTx finds a transaction as getrawtransaction does: in the given block when
// inBlock, else in the mempool, else in the transaction index. info is nil for a
// mempool transaction; b is the block when it was read whole.
func (m *chainMethods) findTx(txid chain.Hash, inBlock bool, blockHash chain.Hash) (tx *chain.Tx, b *chain.Block, info *blockchain.BlockInfo, err error) {
	if inBlock {
		bi, err := m.Chain.BlockInfo(blockHash)
		if errors.Is(err, blockchain.ErrNotFound) {
			return nil, nil, nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Block hash not found")
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if b, err = m.block(bi); err != nil {
			return nil, nil, nil, err
		}
		i := slices.Index(b.TxIDs(), txid)
		if i < 0 {
			return nil, nil, nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "No such transaction found in the provided block. Use gettransaction for wallet transactions.")
		}
		return b.Txs[i], b, &bi, nil
	}
	if tx, ok := m.Mempool.Get(txid); ok {
		return tx, nil, nil, nil
	}
	tx, loc, err := m.TxIndex.Find(txid)
	if ierr := txIndexError(err); ierr != nil {
		return nil, nil, nil, ierr
	}
	if errors.Is(err, blockchain.ErrNotFound) {
		return nil, nil, nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.")
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read transaction %s: %w", txid, err)
	}
	bi, err := m.Chain.BlockInfo(loc.Block)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("block of transaction %s: %w", txid, err)
	}
	return tx, nil, &bi, nil
}

// prevouts finds the outputs that inputs spend, for fees and prevout fields:
// among the transactions it was given (those of the block shown, so spends
// within a block resolve), then in the undo data of the block shown (as
// Core reads them, so a node without the transaction index shows them too),
// else through the transaction index, where each funding transaction costs a
// read of its block; the results are kept for the call, so a funding
// transaction is read once.
type prevouts struct {
	txIndex *indexers.TxIndex
	txs     map[chain.Hash]fundingTx
	spent   map[chain.OutPoint]chain.UtxoEntry
}

type fundingTx struct {
	tx       *chain.Tx // nil: not in the index
	height   int32
	coinbase bool
}

func newPrevouts(txIndex *indexers.TxIndex) *prevouts {
	return &prevouts{txIndex: txIndex, txs: make(map[chain.Hash]fundingTx), spent: make(map[chain.OutPoint]chain.UtxoEntry)}
}

// blockPrevouts returns the prevouts of b's transactions: b's own and its
// undo data, when b was connected once.
func (m *chainMethods) blockPrevouts(b *chain.Block, height int32) (*prevouts, error) {
	p := newPrevouts(m.TxIndex)
	for i, tx := range b.Txs {
		p.txs[tx.TxID()] = fundingTx{tx: tx, height: height, coinbase: i == 0}
	}
	spent, err := m.Chain.SpentOutputs(b)
	switch {
	case errors.Is(err, blockchain.ErrNotFound): // never connected: the index answers
	case err != nil:
		return nil, fmt.Errorf("read spent outputs of block %s: %w", b.Hash(), err)
	default:
		// SpentOutputs holds one entry per input of b's transactions after the coinbase.
		for _, tx := range b.Txs[1:] {
			for _, in := range tx.Inputs {
				p.spent[in.PrevOut], spent = spent[0], spent[1:]
			}
		}
	}
	return p, nil
}

func (p *prevouts) lookup(op chain.OutPoint) (chain.UtxoEntry, bool, error) {
	if e, ok := p.spent[op]; ok {
		return e, true, nil
	}
	f, ok := p.txs[op.TxID]
	if !ok {
		// Without the index, or with it behind, the output stays unknown.
		tx, loc, err := p.txIndex.Find(op.TxID)
		if err != nil && !errors.Is(err, blockchain.ErrNotFound) && !errors.Is(err, blockchain.ErrIndexUnavailable) {
			return chain.UtxoEntry{}, false, fmt.Errorf("read transaction %s: %w", op.TxID, err)
		}
		f = fundingTx{tx: tx, height: loc.Height, coinbase: loc.Index == 0}
		p.txs[op.TxID] = f
	}
	if f.tx == nil || int(op.Index) >= len(f.tx.Outputs) {
		return chain.UtxoEntry{}, false, nil
	}
	out := f.tx.Outputs[op.Index]
	return chain.UtxoEntry{Value: out.Value, PubKeyHash: out.PubKeyHash, Height: f.height, Coinbase: f.coinbase}, true, nil
}

// fill sets res.Fee when the value of every output tx spends is known, and with
// withPrevout each input's Prevout that is known.
func (p *prevouts) fill(res *TxResult, tx *chain.Tx, withPrevout bool, params *chain.Params) error {
	if tx.IsCoinbase() {
		return nil
	}
	var in uint64
	complete := true
	for i, txin := range tx.Inputs {
		e, ok, err := p.lookup(txin.PrevOut)
		if err != nil {
			return err
		}
		if !ok || in+e.Value < in {
			complete = false
			continue
		}
		in += e.Value
		if withPrevout {
			res.Vin[i].Prevout = &PrevoutResult{Generated: e.Coinbase, Height: e.Height, Value: rpc.Amount(e.Value),
				ScriptPubKey: ScriptPubKey(e.PubKeyHash, params)}
		}
	}
	if out, ok := tx.TotalOut(); complete && ok && in >= out {
		fee := rpc.Amount(in - out)
		res.Fee = &fee
	}
	return nil
}

func (m *chainMethods) decoderawtransaction() rpc.Method {
	return rpc.Method{
		Name:     "decoderawtransaction",
		Category: "rawtransactions",
		Summary:  "Return a JSON object representing the serialized, hex-encoded transaction.",
		Params: []rpc.Param{
			{Name: "hexstring", Type: rpc.TypeHex, Required: true, Description: "The transaction hex string"},
		},
		Result: `{
` + txResultHelp + `
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			s := p.String("hexstring")
			if err := p.Err(); err != nil {
				return nil, err
			}
			raw, err := hex.DecodeString(s)
			if err != nil {
				return nil, rpc.Errorf(rpc.CodeDeserialization, "TX decode failed: %v", err)
			}
			tx, err := chain.DecodeTx(raw)
			if err != nil {
				return nil, rpc.Errorf(rpc.CodeDeserialization, "TX decode failed: %v", err)
			}
			res := txResult(tx, m.params)
			res.Hex = "" // the caller has it; Core leaves it out here
			return res, nil
		},
	}
}

// MaxTestAcceptTxs is how many transactions one testmempoolaccept call may
// test, Core's package limit.
const MaxTestAcceptTxs = 25

// defaultMaxFeeRate is sendrawtransaction's and testmempoolaccept's default
// maxfeerate, Core's: 0.10 QRY per 1000 bytes.
const defaultMaxFeeRate = "0.10"

// decodeTx decodes a hex transaction with decoderawtransaction's -22 errors;
// what names the transaction in them.
func decodeTx(s, what string) (*chain.Tx, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeDeserialization, "%s: %v", what, err)
	}
	tx, err := chain.DecodeTx(raw)
	if err != nil {
		return nil, rpc.Errorf(rpc.CodeDeserialization, "%s: %v", what, err)
	}
	return tx, nil
}

// maxFeeRateParam reads a maxfeerate parameter, in QRY per 1000 bytes. Like
// Core, it refuses rates of a whole coin per kvB or more: such a bound is
// surely a unit mistake and would protect nothing.
func maxFeeRateParam(p *rpc.Params) mempool.FeeRate {
	units := p.Amount("maxfeerate")
	if units >= chain.Coin {
		p.Fail(rpc.Errorf(rpc.CodeInvalidParameter, "Fee rates larger than or equal to 1QRY/kvB are not accepted"))
		return 0
	}
	return mempool.FeeRate(units)
}

// maxFeeExceeded is Core's message for a fee above maxfeerate, which scripts
// may match.
const maxFeeExceeded = "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)"

func (m *mempoolMethods) sendrawtransaction() rpc.Method {
	return rpc.Method{
		Name:     "sendrawtransaction",
		Category: "rawtransactions",
		Summary:  "Submit a raw transaction (serialized, hex-encoded) to the node's mempool and relay it to its peers.",
		Params: []rpc.Param{
			{Name: "hexstring", Type: rpc.TypeHex, Required: true, Description: "The hex string of the raw transaction"},
			{Name: "maxfeerate", Type: rpc.TypeAmount, Default: defaultMaxFeeRate,
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
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
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
		return nil, rpc.Errorf(rejectCode(re), "%s", re.Reason)
	case re.Reason == mempool.ReasonAlreadyInChain:
		return nil, rpc.Errorf(rpc.CodeVerifyAlreadyInChain, "Transaction already in block chain")
	case re.Reason == mempool.ReasonMaxFeeExceeded:
		return nil, rpc.Errorf(rpc.CodeVerify, maxFeeExceeded)
	}
	return nil, rpc.Errorf(rejectCode(re), "%s", re.Error())
}

// rejectCode is the error code Core's sendrawtransaction gives a refusal:
// RPC_VERIFY_ERROR for missing inputs, RPC_VERIFY_ALREADY_IN_CHAIN for a
// transaction the node has, RPC_VERIFY_REJECTED for any other rule or policy.
func rejectCode(re *mempool.RejectError) int {
	switch {
	case mempool.IsMissingInputs(re):
		return rpc.CodeVerify
	case re.Reason == mempool.ReasonAlreadyInChain, re.Reason == mempool.ReasonAlreadyInMempool:
		return rpc.CodeVerifyAlreadyInChain
	}
	return rpc.CodeVerifyRejected
}

// testAcceptMissingInputs is the reject-reason testmempoolaccept shows for
// missing inputs: Core reports them there under this shorter name.
const testAcceptMissingInputs = "missing-inputs"

func (m *mempoolMethods) testmempoolaccept() rpc.Method {
	return rpc.Method{
		Name:     "testmempoolaccept",
		Category: "rawtransactions",
		Summary:  "Returns result of mempool acceptance tests indicating if raw transaction(s) (serialized, hex-encoded) would be accepted by mempool.",
		Params: []rpc.Param{
			{Name: "rawtxs", Type: rpc.TypeArray, Required: true,
				Description: fmt.Sprintf("An array of hex strings of raw transactions, 1 to %d. Unlike Core, which tests several as a\n"+
					"package, Quarry tests each alone against the current mempool, so a transaction spending another\n"+
					"of the list shows missing-inputs until that one is in the mempool.", MaxTestAcceptTxs)},
			{Name: "maxfeerate", Type: rpc.TypeAmount, Default: defaultMaxFeeRate,
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
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			var rawTxs []string
			p.Decode("rawtxs", &rawTxs)
			maxRate := maxFeeRateParam(p)
			if err := p.Err(); err != nil {
				return nil, err
			}
			if len(rawTxs) < 1 || len(rawTxs) > MaxTestAcceptTxs {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Array must contain between 1 and %d transactions.", MaxTestAcceptTxs)
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
			out.RejectReason = testAcceptMissingInputs
		} else if re.Err != nil {
			out.RejectDetails = re.Error()
		}
	case err != nil:
		return out, err
	default:
		out.Allowed = true
		out.VSize = res.Size
		out.Fees = &TestMempoolAcceptFee{
			Base:              rpc.Amount(res.Fee),
			EffectiveFeeRate:  rpc.Amount(mempool.NewFeeRate(res.Fee, int64(res.Size))),
			EffectiveIncludes: []chain.Hash{out.WTxID},
		}
	}
	return out, nil
}
