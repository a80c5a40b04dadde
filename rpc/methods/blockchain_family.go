package methods

import (
	"context"

	"github.com/quarrychain/quarry/rpc"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
)

// mempoolFamily is one of the two methods, as Core's: txids, or with verbose
// each transaction's getmempoolentry object by txid.
func mempoolFamily(family func(chain.Hash) ([]mempool.Entry, bool), name, what, one string) rpc.Method {
	return rpc.Method{
		Name:     name,
		Category: "blockchain",
		Summary:  "If txid is in the mempool, returns all " + what + ".",
		Params: []rpc.Param{
			{Name: "txid", Type: rpc.TypeHex, Required: true, Description: "The transaction id (must be in mempool)"},
			{Name: "verbose", Type: rpc.TypeBool, Default: "false", Description: "True for a json object, false for array of transaction ids"},
		},
		Result: `Result (for verbose = false):
[
  "hex",    (string) The transaction id of an ` + one + ` transaction
  ...
]

Result (for verbose = true):
{
  "transactionid" : {   (json object)
` + mempoolEntryHelp + `
  },
  ...
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			txid := hashParam(p, "txid")
			verbose := p.Bool("verbose")
			if err := p.Err(); err != nil {
				return nil, err
			}
			entries, ok := family(txid)
			if !ok {
				return nil, rpc.Errorf(rpc.CodeInvalidAddressOrKey, "Transaction not in mempool")
			}
			if !verbose {
				ids := make([]chain.Hash, len(entries))
				for i, e := range entries {
					ids[i] = e.TxID
				}
				return ids, nil
			}
			out := make(map[chain.Hash]MempoolEntryResult, len(entries))
			for _, e := range entries {
				out[e.TxID] = entryResult(e)
			}
			return out, nil
		},
	}
}
