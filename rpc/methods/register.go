package methods

import (
	"sync/atomic"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/mempool/fees"
	"github.com/quarrychain/quarry/rpc"
)

// ChainBackend is what the blockchain, raw transaction, util, address index and
// control methods read and call. Only Chain is required; the rest lets the node
// add what the chain alone does not know (peers, the mempool, its own
// lifetime). Mempool, mining and network methods are registered by their own
// Register functions, with their own backends.
type ChainBackend struct {
	Chain *blockchain.Chain
	// TxIndex and AddrIndex are the chain's indexes, nil when off: the
	// methods that need one then fail with Core's error naming it.
	TxIndex   *indexers.TxIndex
	AddrIndex *indexers.AddrIndex

	// ChainDir is the chain's Badger directory (<datadir>/<network>/chain);
	// getblockchaininfo's size_on_disk is the disk space its files take. Empty
	// gives 0.
	ChainDir string

	// StartTime is when the node started, for uptime. Zero means the time
	// RegisterChain was called.
	StartTime time.Time

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Sync reports how far the node is with catching up (headers, initial block
	// download, verification progress), which the p2p sync knows better than the
	// chain. Nil means DefaultSyncState.
	Sync func() SyncState

	// SubmitBlock hands a block from submitblock to the chain. The node wraps
	// Chain.ProcessBlock (the default when nil) to also relay accepted blocks to
	// its peers.
	SubmitBlock func(*chain.Block) (blockchain.ProcessResult, error)

	// Stop asks the node to shut down and returns at once; the node's main loop
	// then stops the RPC server, which a handler cannot do itself. Nil makes
	// stop fail.
	Stop func()

	// Mempool is consulted by getrawtransaction and by gettxout with
	// include_mempool; nil means an empty mempool.
	Mempool Mempool
}

// emptyMempool is the mempool of a backend without one.
type emptyMempool struct{}

func (emptyMempool) Get(chain.Hash) (*chain.Tx, bool)            { return nil, false }
func (emptyMempool) HaveSpent(chain.OutPoint) (chain.Hash, bool) { return chain.Hash{}, false }

// SyncState says how far the node is with catching up with the network.
type SyncState struct {
	// Headers is the height of the best valid header known.
	Headers int32
	// InitialBlockDownload is true while the node is catching up.
	InitialBlockDownload bool
	// VerificationProgress estimates the share of the chain verified, 0 to 1.
	VerificationProgress float64
}

// MaxTipAge is how old the tip may be before DefaultSyncState says the node is
// in initial block download; Core's default.
const MaxTipAge = 24 * time.Hour

// DefaultSyncState derives the sync state from the chain alone: catching up
// while headers run ahead of blocks or the tip is older than MaxTipAge, with
// progress measured in blocks over headers.
func DefaultSyncState(c *blockchain.Chain, now time.Time) SyncState {
	best := c.Best()
	st := SyncState{Headers: max(c.BestHeaderHeight(), best.Height), VerificationProgress: 1}
	if st.Headers > 0 {
		st.VerificationProgress = float64(best.Height) / float64(st.Headers)
	}
	st.InitialBlockDownload = st.Headers > best.Height || time.Unix(best.Time, 0).Before(now.Add(-MaxTipAge))
	return st
}

// chainMethods holds the backend the handlers share.
type chainMethods struct {
	ChainBackend
	params *chain.Params
}

// RegisterChain registers the methods that read the block chain and the UTXO
// set, decode transactions and addresses, query the address index, accept
// blocks (submitblock), estimate the network's hash rate (getnetworkhashps),
// and report or end the node's run (uptime, stop). It panics without b.Chain, a wiring bug that the first test
// finds.
func RegisterChain(reg *rpc.Registry, b ChainBackend) {
	if b.Chain == nil {
		panic("methods: RegisterChain needs a chain")
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	if b.StartTime.IsZero() {
		b.StartTime = b.Now()
	}
	if b.Sync == nil {
		c, now := b.Chain, b.Now
		b.Sync = func() SyncState { return DefaultSyncState(c, now()) }
	}
	if b.SubmitBlock == nil {
		b.SubmitBlock = b.Chain.ProcessBlock
	}
	if b.Mempool == nil {
		b.Mempool = emptyMempool{}
	}
	m := &chainMethods{ChainBackend: b, params: b.Chain.Params()}
	reg.Register(
		m.getblockchaininfo(), m.getblockcount(), m.getbestblockhash(), m.getblockhash(),
		m.getblock(), m.getblockheader(), m.getchaintips(), m.getdifficulty(),
		m.gettxout(), m.gettxoutsetinfo(),
		m.getrawtransaction(), m.decoderawtransaction(), m.submitblock(), m.getnetworkhashps(),
		m.validateaddress(), m.getaddressbalance(), m.getaddressutxos(), m.getaddresstxids(),
		m.uptime(), m.stop(), m.getindexinfo(), m.pruneblockchain(),
	)
}

// MempoolBackend is what the mempool methods (sendrawtransaction,
// testmempoolaccept, getrawmempool, getmempoolentry, getmempoolinfo) and
// getblocktemplate need from the node. Pool and Chain are required; the
// pool must be built on that chain.
type MempoolBackend struct {
	Pool  TxPool
	Chain *blockchain.Chain

	// Relay publishes a transaction to the node's peers. sendrawtransaction
	// calls it with the transaction it accepted, the orphans that entered the
	// pool after it, and, as Core does, a transaction submitted again while
	// it waits in the pool, so that a resubmission re-announces it. Nil
	// relays nothing.
	Relay func(*chain.Tx)

	// IsInitialBlockDownload reports whether the node is still catching up;
	// getblocktemplate refuses to serve a template then, so that miners do
	// not work on a stale tip. Nil means DefaultSyncState's answer. As in
	// Core, only main checks it: test networks mine from any state.
	IsInitialBlockDownload func() bool

	// PeerCount is the number of connected peers; on main, getblocktemplate
	// refuses to serve a template without any, as Core does, since a block
	// mined in isolation is likely to be orphaned. Nil skips the check.
	PeerCount func() int

	// Fees answers estimatesmartfee and estimaterawfee; nil leaves them out.
	Fees *fees.Estimator
}

// Long polling waits this long before the first look at the pool, then looks
// again this often, as Core does: a new tip ends the wait at once, pool
// changes only when one of these checks sees them.
const (
	longPollFirstCheck = time.Minute
	longPollRecheck    = 10 * time.Second
)

// mempoolMethods holds what the handlers share.
type mempoolMethods struct {
	MempoolBackend
	params *chain.Params
	// updates counts pool changes, Core's nTransactionsUpdated: the part of
	// a longpollid that says which pool contents a template was built from.
	updates atomic.Uint64
	// The long-polling intervals; tests shorten them.
	firstCheck, recheck time.Duration
}

// RegisterMempool registers sendrawtransaction, testmempoolaccept,
// getrawmempool, getmempoolentry, getmempoolinfo, getblocktemplate,
// getmempoolancestors, getmempooldescendants, getaddressmempool, the raw
// transaction builders (createrawtransaction, signrawtransactionwithkey,
// combinerawtransaction) and, with b.Fees, the fee estimates. It
// subscribes to the pool's changes for getblocktemplate's long polling until
// unsubscribe is called, which the node does when it stops serving RPC. It
// panics without b.Pool or b.Chain, a wiring bug the first test finds.
func RegisterMempool(reg *rpc.Registry, b MempoolBackend) (unsubscribe func()) {
	return registerMempool(reg, b, longPollFirstCheck, longPollRecheck)
}

func registerMempool(reg *rpc.Registry, b MempoolBackend, firstCheck, recheck time.Duration) (unsubscribe func()) {
	if b.Pool == nil || b.Chain == nil {
		panic("methods: RegisterMempool needs a pool and a chain")
	}
	if b.IsInitialBlockDownload == nil {
		c := b.Chain
		b.IsInitialBlockDownload = func() bool { return DefaultSyncState(c, time.Now()).InitialBlockDownload }
	}
	m := &mempoolMethods{MempoolBackend: b, params: b.Chain.Params(), firstCheck: firstCheck, recheck: recheck}
	unsubscribe = b.Pool.Subscribe(func(mempool.Event) { m.updates.Add(1) })
	reg.Register(
		m.sendrawtransaction(), m.testmempoolaccept(),
		m.getrawmempool(), m.getmempoolentry(), m.getmempoolinfo(),
		m.getblocktemplate(),
		mempoolFamily(b.Pool.Ancestors, "getmempoolancestors", "in-mempool ancestors", "ancestor"),
		mempoolFamily(b.Pool.Descendants, "getmempooldescendants", "in-mempool descendants", "descendant"),
		m.getaddressmempool(),
		m.createrawtransaction(), m.signrawtransactionwithkey(), m.combinerawtransaction(),
	)
	if b.Fees != nil {
		reg.Register(m.estimatesmartfee(), m.estimaterawfee())
	}
	return unsubscribe
}

// MiningBackend is what the mining and generating methods need from the
// node. Chain and Miner are required.
type MiningBackend struct {
	Chain *blockchain.Chain
	Miner Miner
	// Blocks builds generateblock's blocks; nil leaves generateblock out.
	Blocks BlockGenerator
	// Pool is the mempool whose size getmininginfo reports; nil means empty.
	Pool TxPool
}

// miningMethods holds what the mining handlers share.
type miningMethods struct {
	MiningBackend
	chain *chainMethods // for the network hash rate
}

// RegisterMining registers getmininginfo, generatetoaddress, btcd's
// setgenerate and getgenerate, setminingaddress and, with b.Blocks,
// generateblock. It panics
// without b.Chain or b.Miner, a wiring bug the first test finds.
func RegisterMining(reg *rpc.Registry, b MiningBackend) {
	if b.Chain == nil || b.Miner == nil {
		panic("methods: RegisterMining needs a chain and a miner")
	}
	m := &miningMethods{MiningBackend: b, chain: &chainMethods{ChainBackend: ChainBackend{Chain: b.Chain}, params: b.Chain.Params()}}
	reg.Register(m.getmininginfo(), m.generatetoaddress(), m.setgenerate(), m.getgenerate(), m.setminingaddress())
	if b.Blocks != nil {
		reg.Register(m.generateblock())
	}
}

// NetworkBackend is what the network methods need from the node.
type NetworkBackend struct {
	Net Network
	// RelayFee is the mempool's minimum relay fee rate in base units per byte.
	RelayFee uint64
}

// networkMethods holds what the network handlers share.
type networkMethods struct {
	NetworkBackend
}

// RegisterNetwork registers the peer and ban methods. It panics without
// b.Net, a wiring bug the first test finds.
func RegisterNetwork(reg *rpc.Registry, b NetworkBackend) {
	if b.Net == nil {
		panic("methods: RegisterNetwork needs a network")
	}
	m := &networkMethods{NetworkBackend: b}
	reg.Register(
		m.getconnectioncount(), m.getpeerinfo(), m.getnetworkinfo(),
		m.addnode(), m.disconnectnode(),
		m.setban(), m.listbanned(), m.clearbanned(),
	)
}
