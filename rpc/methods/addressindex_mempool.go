package methods

import (
	"cmp"
	"context"
	"slices"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/rpc"
)

// AddressMempoolEntry is one of getaddressmempool's entries, as bitcore's
// address index answers it: a mempool transaction's output paying to an
// address (satoshis positive, index the output's), or its input spending
// from one (satoshis negative, index the input's, with the output spent).
type AddressMempoolEntry struct {
	Address   string      `json:"address"`
	TxID      chain.Hash  `json:"txid"`
	Index     int         `json:"index"`
	Satoshis  int64       `json:"satoshis"`
	Timestamp int64       `json:"timestamp"`
	PrevTxID  *chain.Hash `json:"prevtxid,omitempty"`
	PrevOut   *uint32     `json:"prevout,omitempty"`
}

func (m *mempoolMethods) getaddressmempool() rpc.Method {
	addresses := &chainMethods{params: m.Chain.Params()}
	return rpc.Method{
		Name:     "getaddressmempool",
		Category: "addressindex",
		Summary:  "Returns all mempool deltas for an address (requires addressindex to be enabled).",
		Params:   []rpc.Param{addressesParamDecl},
		Result: `[
  {
    "address" : "str",   (string) The address
    "txid" : "hex",      (string) The mempool transaction
    "index" : n,         (numeric) The output index (a payment) or the input index (a spend)
    "satoshis" : n,      (numeric) The base units paid to the address, negative for a spend from it
    "timestamp" : n,     (numeric) When the transaction entered the mempool, unix seconds
    "prevtxid" : "hex",  (string, optional) For a spend: the transaction of the output spent
    "prevout" : n        (numeric, optional) For a spend: the index of the output spent
  },
  ...
]`,
		Handler: func(ctx context.Context, p *rpc.Params) (any, error) {
			_, addrs, err := addresses.addressesParam(p, false)
			if err != nil {
				return nil, err
			}
			wanted := make(map[[chain.PubKeyHashSize]byte]string, len(addrs))
			for _, a := range addrs {
				wanted[a.pkh] = a.addr
			}
			entries := m.Pool.Entries()
			inPool := make(map[chain.Hash]*chain.Tx, len(entries))
			for _, e := range entries {
				inPool[e.TxID] = e.Tx
			}
			out := []AddressMempoolEntry{}
			for _, e := range entries {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				for i, o := range e.Tx.Outputs {
					if addr, ok := wanted[o.PubKeyHash]; ok {
						out = append(out, AddressMempoolEntry{Address: addr, TxID: e.TxID, Index: i,
							Satoshis: int64(o.Value), Timestamp: e.Time.Unix()})
					}
				}
				for i, in := range e.Tx.Inputs {
					spent, ok := spentOutput(m.Chain, func(id chain.Hash) *chain.Tx { return inPool[id] }, in.PrevOut)
					if !ok {
						continue
					}
					if addr, ok := wanted[spent.PubKeyHash]; ok {
						prev := in.PrevOut
						out = append(out, AddressMempoolEntry{Address: addr, TxID: e.TxID, Index: i,
							Satoshis: -int64(spent.Value), Timestamp: e.Time.Unix(), PrevTxID: &prev.TxID, PrevOut: &prev.Index})
					}
				}
			}
			slices.SortStableFunc(out, func(a, b AddressMempoolEntry) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
			return out, nil
		},
	}
}

// spentOutput finds the output op names: a mempool parent's, or the chain's.
// A block mined since the pool was read may have spent it; then it is not
// found, and the spend is left out as the pool will drop it.
func spentOutput(c *blockchain.Chain, inPool func(chain.Hash) *chain.Tx, op chain.OutPoint) (chain.TxOut, bool) {
	if parent := inPool(op.TxID); parent != nil {
		if int(op.Index) < len(parent.Outputs) {
			return parent.Outputs[op.Index], true
		}
		return chain.TxOut{}, false
	}
	if u := c.LookupUtxo(op); u != nil {
		return chain.TxOut{Value: u.Value, PubKeyHash: u.PubKeyHash}, true
	}
	return chain.TxOut{}, false
}
