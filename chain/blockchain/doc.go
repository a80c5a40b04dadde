// Package blockchain owns the node's chain state: the Badger store, the index
// of every known header, the main chain, the UTXO set with its in-memory cache,
// and what moves them: ProcessBlock (store a block, connect the branch with the
// most work, reorganise), header acceptance for headers-first sync with its
// anti-DoS guards, replay after a crash, reindexing, pruning and assumevalid.
//
// The consensus rules themselves live in package chain, free of any database;
// this package applies them with the context only it has (a block's parent,
// the outputs it spends). It follows the split of Bitcoin Core's validation.cpp
// and coins.cpp and of btcd's blockchain package.
//
// The UTXO cache (utxocache.go) is Core's CCoinsViewCache: a block's connect
// and disconnect change only memory, and the cache is written to Badger in one
// atomic batch when it outgrows --dbcache, every few minutes and at a clean
// stop. Block bodies and undo data are written as each block connects, so on
// start the blocks connected since the last flush are replayed (replay.go).
//
// Indexes hook in through the Indexer interface (indexer.go): each follows the
// main chain on its own goroutine with its own best-block marker, as Core's
// BaseIndex and btcd's indexers do, so a block connects without waiting for
// them. Package chain/indexers holds the transaction and address indexes.
package blockchain
