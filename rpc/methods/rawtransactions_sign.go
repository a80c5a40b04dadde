package methods

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/base58"

	"github.com/quarrychain/quarry/rpc"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/quarrychain/quarry/chain"
)

type rawInput struct {
	TxID     string  `json:"txid"`
	Vout     *int64  `json:"vout"`
	Sequence *uint32 `json:"sequence"`
}

func (m *mempoolMethods) createrawtransaction() rpc.Method {
	return rpc.Method{
		Name:     "createrawtransaction",
		Category: "rawtransactions",
		Summary:  "Create a transaction spending the given inputs and creating new outputs. Returns hex-encoded raw transaction. Note that the transaction's inputs are not signed, and it is not stored in the wallet or transmitted to the network.",
		Params: []rpc.Param{
			{Name: "inputs", Type: rpc.TypeArray, Required: true, Description: `[{"txid":"hex","vout":n}, ...]; "sequence" is refused: Quarry's inputs have none`},
			{Name: "outputs", Type: rpc.TypeArray, Required: true, Description: `[{"address":amount}, ...], or one object {"address":amount, ...}; amounts in QRY`},
			{Name: "locktime", Type: rpc.TypeNumber, Default: "0", Description: "Raw locktime"},
			{Name: "replaceable", Type: rpc.TypeBool, Default: "true", Description: "Accepted for Core's callers: every Quarry transaction may be replaced by fee"},
		},
		Result: `"hex"    (string) hex string of the transaction`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			var inputs []rawInput
			p.Decode("inputs", &inputs)
			outputs := decodeRawOutputs(p)
			lockTime := p.Int("locktime")
			p.Bool("replaceable")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if lockTime < 0 || lockTime > 0xffffffff {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid parameter, locktime out of range")
			}
			tx := &chain.Tx{Version: 1, LockTime: uint32(lockTime)}
			for _, in := range inputs {
				txid, err := chain.ParseHash(in.TxID)
				if err != nil {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "txid must be of length 64 (not %d, for '%s')", len(in.TxID), in.TxID)
				}
				if in.Vout == nil {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid parameter, missing vout key")
				}
				if *in.Vout < 0 || *in.Vout > 0xffffffff {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid parameter, vout cannot be negative")
				}
				if in.Sequence != nil {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid parameter, Quarry's inputs have no sequence number")
				}
				tx.Inputs = append(tx.Inputs, chain.TxIn{PrevOut: chain.OutPoint{TxID: txid, Index: uint32(*in.Vout)}})
			}
			seen := make(map[string]bool)
			for _, o := range outputs {
				if o.Address == "data" {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid parameter, data outputs are not supported: Quarry's outputs have no scripts")
				}
				pkh, err := m.params.DecodeAddress(o.Address)
				if err != nil {
					return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Invalid Quarry address: %s", rpc.Clip(o.Address))
				}
				if seen[o.Address] {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid parameter, duplicated address: %s", o.Address)
				}
				seen[o.Address] = true
				if o.Amount < 0 {
					return nil, rpc.Errorf(rpc.CodeType, "Amount out of range")
				}
				tx.Outputs = append(tx.Outputs, chain.TxOut{Value: uint64(o.Amount), PubKeyHash: pkh})
			}
			return hex.EncodeToString(tx.Encode()), nil
		},
	}
}

// rawOutput is one output createrawtransaction is asked for.
type rawOutput struct {
	Address string
	Amount  rpc.Amount
}

// decodeRawOutputs reads createrawtransaction's outputs, an array of objects
// or one object, in the order the caller wrote the keys: Core's outputs are
// in that order, and a map would shuffle them.
func decodeRawOutputs(p *rpc.Params) []rawOutput {
	raw := p.Raw("outputs")
	var objects []json.RawMessage
	if rpc.JSONKind(raw) == "object" {
		objects = []json.RawMessage{raw}
	} else {
		p.Decode("outputs", &objects)
	}
	var outs []rawOutput
	for _, o := range objects {
		got, err := orderedAmounts(o)
		if err != nil {
			p.Fail(rpc.Errorf(rpc.CodeType, "outputs: %v", err))
			return nil
		}
		outs = append(outs, got...)
	}
	return outs
}

// orderedAmounts reads one object of address: amount, keeping its key order.
func orderedAmounts(raw json.RawMessage) ([]rawOutput, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New(`want objects of "address": amount`)
	}
	var outs []rawOutput
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		addr, _ := t.(string) // an object's keys are strings
		if addr == "data" {
			return []rawOutput{{Address: addr}}, nil
		}
		var amount rpc.Amount
		if err := dec.Decode(&amount); err != nil {
			return nil, fmt.Errorf("%s: %w", rpc.Clip(addr), err)
		}
		outs = append(outs, rawOutput{Address: addr, Amount: amount})
	}
	return outs, nil
}

// SignRawResult is signrawtransactionwithkey's result.
type SignRawResult struct {
	Hex      string        `json:"hex"`
	Complete bool          `json:"complete"`
	Errors   []SignRawFail `json:"errors,omitempty"`
}

// SignRawFail is one input that could not be signed, as Core reports it.
type SignRawFail struct {
	TxID      chain.Hash `json:"txid"`
	Vout      uint32     `json:"vout"`
	Witness   []string   `json:"witness"`
	ScriptSig string     `json:"scriptSig"`
	Sequence  uint32     `json:"sequence"`
	Error     string     `json:"error"`
}

type prevTx struct {
	TxID         string      `json:"txid"`
	Vout         *uint32     `json:"vout"`
	ScriptPubKey string      `json:"scriptPubKey"`
	Amount       *rpc.Amount `json:"amount"`
}

func (m *mempoolMethods) signrawtransactionwithkey() rpc.Method {
	return rpc.Method{
		Name:     "signrawtransactionwithkey",
		Category: "rawtransactions",
		Summary:  "Sign inputs for raw transaction (serialized, hex-encoded) with the given private keys. The outputs spent are taken from the node's UTXO set and mempool, or from prevtxs.",
		Params: []rpc.Param{
			{Name: "hexstring", Type: rpc.TypeHex, Required: true, Description: "The transaction hex string"},
			{Name: "privkeys", Type: rpc.TypeArray, Required: true, Description: "The base58-encoded private keys (WIF, with Bitcoin's version bytes: 0x80 main, 0xef test networks) or 32-byte hex keys"},
			{Name: "prevtxs", Type: rpc.TypeArray, Description: `[{"txid":"hex","vout":n,"scriptPubKey":"hex","amount":amount}, ...]: outputs the node does not know`},
			{Name: "sighashtype", Type: rpc.TypeString, Default: `"ALL"`, Description: "Only ALL (or DEFAULT): Quarry's sighash always commits to the whole transaction"},
		},
		Result: `{
  "hex" : "hex",           (string) The hex-encoded raw transaction with signature(s)
  "complete" : true|false, (boolean) If the transaction has a complete set of signatures
  "errors" : [             (json array, optional) Script verification errors (if there are any)
    {
      "txid" : "hex",      (string) The hash of the referenced, previous transaction
      "vout" : n,          (numeric) The index of the output to spent and used as input
      "witness" : [ "hex", ... ],  (json array) The input's witness
      "scriptSig" : "hex", (string) Always empty
      "sequence" : n,      (numeric) Always 0: Quarry's inputs have no sequence
      "error" : "str"      (string) Verification or signing error related to the input
    },
    ...
  ]
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			hexTx := p.String("hexstring")
			var keyTexts []string
			p.Decode("privkeys", &keyTexts)
			var prevs []prevTx
			p.Decode("prevtxs", &prevs)
			sighash := p.String("sighashtype")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if sighash != "ALL" && sighash != "DEFAULT" {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid sighash param: only ALL is supported")
			}
			tx, err := decodeTx(hexTx, "TX decode failed")
			if err != nil {
				return nil, err
			}
			keys := make(map[[chain.PubKeyHashSize]byte]*secp256k1.PrivateKey)
			for _, k := range keyTexts {
				key, err := parsePrivateKey(k, m.params)
				if err != nil {
					return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Invalid private key")
				}
				keys[chain.PubKeyHash(key.PubKey().SerializeCompressed())] = key
			}
			given, err := prevOutputs(prevs, m.params)
			if err != nil {
				return nil, err
			}
			spent := make([]chain.TxOut, len(tx.Inputs))
			allKnown := true
			for i, in := range tx.Inputs {
				var ok bool
				if spent[i], ok = given[in.PrevOut]; !ok {
					spent[i], ok = m.spentOutput(in.PrevOut)
				}
				allKnown = allKnown && ok
			}
			res := SignRawResult{Complete: true}
			var hasher *chain.SigHasher
			if allKnown {
				hasher = chain.NewSigHasher(tx, spent)
			}
			for i := range tx.Inputs {
				var problem string
				switch {
				case hasher == nil:
					// The sighash commits to every spent output: without
					// one of them, no input can be signed or checked.
					problem = "Input not found or already spent"
					if _, ok := given[tx.Inputs[i].PrevOut]; ok {
						problem = "Another input's spent output is unknown: give it in prevtxs"
					}
				default:
					if key := keys[spent[i].PubKeyHash]; key != nil {
						chain.SignInput(tx, hasher, i, key)
					}
					problem = checkInputSignature(tx, hasher, i, spent[i].PubKeyHash)
				}
				if problem != "" {
					res.Complete = false
					res.Errors = append(res.Errors, signFailure(tx.Inputs[i], problem))
				}
			}
			res.Hex = hex.EncodeToString(tx.Encode())
			return res, nil
		},
	}
}

// spentOutput finds the output op in the pool or the UTXO set.
func (m *mempoolMethods) spentOutput(op chain.OutPoint) (chain.TxOut, bool) {
	return spentOutput(m.Chain, func(id chain.Hash) *chain.Tx {
		tx, _ := m.Pool.Get(id)
		return tx
	}, op)
}

func signFailure(in chain.TxIn, problem string) SignRawFail {
	w := make([]string, len(in.Witness))
	for j, item := range in.Witness {
		w[j] = hex.EncodeToString(item)
	}
	return SignRawFail{TxID: in.PrevOut.TxID, Vout: in.PrevOut.Index, Witness: w, Error: problem}
}

// checkInputSignature says what is wrong with input i's witness, or "".
func checkInputSignature(tx *chain.Tx, hasher *chain.SigHasher, i int, pkh [chain.PubKeyHashSize]byte) string {
	w := tx.Inputs[i].Witness
	if len(w) != 2 {
		return "Witness program was passed an empty witness"
	}
	if chain.PubKeyHash(w[0]) != pkh {
		return "Witness program hash mismatch"
	}
	key, err := secp256k1.ParsePubKey(w[0])
	if err != nil {
		return "Public key is neither compressed or uncompressed"
	}
	sig, err := ecdsa.ParseDERSignature(w[1])
	msg := hasher.SigHash(i)
	if err != nil || !sig.Verify(msg[:], key) {
		return "Signature must be zero for failed CHECK(MULTI)SIG operation"
	}
	return ""
}

// prevOutputs reads prevtxs: the outputs spent that the node may not know.
func prevOutputs(prevs []prevTx, params *chain.Params) (map[chain.OutPoint]chain.TxOut, error) {
	out := make(map[chain.OutPoint]chain.TxOut, len(prevs))
	for _, pr := range prevs {
		txid, err := chain.ParseHash(pr.TxID)
		if err != nil {
			return nil, rpc.Errorf(rpc.CodeInvalidParameter, "txid must be hexadecimal string (not '%s')", pr.TxID)
		}
		if pr.Vout == nil {
			return nil, rpc.Errorf(rpc.CodeDeserialization, "Missing vout")
		}
		if pr.Amount == nil {
			return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Missing amount")
		}
		script, err := hex.DecodeString(pr.ScriptPubKey)
		if err != nil || len(script) != 2+chain.PubKeyHashSize || script[0] != 0 || script[1] != chain.PubKeyHashSize {
			return nil, rpc.Errorf(rpc.CodeInvalidParameter, "scriptPubKey must be a P2WPKH script (0014 and a 20-byte key hash): Quarry has no other")
		}
		var pkh [chain.PubKeyHashSize]byte
		copy(pkh[:], script[2:])
		if *pr.Amount < 0 {
			return nil, rpc.Errorf(rpc.CodeType, "Amount out of range")
		}
		out[chain.OutPoint{TxID: txid, Index: *pr.Vout}] = chain.TxOut{Value: uint64(*pr.Amount), PubKeyHash: pkh}
	}
	return out, nil
}

// wifMaxLen bounds the text parsePrivateKey decodes: a compressed WIF key
// is 52 characters, and base58 decoding is quadratic in the length.
const wifMaxLen = 64

// parsePrivateKey reads a WIF key (Bitcoin's encoding: version byte 0x80 on
// main, 0xef on the test networks, 32 bytes, 0x01 for a compressed key,
// base58 with a 4-byte double-SHA-256 checksum) or 64 hex digits. Its errors
// never hold the text: a key must not reach a log or an error message.
func parsePrivateKey(s string, params *chain.Params) (*secp256k1.PrivateKey, error) {
	if raw, err := hex.DecodeString(s); err == nil && len(raw) == 32 {
		return privateKeyFromBytes(raw)
	}
	if len(s) > wifMaxLen {
		return nil, errors.New("not a WIF key")
	}
	payload, version, err := base58.CheckDecode(s)
	if err != nil || len(payload) != 32+1 || payload[32] != 1 {
		return nil, errors.New("not a WIF key of a compressed public key")
	}
	want := byte(0xef)
	if params == chain.MainParams {
		want = 0x80
	}
	if version != want {
		return nil, errors.New("not a WIF key of this network")
	}
	return privateKeyFromBytes(payload[:32])
}

// privateKeyFromBytes refuses what is no private key, as Core does: zero, or
// not below the group order (which PrivKeyFromBytes would silently reduce).
func privateKeyFromBytes(b []byte) (*secp256k1.PrivateKey, error) {
	var k secp256k1.ModNScalar
	if overflow := k.SetByteSlice(b); overflow || k.IsZero() {
		return nil, errors.New("private key out of range")
	}
	return secp256k1.NewPrivateKey(&k), nil
}

func (m *mempoolMethods) combinerawtransaction() rpc.Method {
	return rpc.Method{
		Name:     "combinerawtransaction",
		Category: "rawtransactions",
		Summary:  "Combine multiple partially signed transactions into one transaction. The combined transaction may be another partially signed transaction or a fully signed transaction.",
		Params: []rpc.Param{
			{Name: "txs", Type: rpc.TypeArray, Required: true, Description: `["hexstring", ...]: the same transaction with different inputs signed`},
		},
		Result: `"str"    (string) The hex-encoded raw transaction with signature(s)`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			var hexes []string
			p.Decode("txs", &hexes)
			if err := p.Err(); err != nil {
				return nil, err
			}
			if len(hexes) == 0 {
				return nil, rpc.Errorf(rpc.CodeDeserialization, "Missing transactions")
			}
			variants := make([]*chain.Tx, len(hexes))
			for i, h := range hexes {
				tx, err := decodeTx(h, fmt.Sprintf("TX decode failed for tx %d", i))
				if err != nil {
					return nil, err
				}
				// The witnesses are outside the txid: the same txid is the
				// same transaction, whatever each copy has signed.
				if i > 0 && tx.TxID() != variants[0].TxID() {
					return nil, rpc.Errorf(rpc.CodeDeserialization, "Transaction %d is not the same transaction as the first", i)
				}
				variants[i] = tx
			}
			// As Core: each input takes a witness that verifies against the
			// output it spends, from whichever copy has one, so a copy with
			// a bad signature cannot hide another's good one.
			merged := variants[0]
			spent := make([]chain.TxOut, len(merged.Inputs))
			for i, in := range merged.Inputs {
				var ok bool
				if spent[i], ok = m.spentOutput(in.PrevOut); !ok {
					return nil, rpc.Errorf(rpc.CodeVerify, "Input not found or already spent")
				}
			}
			hasher := chain.NewSigHasher(merged, spent)
			for i := range merged.Inputs {
				var valid [][]byte
				for _, v := range variants {
					merged.Inputs[i].Witness = v.Inputs[i].Witness
					if checkInputSignature(merged, hasher, i, spent[i].PubKeyHash) == "" {
						valid = v.Inputs[i].Witness
						break
					}
				}
				merged.Inputs[i].Witness = valid
			}
			return hex.EncodeToString(merged.Encode()), nil
		},
	}
}
