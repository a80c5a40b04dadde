package rpcclient

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// testRegistry offers the methods the client tests call: echo binds every kind
// of parameter, fail and plainerr fail with and without a code, note takes
// nothing and returns nothing.
func testRegistry() *rpc.Registry {
	reg := rpc.NewRegistry()
	nothing := func(context.Context, *rpc.Params) (any, error) { return nil, nil }
	failWith := func(err error) func(context.Context, *rpc.Params) (any, error) {
		return func(context.Context, *rpc.Params) (any, error) { return nil, err }
	}
	reg.Register(
		rpc.Method{
			Name: "echo", Category: "test", Summary: "Returns its parameters.",
			Params: []rpc.Param{
				{Name: "text", Type: rpc.TypeString, Required: true, Description: "Some text"},
				{Name: "n", Type: rpc.TypeNumber, Default: "7", Description: "A number"},
				{Name: "flag", Type: rpc.TypeBool, Description: "A flag"},
			},
			Result: `{ "text": "str", "n": n, "flag": true|false }`,
			Handler: func(_ context.Context, p *rpc.Params) (any, error) {
				return echoResult{Text: p.String("text"), N: int(p.Int("n")), Flag: p.Bool("flag")}, p.Err()
			},
		},
		rpc.Method{Name: "fail", Category: "test", Summary: "Fails with -8.", Result: "nothing",
			Handler: failWith(fmt.Errorf("wrapped: %w", rpc.Errorf(rpc.CodeInvalidParameter, "Block height out of range")))},
		rpc.Method{Name: "plainerr", Category: "test", Summary: "Fails with a plain error.", Result: "nothing",
			Handler: failWith(errors.New("boom"))},
		rpc.Method{Name: "note", Category: "test", Summary: "Does nothing.", Result: "null", Handler: nothing},
	)
	return reg
}

// testServer is a running server and what a client needs to reach it.
type testServer struct {
	srv      *rpc.Server
	url      string
	cookie   string
	password string // the cookie's
}

// startServer starts a server of reg as rpctest.StartServer does and reads the
// cookie it wrote.
func startServer(t *testing.T, reg *rpc.Registry, cfg rpc.Config) *testServer {
	t.Helper()
	srv, cookie := rpctest.StartServer(t, reg, cfg)
	_, password, err := rpc.ReadCookie(cookie)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{srv: srv, url: "http://" + srv.Addr().String(), cookie: cookie, password: password}
}
