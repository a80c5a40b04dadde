package methods

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/rpc"
)

// addressQuery is the argument of bitcore's address index methods.
type addressQuery struct {
	Addresses []string `json:"addresses"`
	// Start and End bound the heights getaddresstxids lists, both inclusive; they
	// apply when both are positive, as in bitcore.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// indexedAddress is one address of a query, in canonical form, and the key hash
// it pays to.
type indexedAddress struct {
	addr string
	pkh  [chain.PubKeyHashSize]byte
}

// addressesParam reads the addresses parameter as bitcore does: an object
// {"addresses": [...]} (with "start" and "end" when ranged), and also a bare
// array or a single address string. Because the parameter is named
// "addresses", JSON-RPC named parameters {"addresses": [...]} bind the same way.
// Unknown object fields are refused rather than ignored, so that a caller asking
// for something bitcore offers and Quarry does not learn so.
func (m *chainMethods) addressesParam(p *rpc.Params, ranged bool) (addressQuery, []indexedAddress, error) {
	var q addressQuery
	raw := p.Raw("addresses")
	switch kind := rpc.JSONKind(raw); kind {
	case "string":
		q.Addresses = []string{p.String("addresses")}
	case "array":
		p.Decode("addresses", &q.Addresses)
	case "object":
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var err error
		if ranged {
			err = dec.Decode(&q)
		} else {
			var plain struct {
				Addresses []string `json:"addresses"`
			}
			err = dec.Decode(&plain)
			q.Addresses = plain.Addresses
		}
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			p.Fail(rpc.Errorf(rpc.CodeType, "Wrong type for parameter 'addresses': %v", err))
		case err != nil:
			p.Fail(rpc.Errorf(rpc.CodeInvalidParameter, "Invalid parameter 'addresses': %v", err))
		}
	default:
		p.Fail(rpc.Errorf(rpc.CodeType, "Wrong type for parameter 'addresses': JSON value of type %s is not of expected type object", kind))
	}
	if err := p.Err(); err != nil {
		return q, nil, err
	}
	if (q.Start != 0 || q.End != 0) && q.End < q.Start {
		return q, nil, rpc.Errorf(rpc.CodeInvalidParameter, "End value is expected to be greater than start")
	}
	var out []indexedAddress
	seen := make(map[[chain.PubKeyHashSize]byte]bool)
	for _, addr := range q.Addresses {
		pkh, err := m.params.DecodeAddress(addr)
		if err != nil {
			return q, nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Invalid address: %s", addressReason(err, addr))
		}
		if !seen[pkh] {
			seen[pkh] = true
			out = append(out, indexedAddress{addr: m.params.EncodeAddress(pkh), pkh: pkh})
		}
	}
	return q, out, nil
}

var addressesParamDecl = rpc.Param{
	Name: "addresses", Type: rpc.TypeObject, Required: true,
	Description: `{"addresses": ["address", ...]}; a single address string or an array of addresses is taken too`,
}

func (m *chainMethods) getaddressbalance() rpc.Method {
	return rpc.Method{
		Name:     "getaddressbalance",
		Category: "addressindex",
		Summary:  "Returns the balance for an address(es) (requires addressindex to be enabled).",
		Params:   []rpc.Param{addressesParamDecl},
		Result: `{
  "balance" : n,     (numeric) The current balance in base units (immature coinbase outputs included)
  "received" : n     (numeric) The total number of base units ever received, including change
}`,
		Handler: func(ctx context.Context, p *rpc.Params) (any, error) {
			_, addrs, err := m.addressesParam(p, false)
			if err != nil {
				return nil, err
			}
			var res AddressBalanceResult
			for _, a := range addrs {
				utxos, history, err := m.AddrIndex.UtxosAndTxIDs(a.pkh, 0)
				if err != nil {
					return nil, fmt.Errorf("read address index: %w", err)
				}
				for _, u := range utxos {
					res.Balance += u.Value
				}
				for _, h := range history {
					res.Received += h.Received
				}
			}
			return res, nil
		},
	}
}

func (m *chainMethods) getaddressutxos() rpc.Method {
	return rpc.Method{
		Name:     "getaddressutxos",
		Category: "addressindex",
		Summary:  "Returns all unspent outputs for an address (requires addressindex to be enabled).",
		Params:   []rpc.Param{addressesParamDecl},
		Result: `[                          (json array) oldest first
  {
    "address" : "str",      (string) The address
    "txid" : "hex",         (string) The output txid
    "outputIndex" : n,      (numeric) The output index
    "script" : "hex",       (string) The script hex encoded
    "satoshis" : n,         (numeric) The number of base units of the output
    "height" : n            (numeric) The block height
  },
  ...
]`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			_, addrs, err := m.addressesParam(p, false)
			if err != nil {
				return nil, err
			}
			out := []AddressUtxoResult{}
			for _, a := range addrs {
				utxos, err := m.AddrIndex.Utxos(a.pkh)
				if err != nil {
					return nil, fmt.Errorf("read address index: %w", err)
				}
				for _, u := range utxos {
					out = append(out, AddressUtxoResult{Address: a.addr, TxID: u.OutPoint.TxID, OutputIndex: u.OutPoint.Index,
						Script: scriptHex(a.pkh), Satoshis: u.Value, Height: u.Height})
				}
			}
			slices.SortFunc(out, func(a, b AddressUtxoResult) int {
				return cmp.Or(cmp.Compare(a.Height, b.Height), a.TxID.Compare(b.TxID),
					cmp.Compare(a.OutputIndex, b.OutputIndex))
			})
			return out, nil
		},
	}
}

func (m *chainMethods) getaddresstxids() rpc.Method {
	return rpc.Method{
		Name:     "getaddresstxids",
		Category: "addressindex",
		Summary:  "Returns the txids for an address(es) (requires addressindex to be enabled).",
		Params: []rpc.Param{{
			Name: "addresses", Type: rpc.TypeObject, Required: true,
			Description: `{"addresses": ["address", ...], "start": n, "end": n}: the heights start and end (inclusive)
bound the list when both are given; a single address string or an array of addresses is taken too`,
		}},
		Result: `[        (json array) the main-chain transactions paying to or spending from the addresses, by height
  "hex",  (string) The transaction id
  ...
]`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			q, addrs, err := m.addressesParam(p, true)
			if err != nil {
				return nil, err
			}
			var all []indexers.AddressTx
			for _, a := range addrs {
				txs, err := m.AddrIndex.TxIDs(a.pkh)
				if err != nil {
					return nil, fmt.Errorf("read address index: %w", err)
				}
				for _, t := range txs {
					if q.Start > 0 && q.End > 0 && (int64(t.Height) < q.Start || int64(t.Height) > q.End) {
						continue
					}
					all = append(all, t)
				}
			}
			// Two addresses of one query can share a transaction; it is listed
			// once, whatever it paid each.
			slices.SortFunc(all, func(a, b indexers.AddressTx) int {
				return cmp.Or(cmp.Compare(a.Height, b.Height), a.TxID.Compare(b.TxID))
			})
			all = slices.CompactFunc(all, func(a, b indexers.AddressTx) bool { return a.TxID == b.TxID })
			out := make([]chain.Hash, len(all))
			for i, t := range all {
				out[i] = t.TxID
			}
			return out, nil
		},
	}
}
