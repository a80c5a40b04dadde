// Package web owns the node's read-only HTTP face beside JSON-RPC, served on
// --web-listen: Bitcoin Core's REST interface under /rest/ (Core's paths, JSON
// shapes, status codes and plain-text errors, plus /rest/address/<addr>.json),
// a Server-Sent Events stream at /events (block, tx and reorg events, bounded
// per client so a slow reader is dropped and never holds up the chain), the
// --blocknotify command runner, and the explorer: server-rendered pages
// (html/template, SVG charts drawn on the server, assets embedded in the
// binary) for the dashboard, blocks, transactions, addresses, the mempool,
// peers and search.
//
// The package reaches the node only through the small interfaces in
// backend.go, which the node's own types satisfy; Core's JSON shapes come from
// the JSON-RPC methods themselves (through Caller), so REST answers exactly
// what getblock, getrawtransaction and the others answer. Every handler is
// bounded: lists are paged, work per request is capped, each request has a
// deadline, and what depends only on the tip is cached per tip. Nothing here
// changes the node or reveals a secret.
package web
