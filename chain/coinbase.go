package chain

import (
	"encoding/binary"
	"fmt"
)

// Coinbase data layout: the block height (4 bytes, little-endian; as BIP34 makes
// every coinbase, and so every coinbase txid, unique), the extra nonce the miner
// rolls when the header nonces run out (8 bytes), then free bytes.
const (
	coinbaseHeightLen     = 4
	coinbaseExtraNonceLen = 8
	// CoinbaseExtraNonceOffset is where the extra nonce starts in coinbase data.
	CoinbaseExtraNonceOffset = coinbaseHeightLen
	// MinCoinbaseDataLen and MaxCoinbaseDataLen bound coinbase data, as Bitcoin
	// bounds its coinbase script.
	MinCoinbaseDataLen = 2
	MaxCoinbaseDataLen = 100
)

// CoinbaseData builds coinbase data for a block at height.
func CoinbaseData(height int32, extraNonce uint64, free []byte) []byte {
	d := make([]byte, coinbaseHeightLen+coinbaseExtraNonceLen, coinbaseHeightLen+coinbaseExtraNonceLen+len(free))
	binary.LittleEndian.PutUint32(d, uint32(height))
	binary.LittleEndian.PutUint64(d[CoinbaseExtraNonceOffset:], extraNonce)
	return append(d, free...)
}

// NewCoinbase builds a coinbase transaction for height paying value to pkh.
func NewCoinbase(height int32, extraNonce uint64, free []byte, value uint64, pkh [PubKeyHashSize]byte) *Tx {
	return &Tx{
		Version: 1,
		Inputs: []TxIn{{
			PrevOut: NullOutPoint,
			Witness: [][]byte{CoinbaseData(height, extraNonce, free)},
		}},
		Outputs:  []TxOut{{Value: value, PubKeyHash: pkh}},
		LockTime: CoinbaseLockTime(height),
	}
}

// CoinbaseLockTime is the lock time a coinbase at height must carry: height-1,
// as BIP54 proposes for Bitcoin. The coinbase data, which also holds the height,
// is a witness and so not part of the txid; without this rule two coinbases
// paying the same amount to the same key would share a txid and one would
// overwrite the other in the UTXO set (Bitcoin's BIP30 problem). height-1 is
// always below the height, so the coinbase is final by the usual rule.
func CoinbaseLockTime(height int32) uint32 { return uint32(max(height-1, 0)) }

// CoinbaseHeight reads the height a coinbase commits to.
func CoinbaseHeight(coinbase *Tx) (int32, error) {
	if !coinbase.IsCoinbase() || len(coinbase.Inputs[0].Witness) != 1 {
		return 0, NewRuleError(ErrBadCoinbaseWitness, "coinbase witness must be one item of coinbase data")
	}
	data := coinbase.Inputs[0].Witness[0]
	if len(data) < coinbaseHeightLen {
		return 0, NewRuleError(ErrBadCoinbaseHeight, fmt.Sprintf("coinbase data of %d bytes cannot hold the height", len(data)))
	}
	return int32(binary.LittleEndian.Uint32(data)), nil
}

// Subsidy is the new money a block at height may create: 50 QRY, halved every
// SubsidyHalvingInterval blocks, zero after 64 halvings.
func (p *Params) Subsidy(height int32) uint64 {
	halvings := height / p.SubsidyHalvingInterval
	if halvings >= 64 {
		return 0
	}
	return (50 * Coin) >> uint(halvings)
}
