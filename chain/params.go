package chain

import (
	"fmt"
	"math/big"

	"github.com/quarrychain/quarry/pow"
)

// Timestamp rules shared by every network.
const (
	// MedianTimeBlocks is how many blocks the median time past is taken over.
	MedianTimeBlocks = 11
	// MaxFutureBlockTime is how far ahead of the node's clock a block time may be.
	MaxFutureBlockTime = 2 * 60 * 60
	// MaxTimeWarp is how far the first block of a difficulty window may be dated
	// before its parent. Without a bound an attacker could date window ends late
	// and window starts early to shrink the measured timespan and the difficulty
	// with it (the time-warp attack); BIP94 uses the same grace.
	MaxTimeWarp = 2 * 60 * 60
)

// Params are the consensus and network parameters of one Quarry network.
type Params struct {
	Name string

	GenesisBlock *Block
	GenesisHash  Hash

	// PowLimit is the easiest target a block may have; PowLimitBits encodes it.
	PowLimit     *big.Int
	PowLimitBits uint32
	// TargetSpacing is the intended time between blocks, in seconds.
	TargetSpacing int64
	// RetargetInterval is the number of blocks between difficulty changes; zero
	// means the difficulty never changes (regtest).
	RetargetInterval int32

	SubsidyHalvingInterval int32
	CoinbaseMaturity       int32

	// MinChainWork is the least cumulative work of a chain the node takes
	// for the network's: below it the node stays in initial block download,
	// and headers of a branch are not stored until it has proved this much
	// (and not much less than the tip's). Bitcoin Core raises its value with
	// each release; Quarry's main network has no history yet to commit to.
	MinChainWork *big.Int

	AddressHRP     string
	DefaultRPCPort int
	DefaultP2PPort int

	// AssumeValid is the default of --assumevalid: a block known to have a
	// valid history, whose ancestors' signatures need not be checked again
	// (Core's defaultAssumeValid). Zero: none.
	AssumeValid Hash
	// MinimumChainWork is the work the best header must have before
	// assumevalid applies (Core's nMinimumChainWork); nil: any.
	MinimumChainWork *big.Int
	// AssumeValidBuried is how much work, in seconds of blocks at the tip's
	// difficulty, must be built on a block before its signatures may be
	// skipped: Core's two weeks, so that miners cannot make users take an
	// invalid block by telling them to set assumevalid to it.
	AssumeValidBuried int64

	// PruneAfterHeight is the tip height automatic pruning and
	// pruneblockchain wait for (Core's nPruneAfterHeight): on a young chain
	// the blocks are few and small, so deleting them frees little while
	// they are what new nodes need to catch up.
	PruneAfterHeight int32
}

// TargetTimespan is the intended duration of one difficulty window, in seconds.
func (p *Params) TargetTimespan() int64 { return p.TargetSpacing * int64(p.RetargetInterval) }

// IsRetargetHeight reports whether a block at height opens a new difficulty window.
func (p *Params) IsRetargetHeight(height int32) bool {
	return p.RetargetInterval > 0 && height > 0 && height%p.RetargetInterval == 0
}

// genesisMessage goes in every genesis coinbase, after the network's name.
const genesisMessage = "Quarry genesis, 24 Nov 2026"

// genesis time: 2026-11-24T00:00:00Z. Main's genesis is a second later: no
// nonce met its target at this time.
const genesisTime = 1795478400

func newParams(p Params, time, nonce uint32, wantHash string) *Params {
	p.PowLimit = mustTarget(p.PowLimitBits)
	coinbase := NewCoinbase(0, 0, []byte(p.Name+": "+genesisMessage), p.Subsidy(0), [PubKeyHashSize]byte{})
	p.GenesisBlock = &Block{
		Header: Header{
			Version: 1,
			Time:    time,
			Bits:    p.PowLimitBits,
			Nonce:   nonce,
		},
		Txs: []*Tx{coinbase},
	}
	p.GenesisBlock.Header.MerkleRoot = MerkleRoot(p.GenesisBlock.WitnessHashes())
	p.GenesisHash = p.GenesisBlock.Hash()
	if p.GenesisHash.String() != wantHash {
		panic(fmt.Sprintf("%s genesis hash is %s, hard-coded %s", p.Name, p.GenesisHash, wantHash))
	}
	return &p
}

func mustTarget(bits uint32) *big.Int {
	t, err := pow.Target(bits, nil)
	if err != nil {
		panic(err)
	}
	return t
}

// The three networks. Their genesis blocks are mined once; the hashes are
// hard-coded so a change to any encoding or hashing rule shows at start.
var (
	MainParams = newParams(Params{
		Name:                   "main",
		MinChainWork:           new(big.Int),
		PowLimitBits:           0x1d00ffff,
		TargetSpacing:          600,
		RetargetInterval:       2016,
		SubsidyHalvingInterval: 210_000,
		CoinbaseMaturity:       100,
		AddressHRP:             "qry",
		DefaultRPCPort:         8432,
		DefaultP2PPort:         8433,
		// No block is old enough yet for a default AssumeValid; like Core's, it
		// is set to a recent block at each release.
		AssumeValidBuried: 14 * 24 * 60 * 60,
		// Core's: same block size and spacing, about two years of blocks.
		PruneAfterHeight: 100_000,
	}, genesisTime+1, mainGenesisNonce, mainGenesisHash)

	// TestnetParams start at about 2^22 hashes a block, well under a second on
	// one core, and retarget every 30 blocks towards 10 seconds.
	TestnetParams = newParams(Params{
		Name:                   "testnet",
		MinChainWork:           new(big.Int),
		PowLimitBits:           0x1e03ffff,
		TargetSpacing:          10,
		RetargetInterval:       30,
		SubsidyHalvingInterval: 210_000,
		CoinbaseMaturity:       10,
		AddressHRP:             "tqry",
		DefaultRPCPort:         18432,
		DefaultP2PPort:         18433,
		// Core's testnet value: under three hours of blocks at 10 s, so a
		// local testnet reaches pruning in an afternoon.
		PruneAfterHeight: 1_000,
	}, genesisTime, testnetGenesisNonce, testnetGenesisHash)

	RegtestParams = newParams(Params{
		Name:                   "regtest",
		MinChainWork:           new(big.Int),
		PowLimitBits:           0x207fffff,
		TargetSpacing:          600,
		SubsidyHalvingInterval: 150,
		CoinbaseMaturity:       100,
		AddressHRP:             "rqry",
		DefaultRPCPort:         18543,
		DefaultP2PPort:         18544,
		// Not Core's 1,000: tests prune chains of a few hundred blocks
		// (every block past this and the 288 always kept costs each pruning
		// test its connect time, Core's value would triple it). 300 still
		// holds back the chains of 289 to 300 blocks that could otherwise
		// prune, so tests cross the threshold both ways.
		PruneAfterHeight: 300,
	}, genesisTime, regtestGenesisNonce, regtestGenesisHash)
)

// Mined genesis nonces and the hashes they give.
const (
	mainGenesisNonce    = 272535341
	mainGenesisHash     = "00000000924694675b92412e77be5792021ba398f65c860e119c43847cba6d37"
	testnetGenesisNonce = 5769752
	testnetGenesisHash  = "000002aa511f0d55f86ef481901bd957a2c7b5943608c8ea9012d9cee798e3cb"
	regtestGenesisNonce = 1
	regtestGenesisHash  = "585a7c9b7b20aa1e3c1230fb286cd64d4360e66f8f7b65e7e51e0c7b938e11ab"
)

// ParamsByName returns the parameters of the network called name.
func ParamsByName(name string) (*Params, error) {
	for _, p := range []*Params{MainParams, TestnetParams, RegtestParams} {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("unknown network %q: want main, testnet or regtest", name)
}
