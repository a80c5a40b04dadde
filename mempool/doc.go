// Package mempool holds the valid transactions that are not in a block yet:
// it decides what the node relays and what its miner includes, following
// Bitcoin Core's policy wherever Quarry has the same concept.
//
// A transaction enters with Pool.Accept. It must pass the consensus rules
// against the tip's UTXO set and the pool (chains of unconfirmed transactions
// are allowed, up to 25 ancestors and 25 descendants) for a block at the next
// height, be final there, be at most MaxStandardTxSize bytes and pay at least
// the minimum relay fee rate. A refusal is a *RejectError carrying the reason
// Core reports (a broken consensus rule's from chain's rule table) and, for
// such a rule, the *chain.RuleError, whose chain.TxFault tells whether a peer
// deserves a penalty for it. Signatures are verified into the chain's signature
// cache, so a block carrying pool transactions connects without verifying
// them again, and outside the pool's lock, so that submitters on several
// cores verify in parallel.
//
// A transaction spending an output another pool transaction spends replaces
// it under Core's replace-by-fee rules (full RBF: no signalling needed). When
// the pool outgrows its memory bound, the packages with the lowest descendant
// fee rate leave and the minimum fee rate rises for a while. Transactions
// expire after two weeks. Transactions from peers whose parents are unknown
// wait in a bounded orphan pool until the parents arrive.
//
// The pool follows the chain through its events: a connected block takes out
// what it mined and what conflicts with it; the transactions of disconnected
// blocks come back, parents first, once the reorganisation is done.
//
// BlockTemplate fills a block by ancestor fee rate (child pays for parent),
// Save and Load keep the pool across restarts, and Subscribe reports every
// change, in order, for relay.
package mempool
