// Package indexers holds the optional indexes of the main chain a node can
// run, each plugged into the chain through blockchain.Indexer: the
// transaction index (txid -> block, Core's -txindex) and the address index
// (key hash -> unspent outputs and transaction history, as bitcore's). The
// chain applies its blocks to each in the background, so an index never slows
// block connection; a query waits briefly for an index that is a block or two
// behind, and fails with a *blockchain.IndexError for one that is off (a nil
// index) or still catching up.
package indexers
