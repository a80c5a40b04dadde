// Package rpc owns Quarry's JSON-RPC interface: the HTTP server the node exposes
// (JSON-RPC 1.0 and 2.0 requests and batches as Bitcoin Core answers them, HTTP Basic
// auth with the cookie file or a configured user/password, limits on body size and on
// requests in flight), the method registry that chain-specific methods are added to
// (with parameter binding, typed parameter getters, Core's error codes, the built-in
// help method and the Markdown reference generated from it), Prometheus counters of
// calls, and the client the wallet and the testnet harness use to call a node.
//
// The framework (server, registry, params, client) knows nothing about blocks or
// transactions. The Bitcoin Core-compatible methods are in the files named after
// their backend: RegisterChainMethods (chainmethods*.go) and RegisterMiningMethods
// (miningmethods.go) take the parts of the node they read, so the node wires them
// and tests drive them against a real chain without a node.
//
// A method is declared once, with its parameters, and the declaration drives binding,
// validation, help text and docs/rpc.md alike:
//
//	reg := rpc.NewRegistry()
//	reg.Register(rpc.Method{
//		Name:     "getblockhash",
//		Category: "blockchain",
//		Summary:  "Returns the hash of the block at the given height in the best chain.",
//		Params: []rpc.Param{
//			{Name: "height", Type: rpc.TypeNumber, Required: true, Description: "The height index"},
//		},
//		Result: `"hex"    (string) The block hash`,
//		Handler: func(ctx context.Context, p *rpc.Params) (any, error) {
//			height := p.Int("height")
//			if err := p.Err(); err != nil {
//				return nil, err
//			}
//			...
//		},
//	})
//	srv, err := rpc.NewServer(reg, rpc.Config{Addr: "127.0.0.1:18543", CookiePath: cookie})
//	err = srv.Start(ctx)
//	...
//	err = srv.Stop(ctx)
package rpc
