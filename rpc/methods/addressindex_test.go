package methods

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
)

func TestValidateAddress(t *testing.T) {
	f := newChainFixture(t, 1)
	pkh := f.gen.PKH
	addr := chain.RegtestParams.EncodeAddress(pkh)

	for _, in := range []string{addr, strings.ToUpper(addr)} {
		obj := f.object(t, "validateaddress", []any{in})
		checkKeys(t, "validateaddress", obj, "isvalid", "address", "scriptPubKey", "isscript", "iswitness", "witness_version", "witness_program")
		checkField(t, obj, "isvalid", true)
		checkField(t, obj, "address", addr) // canonical: lower case
		checkField(t, obj, "scriptPubKey", "0014"+hex.EncodeToString(pkh[:]))
		checkField(t, obj, "isscript", false)
		checkField(t, obj, "iswitness", true)
		checkField(t, obj, "witness_version", 0)
		checkField(t, obj, "witness_program", hex.EncodeToString(pkh[:]))
	}
	for in, reason := range map[string]string{
		chain.TestnetParams.EncodeAddress(pkh):   "It is a testnet address, this is regtest",
		"rqry1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq": "Invalid checksum",
		"":                                       "Invalid bech32 string length 0",
	} {
		obj := f.object(t, "validateaddress", []any{in})
		checkKeys(t, "validateaddress", obj, "isvalid", "error")
		checkField(t, obj, "isvalid", false)
		if got, _ := obj["error"].(string); !strings.HasPrefix(got, reason) {
			t.Errorf("validateaddress %q: error %q, want %q", in, got, reason)
		}
	}
	f.callErr(t, "validateaddress", nil, rpc.CodeMisc, "Missing required parameter 'address'")
	f.callErr(t, "validateaddress", []any{7}, rpc.CodeType, "Wrong type for parameter 'address'")
}

func TestAddressIndexMethods(t *testing.T) {
	f := newChainFixture(t, 103)
	params := chain.RegtestParams
	addr := params.EncodeAddress(f.gen.PKH)
	other := params.EncodeAddress([chain.PubKeyHashSize]byte{9})
	st, err := f.chain.UtxoStats()
	if err != nil {
		t.Fatal(err)
	}
	// Every output of the fixture pays to the generator's key (genesis pays to
	// nobody and is not spendable), so the address owns the whole UTXO set.
	var received uint64
	for _, b := range f.main[1:] {
		for _, tx := range b.Txs {
			total, _ := tx.TotalOut()
			received += total
		}
	}
	forms := []any{
		[]any{map[string]any{"addresses": []string{addr}}},
		map[string]any{"addresses": []string{addr}}, // named parameters
		[]any{[]string{addr}},
		[]any{addr},
		[]any{map[string]any{"addresses": []string{addr, strings.ToUpper(addr), other}}},
	}

	t.Run("getaddressbalance", func(t *testing.T) {
		for _, params := range forms {
			obj := f.object(t, "getaddressbalance", params)
			checkKeys(t, "getaddressbalance", obj, "balance", "received")
			checkField(t, obj, "balance", st.Total)
			checkField(t, obj, "received", received)
		}
		obj := f.object(t, "getaddressbalance", []any{other})
		checkField(t, obj, "balance", 0)
		checkField(t, obj, "received", 0)
	})
	t.Run("getaddressutxos", func(t *testing.T) {
		for _, params := range forms {
			var utxos []map[string]any
			f.call(t, "getaddressutxos", params, &utxos)
			if len(utxos) != int(st.TxOuts) {
				t.Fatalf("getaddressutxos %v gave %d outputs, want %d", params, len(utxos), st.TxOuts)
			}
			for _, u := range utxos {
				checkKeys(t, "utxo", u, "address", "txid", "outputIndex", "script", "satoshis", "height")
				checkField(t, u, "address", addr)
				checkField(t, u, "script", "0014"+hex.EncodeToString(f.gen.PKH[:]))
			}
			// Oldest first: block 1's coinbase is spent, so block 2's comes first.
			checkField(t, utxos[0], "height", 2)
			checkField(t, utxos[0], "txid", f.main[2].Txs[0].TxID())
			checkField(t, utxos[0], "outputIndex", 0)
			checkField(t, utxos[0], "satoshis", 50*chain.Coin)
			last := utxos[len(utxos)-1]
			checkField(t, last, "height", 103)
		}
		var none []map[string]any
		f.call(t, "getaddressutxos", []any{other}, &none)
		if none == nil || len(none) != 0 {
			t.Errorf("getaddressutxos of an unused address = %v, want []", none)
		}
	})
	t.Run("getaddresstxids", func(t *testing.T) {
		var want []chain.Hash
		for _, b := range f.main[1:] {
			ids := b.TxIDs()
			// Within a height, ordered by txid.
			slices.SortFunc(ids, func(a, b chain.Hash) int { return strings.Compare(a.String(), b.String()) })
			want = append(want, ids...)
		}
		for _, params := range forms {
			var got []chain.Hash
			f.call(t, "getaddresstxids", params, &got)
			if !slices.Equal(got, want) {
				t.Errorf("getaddresstxids %v = %d txids, want %d by height", params, len(got), len(want))
			}
		}
		var got []chain.Hash
		f.call(t, "getaddresstxids", []any{map[string]any{"addresses": []string{addr}, "start": 102, "end": 102}}, &got)
		if !slices.Equal(got, want[101:104]) {
			t.Errorf("getaddresstxids at height 102 = %v, want %v", got, want[101:104])
		}
		f.callErr(t, "getaddresstxids", []any{map[string]any{"addresses": []string{addr}, "start": 5, "end": 4}},
			rpc.CodeInvalidParameter, "End value is expected to be greater than start")
	})
	t.Run("errors", func(t *testing.T) {
		for _, method := range []string{"getaddressbalance", "getaddressutxos", "getaddresstxids"} {
			f.callErr(t, method, []any{"qry1nonsense"}, rpc.CodeInvalidAddressOrKey, "Invalid address: ")
			f.callErr(t, method, []any{map[string]any{"addresses": []string{addr, chain.TestnetParams.EncodeAddress(f.gen.PKH)}}},
				rpc.CodeInvalidAddressOrKey, "Invalid address: It is a testnet address, this is regtest")
			f.callErr(t, method, []any{5}, rpc.CodeType, "Wrong type for parameter 'addresses'")
			f.callErr(t, method, []any{[]any{5}}, rpc.CodeType, "Wrong type for parameter 'addresses'")
			f.callErr(t, method, []any{map[string]any{"addresses": 5}}, rpc.CodeType, "Wrong type for parameter 'addresses'")
			f.callErr(t, method, []any{map[string]any{"addresses": []string{addr}, "chainInfo": true}},
				rpc.CodeInvalidParameter, `Invalid parameter 'addresses': json: unknown field "chainInfo"`)
			f.callErr(t, method, nil, rpc.CodeMisc, "Missing required parameter 'addresses'")
		}
		// Ranges belong to getaddresstxids only.
		f.callErr(t, "getaddressutxos", []any{map[string]any{"addresses": []string{addr}, "start": 1}},
			rpc.CodeInvalidParameter, `Invalid parameter 'addresses': json: unknown field "start"`)
	})
}

// A transaction that pays two addresses of one getaddresstxids query, each
// its own amount, is listed once, as bitcore lists it.
func TestAddressTxIDsListsASharedTransactionOnce(t *testing.T) {
	f := newChainFixture(t, 101)
	other := f.gen.NewKey()
	pay := f.gen.SpendTo([]chain.OutPoint{f.gen.Coinbase(f.main[1].Hash())},
		chain.TxOut{Value: chain.Coin, PubKeyHash: f.gen.PKH}, chain.TxOut{Value: 2 * chain.Coin, PubKeyHash: other})
	b := f.gen.NextBlock(f.main[101].Hash(), pay)
	if _, err := f.chain.ProcessBlock(b); err != nil {
		t.Fatal(err)
	}
	want := []chain.Hash{b.Txs[0].TxID(), pay.TxID()}
	slices.SortFunc(want, func(a, b chain.Hash) int { return strings.Compare(a.String(), b.String()) })
	addrs := []string{chain.RegtestParams.EncodeAddress(f.gen.PKH), chain.RegtestParams.EncodeAddress(other)}
	var got []chain.Hash
	f.call(t, "getaddresstxids", []any{map[string]any{"addresses": addrs, "start": 102, "end": 102}}, &got)
	if !slices.Equal(got, want) {
		t.Errorf("getaddresstxids of both addresses at height 102 = %v, want %v", got, want)
	}
}
