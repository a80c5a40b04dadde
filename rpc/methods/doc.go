// Package methods holds the node's JSON-RPC methods, the Bitcoin Core-compatible
// ones and Quarry's address index queries, declared on the rpc framework's
// registry. Each method is one function, in the file of its Core help category:
// blockchain.go, mining.go (getblocktemplate, submitblock, getnetworkhashps,
// getmininginfo), generating.go, network.go, rawtransactions.go, util.go,
// control.go, and addressindex.go for the address index; results.go holds the
// result types Go callers decode into.
//
// The methods read the chain (*blockchain.Chain) and its indexes
// (*indexers.TxIndex, *indexers.AddrIndex, nil when off) directly and reach
// the rest of the node only through the small interfaces of interface.go
// (Mempool, TxPool, Miner, BlockGenerator, Network), which the node's parts
// satisfy and tests fake. The node wires them with the Register functions of
// register.go, one per backend:
//
//	reg := rpc.NewRegistry()
//	methods.RegisterChain(reg, methods.ChainBackend{Chain: c, TxIndex: txIndex, AddrIndex: addrIndex, Mempool: pool})
//	unsubscribe := methods.RegisterMempool(reg, methods.MempoolBackend{Pool: pool, Chain: c})
//	methods.RegisterMining(reg, methods.MiningBackend{Chain: c, Miner: m})
//	methods.RegisterNetwork(reg, methods.NetworkBackend{Net: node})
//
// docs/rpc.md is generated from the registry these build (go test
// ./rpc/methods -run TestRPCDocs -update-docs).
package methods
