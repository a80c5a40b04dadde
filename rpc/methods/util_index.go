package methods

import (
	"context"
	"errors"

	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/rpc"
)

// IndexInfoResult is one index in getindexinfo's reply.
type IndexInfoResult struct {
	Synced          bool  `json:"synced"`
	BestBlockHeight int32 `json:"best_block_height"`
}

func (m *chainMethods) getindexinfo() rpc.Method {
	return rpc.Method{
		Name:     "getindexinfo",
		Category: "util",
		Summary:  "Returns the status of one or all available indices currently running in the node.",
		Params: []rpc.Param{
			{Name: "index_name", Type: rpc.TypeString, Description: "Filter results for an index with a specific name (txindex or addrindex)."},
		},
		Result: `{                               (json object) Empty if no index is enabled (or the named one is not)
  "name" : {                    (json object) The name of the index
    "synced" : true|false,      (boolean) Whether the index is at most 144 blocks behind the tip
    "best_block_height" : n     (numeric) The block height to which the index is synced
  }
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			name := p.String("index_name")
			if err := p.Err(); err != nil {
				return nil, err
			}
			res := map[string]IndexInfoResult{}
			for _, st := range m.Chain.IndexStatuses() {
				if name == "" || name == st.Name {
					res[st.Name] = IndexInfoResult{Synced: st.Synced, BestBlockHeight: st.BestHeight}
				}
			}
			return res, nil
		},
	}
}

// txIndexError turns a transaction index that is off or behind into Core's
// getrawtransaction errors, saying how far behind it is; nil for other errors.
func txIndexError(err error) *rpc.Error {
	var ie *blockchain.IndexError
	if !errors.As(err, &ie) {
		return nil
	}
	if ie.Disabled {
		return rpc.Errorf(rpc.CodeInvalidAddressOrKey, "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions.")
	}
	blocks := "blocks"
	if ie.Behind == 1 {
		blocks = "block"
	}
	return rpc.Errorf(rpc.CodeInvalidAddressOrKey, "No such mempool or blockchain transaction. Blockchain transactions are still in the process of being indexed (%s is %d %s behind). Use gettransaction for wallet transactions.", ie.Index, ie.Behind, blocks)
}
