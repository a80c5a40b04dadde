package methods

import (
	"context"
	"time"

	"github.com/quarrychain/quarry/rpc"
)

func (m *chainMethods) uptime() rpc.Method {
	return rpc.Method{
		Name:     "uptime",
		Category: "control",
		Summary:  "Returns the total uptime of the server.",
		Result:   `n    (numeric) The number of seconds that the server has been running`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			return int64(m.Now().Sub(m.StartTime) / time.Second), nil
		},
	}
}

func (m *chainMethods) stop() rpc.Method {
	return rpc.Method{
		Name:     "stop",
		Category: "control",
		Summary:  "Request a graceful shutdown of the node.",
		Result:   `"str"    (string) A string with the content 'Quarry server stopping'`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			if m.Stop == nil {
				return nil, rpc.Errorf(rpc.CodeMisc, "This process cannot be stopped over RPC")
			}
			m.Stop()
			return "Quarry server stopping", nil
		},
	}
}
