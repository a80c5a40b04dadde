// Package p2p connects a Quarry node to its peers over libp2p: it gossips
// blocks and transactions, catches up with peers through a request/response
// sync protocol, finds and keeps peers, and bans those that misbehave.
//
// # Host
//
// A libp2p host with a persistent Ed25519 identity (LoadIdentity), TCP and
// QUIC transports, a connection manager that trims to a low water mark while
// sparing --connect peers, a resource manager with per-peer stream and memory
// caps, and a connection gater that refuses banned peers and peers of another
// network. A node's addresses are full multiaddrs ending in /p2p/<peer id>.
//
// # Gossip
//
// Gossipsub topics /quarry/<network>/blocks/1 and /quarry/<network>/txs/1
// carry unsigned, authorless messages whose id is the SHA-256 of the whole
// message. Topic validators decide: a block is decoded, checked for sanity
// (proof of work included) and handed to chain.ProcessBlock before it is
// accepted, so only blocks valid in their chain are relayed; a transaction
// goes to the TxPool. Invalid data is rejected (gossipsub's scoring punishes
// the sender) and its sender banned; what is merely not useful (known,
// orphaned, refused by mempool policy) is ignored without penalty. Blocks and
// transactions that do not arrive by gossip are published with PublishBlock
// and PublishTx.
//
// # Sync
//
// The stream protocol /quarry/<network>/sync/2 carries one request and its
// answer per stream, in frames of a uvarint length, a type byte and a
// payload, each type with its own size limit:
//
//	status      network, genesis hash, tip hash, height, chain work,
//	            services; both ways
//	getheaders  block locator and stop hash   -> headers (up to 2,000)
//	getblocks   up to 16 block hashes         -> one block or notfound each
//
// /quarry/<network>/sync/1, which nodes built before the services speak, is
// the same but for the status, which ends after the chain work: such a node
// refuses more, and bans the sender. A node serves both and opens each
// stream offering both, version 2 first; libp2p takes the first the peer
// speaks. A version 1 status without services is a full node's (it cannot
// prune); one with them, from a node built between the services and
// version 2, is taken at its word. A peer on version 1 asking a pruned node
// below its window is not dropped (it cannot know of it): the blocks there
// are answered notfound. getpeerinfo shows the version each peer speaks.
//
// Every new connection starts with a status exchange; a peer on another
// network or genesis is dropped and refused for a day. Peers are asked for
// their status again periodically, so a node that missed a block's gossip
// still learns of it. When a peer has more work, the node fetches headers
// from the peer claiming the most work, stores them with chain.AcceptHeaders,
// and fetches the bodies from every peer that has them, at most 128 blocks
// past its tip, dropping peers that stall (one whose next block holds up the
// download, the queue full or another peer's whole answer waiting behind it,
// after 2 s, a timeout that doubles with each such drop and shrinks with each
// block connected, as Core's; or whose whole answer holds the others' up for
// StallTimeout). The bodies are read off the streams as they come and decoded and handed to the chain by one
// processor, in the order they were asked for (parents first), while the
// next are read; at most 128, of at most SyncQueueBytes (32 MiB) encoded,
// wait for it, whatever the number of peers and the size of their blocks,
// and those of a peer banned meanwhile are dropped. A claim is checked against what the peer
// delivers: one whose headers bring no new work is not asked again for a
// while, doubling each time. Headers of a branch with too little work to
// store are held in memory until it proves enough (Core's presync), and the
// queue of wanted bodies is bounded.
//
// A node in prune mode advertises NodeNetworkLimited alone, as Core's (a
// full node both): it serves the blocks of its last NetworkLimitedBlocks
// (288, and two more for races) and drops a peer asking for a deeper one
// by the tip it last told that peer (deeper only by the tip since reached,
// the block is answered notfound).
// Bodies are asked of full peers first, and of a limited peer only within
// its window.
//
// # Bans
//
// A peer that sends a consensus-invalid block, header or transaction, or
// breaks the sync protocol (malformed, oversized or unsolicited messages) is
// disconnected and refused for 24 hours. Such automatic bans are kept in
// memory only, the oldest forgotten past 10,000 (identities cost nothing, so
// each ban must cost next to nothing too); bans an operator sets with SetBan
// are kept in a JSON file.
//
// # Wiring
//
// The daemon opens the chain, builds a Node with New, calls Start, and
// Close before closing the chain. It processes blocks it mines or receives
// over RPC with the chain and then calls PublishBlock; it puts transactions
// from RPC into the mempool and then calls PublishTx. RPC reads Peers,
// LocalAddrs, ConnectionCount and SyncProgress, and manages peers with
// AddPeer, RemovePeer, DialOnce, DisconnectNode, SetBan, Unban, ListBanned and ClearBanned.
package p2p
