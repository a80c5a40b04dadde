// Package chain owns Quarry's consensus: the block and transaction types and their
// byte encoding, hashing (block hash, txid, whole-transaction hash, merkle root,
// signature hash), addresses, the parameters of each network with its genesis
// block, and the rules every block and transaction must follow. It links no
// database, so the wallet and anything else that only needs the formats stays
// small; the chain state that applies these rules to the stored chain is
// package chain/blockchain.
//
// The rules come in two layers, as in btcd and dcrd. Context-free ("sanity") rules
// need nothing but the block or transaction itself and live in sanity.go; they are
// cheap enough to run on anything a peer sends before it is stored. Rules that need
// context live in validate.go and take it as arguments: a header's parent
// (CheckHeaderContext: difficulty, median time, future time, time warp), a
// block's height (CheckBlockContext: coinbase height and lock time, finality),
// the outputs a transaction spends (CheckTxInputs, VerifyTxSignatures). Every
// rule failure is a *RuleError whose Kind identifies the rule, so callers test
// it with errors.Is(err, chain.ErrBadMerkleRoot).
//
// errors.go holds the one table of rule failures: each ErrorKind's row (Rule) gives
// Bitcoin Core's reject reason and whose fault a failure is, for a loose transaction
// or header (TxFault) and for a block (BlockFault): the sender's, nobody's until time
// passes, or only this node's policy. The mempool and RPC take reject reasons from it,
// and p2p decides from it whether to penalise the peer that sent a block or
// transaction.
package chain
