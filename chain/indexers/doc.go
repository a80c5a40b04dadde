// Package indexers holds the optional indexes of the main chain a node can
// run, each plugged into the chain through blockchain.Indexer: the
// transaction index (txid -> block, Core's -txindex) and the address index
// (key hash -> transaction history, from which its unspent outputs are
// read, as electrs and esplora keep it; queried as bitcore's). The
// chain applies its blocks to each in the background, so an index never slows
// block connection, and keeps their records in a database of their own. A
// query waits briefly for an index up to a day of blocks (144) behind, and
// fails with a *blockchain.IndexError (matching
// blockchain.ErrIndexUnavailable, never blockchain.ErrNotFound) for one that
// is off (a nil index) or further behind.
package indexers
