// Package rpc is Quarry's JSON-RPC framework: the HTTP server the node exposes
// (JSON-RPC 1.0 and 2.0 requests and batches as Bitcoin Core answers them, in
// jsonrpc.go; HTTP Basic auth with the cookie file of cookie.go or a configured
// user/password; limits on body size and on requests in flight), the method
// registry (registry.go) with parameter binding and typed getters (params.go),
// Core's error codes (errors.go), the built-in help method and the Markdown
// reference generated from it (reference.go, which writes docs/rpc.md), and
// Prometheus counters of calls (metrics.go).
//
// The framework knows nothing about blocks, transactions or peers. Two
// packages sit on it:
//
//   - rpc/methods holds the node's Bitcoin Core-compatible methods, reaching
//     the node through the small interfaces of rpc/methods/interface.go;
//   - rpc/rpcclient is the client the wallet and the testnet harness call a
//     node with, which links none of the node.
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
