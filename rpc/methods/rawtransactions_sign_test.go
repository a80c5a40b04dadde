package methods

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/base58"

	"github.com/quarrychain/quarry/rpc"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// wif encodes key as Core's test-network WIF, compressed.
func wif(key *secp256k1.PrivateKey) string {
	return base58.CheckEncode(append(key.Serialize(), 1), 0xef)
}

// TestParsePrivateKey: WIF and hex keys as Core reads them, and what is no
// key of this network refused.
func TestParsePrivateKey(t *testing.T) {
	key := secp256k1.PrivKeyFromBytes(bytes.Repeat([]byte{3}, 32))
	order := "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
	for _, c := range []struct {
		name, text string
		ok         bool
	}{
		{"test-network WIF", wif(key), true},
		{"hex", hex.EncodeToString(key.Serialize()), true},
		{"main-network WIF", base58.CheckEncode(append(key.Serialize(), 1), 0x80), false},
		{"uncompressed WIF", base58.CheckEncode(key.Serialize(), 0xef), false},
		{"bad checksum", wif(key)[:51] + "2", false},
		{"zero key", strings.Repeat("00", 32), false},
		{"the group order", order, false},
		{"past the group order", strings.Repeat("ff", 32), false},
		{"zero key WIF", base58.CheckEncode(append(make([]byte, 32), 1), 0xef), false},
		{"long text", strings.Repeat("1", 10_000), false},
	} {
		got, err := parsePrivateKey(c.text, chain.RegtestParams)
		if c.ok != (err == nil) || c.ok && !got.Key.Equals(&key.Key) {
			t.Errorf("%s: key %v, error %v", c.name, got, err)
		}
		if err != nil && strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: the error %q holds the key text", c.name, err)
		}
	}
}

func TestRawTransactionMethods(t *testing.T) {
	f := newPoolFixture(t)
	params := f.chain.Params()
	a, b := f.gen.Coinbase(f.main[2].Hash()), f.gen.Coinbase(f.main[3].Hash())
	to := params.EncodeAddress([20]byte{5})
	var unsigned string
	f.call(t, "createrawtransaction", []any{
		[]map[string]any{{"txid": a.TxID, "vout": a.Index}, {"txid": b.TxID, "vout": b.Index}},
		[]map[string]any{{to: 99.9999}},
	}, &unsigned)
	tx := mustDecode(t, unsigned)
	if len(tx.Inputs) != 2 || len(tx.Outputs) != 1 || tx.Outputs[0].Value != 99_9999_0000 || tx.Inputs[1].PrevOut != b {
		t.Fatalf("createrawtransaction made %+v", tx)
	}

	// One object of several outputs: Core keeps the order of its keys.
	var ordered string
	to2 := params.EncodeAddress([20]byte{1})
	f.call(t, "createrawtransaction", []any{[]any{}, json.RawMessage(`{"` + to + `": 1, "` + to2 + `": 2}`)}, &ordered)
	if tx := mustDecode(t, ordered); len(tx.Outputs) != 2 || tx.Outputs[0].PubKeyHash != [20]byte{5} || tx.Outputs[1].Value != 2*chain.Coin {
		t.Fatalf("createrawtransaction with one object made %+v", tx)
	}

	// Each half signed on its own, by a key in each format, then combined.
	key := f.gen.Key
	var signed SignRawResult
	f.call(t, "signrawtransactionwithkey", []any{unsigned, []string{wif(key)}}, &signed)
	if !signed.Complete || len(signed.Errors) != 0 {
		t.Fatalf("signed with the owner's WIF key: %+v", signed)
	}
	// Two partial copies: each with one input's witness.
	full := mustDecode(t, signed.Hex)
	half1, half2 := mustDecode(t, unsigned), mustDecode(t, unsigned)
	half1.Inputs[0].Witness, half2.Inputs[1].Witness = full.Inputs[0].Witness, full.Inputs[1].Witness
	var partial SignRawResult
	f.call(t, "signrawtransactionwithkey", []any{hexTx(half1), []string{hex.EncodeToString(otherKeyBytes())}}, &partial)
	if partial.Complete || len(partial.Errors) != 1 || partial.Errors[0].Vout != b.Index || partial.Errors[0].TxID != b.TxID {
		t.Fatalf("partial signing: %+v", partial)
	}
	var combined string
	f.call(t, "combinerawtransaction", []any{[]string{hexTx(half1), hexTx(half2)}}, &combined)
	if combined != signed.Hex {
		t.Fatalf("combined %s, want %s", combined, signed.Hex)
	}
	// A copy with a bad signature listed first does not hide a good one.
	forged := mustDecode(t, hexTx(half2))
	forged.Inputs[0].Witness = [][]byte{full.Inputs[0].Witness[0], full.Inputs[1].Witness[1]}
	f.call(t, "combinerawtransaction", []any{[]string{hexTx(forged), hexTx(half1)}}, &combined)
	if combined != signed.Hex {
		t.Fatalf("combined after a forged copy %s, want %s", combined, signed.Hex)
	}
	f.send(t, mustDecode(t, combined))

	// An output the node does not know, given in prevtxs.
	unknown := chain.OutPoint{TxID: chain.Hash{0x42}, Index: 1}
	var lone string
	f.call(t, "createrawtransaction", []any{[]map[string]any{{"txid": unknown.TxID, "vout": 1}}, map[string]any{to: 1}}, &lone)
	var missing SignRawResult
	f.call(t, "signrawtransactionwithkey", []any{lone, []string{wif(key)}}, &missing)
	if missing.Complete || len(missing.Errors) != 1 || missing.Errors[0].Error != "Input not found or already spent" {
		t.Errorf("unknown input: %+v", missing)
	}
	script := "0014" + hex.EncodeToString(f.gen.PKH[:])
	var given SignRawResult
	f.call(t, "signrawtransactionwithkey", []any{lone, []string{wif(key)},
		[]map[string]any{{"txid": unknown.TxID, "vout": 1, "scriptPubKey": script, "amount": 2}}}, &given)
	if !given.Complete {
		t.Errorf("with prevtxs: %+v", given)
	}

	for _, c := range []struct {
		method string
		params []any
		code   int
		msg    string
	}{
		{"createrawtransaction", []any{[]any{}, []map[string]any{{"nonsense": 1}}}, rpc.CodeInvalidAddressOrKey, "Invalid Quarry address"},
		{"createrawtransaction", []any{[]map[string]any{{"txid": "00"}}, []any{}}, rpc.CodeInvalidParameter, "txid must be of length 64"},
		{"createrawtransaction", []any{[]map[string]any{{"txid": a.TxID, "vout": 0, "sequence": 1}}, []any{}}, rpc.CodeInvalidParameter, "Invalid parameter, Quarry's inputs have no sequence"},
		{"signrawtransactionwithkey", []any{unsigned, []string{"notakey"}}, rpc.CodeInvalidAddressOrKey, "Invalid private key"},
		{"signrawtransactionwithkey", []any{unsigned, []string{}, nil, "NONE"}, rpc.CodeInvalidParameter, "Invalid sighash param"},
		{"combinerawtransaction", []any{[]string{unsigned, lone}}, rpc.CodeDeserialization, "Transaction 1 is not the same"},
		{"combinerawtransaction", []any{[]string{"zz"}}, rpc.CodeDeserialization, "TX decode failed"},
		{"combinerawtransaction", []any{[]string{lone, lone}}, rpc.CodeVerify, "Input not found or already spent"},
	} {
		f.callErr(t, c.method, c.params, c.code, c.msg)
	}
}

func mustDecode(t *testing.T, s string) *chain.Tx { return chaintest.DecodeHexTx(t, s) }

func otherKeyBytes() []byte { return bytes.Repeat([]byte{7}, 32) }

// FuzzParsePrivateKey: keys come from RPC callers; any text must be refused
// or give a key, never panic, and a key read back from its WIF is the same.
func FuzzParsePrivateKey(f *testing.F) {
	key := secp256k1.PrivKeyFromBytes(bytes.Repeat([]byte{3}, 32))
	f.Add(wif(key))
	f.Add("11111111111111111111")
	f.Add(hex.EncodeToString(otherKeyBytes()))
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parsePrivateKey(s, chain.RegtestParams)
		if err != nil {
			return
		}
		if again, err := parsePrivateKey(wif(k), chain.RegtestParams); err != nil || !again.Key.Equals(&k.Key) {
			t.Fatalf("%q: key does not survive its WIF: %v", s, err)
		}
	})
}
