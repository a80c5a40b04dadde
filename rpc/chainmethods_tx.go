package rpc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/quarrychain/quarry/chain"
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

func (m *chainMethods) getrawtransaction() Method {
	return Method{
		Name:     "getrawtransaction",
		Category: "rawtransactions",
		Summary:  "Return the raw transaction data, from the mempool or the transaction index, or from the given block.",
		Params: []Param{
			{Name: "txid", Type: TypeHex, Required: true, Description: "The transaction id"},
			{Name: "verbosity", Type: TypeNumber, Default: "0",
				Description: "0 for hex-encoded data, 1 for a JSON object, and 2 for JSON object with fee and prevout\n(false and true are taken for 0 and 1)"},
			{Name: "blockhash", Type: TypeHex, Description: "The block in which to look for the transaction"},
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
		Handler: func(_ context.Context, p *Params) (any, error) {
			txid := hashParam(p, "txid")
			verbosity := verbosityParam(p, "verbosity", 2)
			blockHash := hashParam(p, "blockhash")
			inBlock := p.Has("blockhash")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if txid == m.params.GenesisBlock.Txs[0].TxID() {
				return nil, Errorf(CodeInvalidAddressOrKey, "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved")
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
				prev := newPrevouts(m.Chain)
				if b != nil {
					prev.addBlock(b, info.Height)
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
func (m *chainMethods) findTx(txid chain.Hash, inBlock bool, blockHash chain.Hash) (tx *chain.Tx, b *chain.Block, info *chain.BlockInfo, err error) {
	if inBlock {
		bi, err := m.Chain.BlockInfo(blockHash)
		if errors.Is(err, chain.ErrNotFound) {
			return nil, nil, nil, Errorf(CodeInvalidAddressOrKey, "Block hash not found")
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if b, err = m.block(bi); err != nil {
			return nil, nil, nil, err
		}
		i := slices.Index(b.TxIDs(), txid)
		if i < 0 {
			return nil, nil, nil, Errorf(CodeInvalidAddressOrKey, "No such transaction found in the provided block. Use gettransaction for wallet transactions.")
		}
		return b.Txs[i], b, &bi, nil
	}
	if m.MempoolTx != nil {
		if tx := m.MempoolTx(txid); tx != nil {
			return tx, nil, nil, nil
		}
	}
	tx, loc, err := m.Chain.FindTx(txid)
	if ierr := txIndexError(err); ierr != nil {
		return nil, nil, nil, ierr
	}
	if errors.Is(err, chain.ErrNotFound) {
		return nil, nil, nil, Errorf(CodeInvalidAddressOrKey, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.")
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
// within a block resolve), else through the transaction index. Spent outputs
// have left the UTXO set and the chain does not expose undo data, so each
// funding transaction costs a read of its block; the results are kept for the
// call, so a funding transaction is read once.
type prevouts struct {
	chain *chain.Chain
	txs   map[chain.Hash]fundingTx
}

type fundingTx struct {
	tx       *chain.Tx // nil: not in the index
	height   int32
	coinbase bool
}

func newPrevouts(c *chain.Chain) *prevouts {
	return &prevouts{chain: c, txs: make(map[chain.Hash]fundingTx)}
}

func (p *prevouts) addBlock(b *chain.Block, height int32) {
	for i, tx := range b.Txs {
		p.txs[tx.TxID()] = fundingTx{tx: tx, height: height, coinbase: i == 0}
	}
}

func (p *prevouts) lookup(op chain.OutPoint) (chain.UtxoEntry, bool, error) {
	f, ok := p.txs[op.TxID]
	if !ok {
		tx, loc, err := p.chain.FindTx(op.TxID)
		if err != nil && !errors.Is(err, chain.ErrNotFound) {
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
			res.Vin[i].Prevout = &PrevoutResult{Generated: e.Coinbase, Height: e.Height, Value: Amount(e.Value),
				ScriptPubKey: scriptPubKey(e.PubKeyHash, params)}
		}
	}
	if out, ok := tx.TotalOut(); complete && ok && in >= out {
		fee := Amount(in - out)
		res.Fee = &fee
	}
	return nil
}

func (m *chainMethods) decoderawtransaction() Method {
	return Method{
		Name:     "decoderawtransaction",
		Category: "rawtransactions",
		Summary:  "Return a JSON object representing the serialized, hex-encoded transaction.",
		Params: []Param{
			{Name: "hexstring", Type: TypeHex, Required: true, Description: "The transaction hex string"},
		},
		Result: `{
` + txResultHelp + `
}`,
		Handler: func(_ context.Context, p *Params) (any, error) {
			s := p.String("hexstring")
			if err := p.Err(); err != nil {
				return nil, err
			}
			raw, err := hex.DecodeString(s)
			if err != nil {
				return nil, Errorf(CodeDeserialization, "TX decode failed: %v", err)
			}
			tx, err := chain.DecodeTx(raw)
			if err != nil {
				return nil, Errorf(CodeDeserialization, "TX decode failed: %v", err)
			}
			res := txResult(tx, m.params)
			res.Hex = "" // the caller has it; Core leaves it out here
			return res, nil
		},
	}
}

// rejectReasons maps the chain's rule kinds to the reasons Core's submitblock
// gives for the same failure (BIP22), so that pool software written against Core
// understands them. Failures of what Core checks with scripts carry Core's
// script error text. A kind missing here shows as its own name.
var rejectReasons = map[chain.ErrorKind]string{
	chain.ErrNoTransactions:      "bad-blk-length",
	chain.ErrBlockTooBig:         "bad-blk-length",
	chain.ErrFirstTxNotCoinbase:  "bad-cb-missing",
	chain.ErrMultipleCoinbases:   "bad-cb-multiple",
	chain.ErrBadMerkleRoot:       "bad-txnmrklroot",
	chain.ErrDuplicateTx:         "bad-txns-duplicate",
	chain.ErrBadBits:             "high-hash", // Core's proof-of-work check fails alike for bad bits
	chain.ErrHighHash:            "high-hash",
	chain.ErrNoTxInputs:          "bad-txns-vin-empty",
	chain.ErrNoTxOutputs:         "bad-txns-vout-empty",
	chain.ErrTxTooBig:            "bad-txns-oversize",
	chain.ErrBadTxOutValue:       "bad-txns-vout-toolarge",
	chain.ErrDuplicateTxInputs:   "bad-txns-inputs-duplicate",
	chain.ErrBadCoinbaseDataLen:  "bad-cb-length",
	chain.ErrNullPrevOut:         "bad-txns-prevout-null",
	chain.ErrBadCoinbaseWitness:  "bad-cb-witness",
	chain.ErrBadWitness:          "mandatory-script-verify-flag-failed (Witness program hash mismatch)",
	chain.ErrBadPubKey:           "mandatory-script-verify-flag-failed (Using non-compressed keys in segwit)",
	chain.ErrBadSignatureEncode:  "mandatory-script-verify-flag-failed (Non-canonical DER signature)",
	chain.ErrHighS:               "mandatory-script-verify-flag-failed (Non-canonical signature: S value is unnecessarily high)",
	chain.ErrBadSignature:        "mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)",
	chain.ErrPubKeyHashMismatch:  "mandatory-script-verify-flag-failed (Script failed an OP_EQUALVERIFY operation)",
	chain.ErrBadDifficulty:       "bad-diffbits",
	chain.ErrTimeTooOld:          "time-too-old",
	chain.ErrTimeTooNew:          "time-too-new",
	chain.ErrTimeWarp:            "time-timewarp-attack",
	chain.ErrBadCoinbaseHeight:   "bad-cb-height",
	chain.ErrBadCoinbaseLockTime: "bad-cb-locktime",
	chain.ErrUnfinalizedTx:       "bad-txns-nonfinal",
	chain.ErrMissingTxOut:        "bad-txns-inputs-missingorspent",
	chain.ErrImmatureSpend:       "bad-txns-premature-spend-of-coinbase",
	chain.ErrSpendTooHigh:        "bad-txns-in-belowout",
	chain.ErrBadFees:             "bad-txns-accumulated-fee-outofrange",
	chain.ErrBadCoinbaseValue:    "bad-cb-amount",
	chain.ErrInvalidAncestor:     "bad-prevblk",
	chain.ErrBadPrevBlock:        "prev-blk-not-found",
	chain.ErrKnownInvalid:        "duplicate-invalid",
	chain.ErrDuplicateBlock:      "duplicate",
}

func rejectReason(kind chain.ErrorKind) string {
	if r, ok := rejectReasons[kind]; ok {
		return r
	}
	return string(kind)
}

// submitResult is submitblock's answer for what processing the block gave: null
// when it extended the main chain, "inconclusive" when it was stored without
// being connected (an orphan, or a branch with less work), the reject reason
// when it broke a rule.
func submitResult(res chain.ProcessResult, err error) (any, error) {
	var re *chain.RuleError
	switch {
	case errors.As(err, &re):
		return rejectReason(re.Kind), nil
	case err != nil:
		return nil, Errorf(CodeVerify, "Block processing failed: %v", err)
	case res.Orphan || !res.MainChain:
		return "inconclusive", nil
	}
	return nil, nil
}

func (m *chainMethods) submitblock() Method {
	reasons := make([]string, 0, len(rejectReasons))
	for _, r := range rejectReasons {
		if r != "duplicate" && r != "duplicate-invalid" { // listed first, with their meaning
			reasons = append(reasons, r)
		}
	}
	slices.Sort(reasons)
	return Method{
		Name:     "submitblock",
		Category: "mining",
		Summary:  "Attempts to submit new block to network.",
		Params: []Param{
			{Name: "hexdata", Type: TypeHex, Required: true, Description: "the hex-encoded block data to submit"},
			{Name: "dummy", Type: TypeString, Description: "dummy value, for compatibility with BIP22. This value is ignored."},
		},
		Result: `null    (json null) When the block extended the main chain
"str"   (string) Otherwise, according to BIP22:
        "duplicate"          the block is already known
        "duplicate-invalid"  the block is known and invalid
        "inconclusive"       the block was stored but not connected: its parent is unknown, or its branch has less work
        or the reason the block was rejected, one of:
          ` + strings.Join(slices.Compact(reasons), "\n          "),
		Handler: func(_ context.Context, p *Params) (any, error) {
			s := p.String("hexdata")
			if err := p.Err(); err != nil {
				return nil, err
			}
			raw, err := hex.DecodeString(s)
			if err != nil {
				return nil, Errorf(CodeDeserialization, "Block decode failed: %v", err)
			}
			b, err := chain.DecodeBlock(raw)
			if err != nil {
				return nil, Errorf(CodeDeserialization, "Block decode failed: %v", err)
			}
			if len(b.Txs) == 0 || !b.Txs[0].IsCoinbase() {
				return nil, Errorf(CodeDeserialization, "Block does not start with a coinbase")
			}
			return submitResult(m.SubmitBlock(b))
		},
	}
}
