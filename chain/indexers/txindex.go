package indexers

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// Index names, as getindexinfo shows them and their flags are spelt.
const (
	TxIndexName   = "txindex"
	AddrIndexName = "addrindex"
)

// prefixTx: txid -> block hash, position in the block.
const prefixTx = 't'

// txLocationSize is a transaction index record: block hash, position.
const txLocationSize = chain.HashSize + 4

// TxIndex maps each main-chain txid to its block and position (Core's
// -txindex). A nil *TxIndex, or one not given to blockchain.Open, is the
// index turned off: its queries fail with a disabled *blockchain.IndexError.
type TxIndex struct {
	r *blockchain.IndexReader
}

// NewTxIndex returns the transaction index, for blockchain.Config.Indexers.
func NewTxIndex() *TxIndex { return &TxIndex{} }

// Name implements blockchain.Indexer.
func (*TxIndex) Name() string { return TxIndexName }

var _ blockchain.Indexer = (*TxIndex)(nil)

// KeyPrefixes implements blockchain.Indexer.
func (*TxIndex) KeyPrefixes() []byte { return []byte{prefixTx} }

// Version implements blockchain.Indexer: the records are as they were before
// versions existed.
func (*TxIndex) Version() uint32 { return 0 }

// Init implements blockchain.Indexer.
func (x *TxIndex) Init(r *blockchain.IndexReader) { x.r = r }

func txKey(txid *chain.Hash) []byte { return append([]byte{prefixTx}, txid[:]...) }

// ConnectBlock implements blockchain.Indexer.
func (*TxIndex) ConnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	for i := range u.TxIDs {
		b.Set(txKey(&u.TxIDs[i]), binary.LittleEndian.AppendUint32(append(make([]byte, 0, txLocationSize), u.Hash[:]...), uint32(i)))
	}
	return nil
}

// DisconnectBlock implements blockchain.Indexer.
func (*TxIndex) DisconnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	for i := range u.TxIDs {
		b.Delete(txKey(&u.TxIDs[i]))
	}
	return nil
}

// TxLocation says where a confirmed transaction is.
type TxLocation struct {
	Block  chain.Hash
	Height int32
	Index  int
}

// Find returns a main-chain transaction and where it is; a
// *blockchain.IndexError if the index is off, or still catching up and
// without it; an error matching blockchain.ErrNotFound if no main-chain
// block holds it. An index catching up answers for the blocks it holds
// already, as Core's does: only an answer that it does not hold the
// transaction waits for it to reach the tip.
func (x *TxIndex) Find(txid chain.Hash) (*chain.Tx, TxLocation, error) {
	if !x.opened() {
		return nil, TxLocation{}, x.ready()
	}
	c := x.r.Chain()
	loc, err := x.locate(txid)
	var info blockchain.BlockInfo
	if err == nil {
		info, err = c.BlockInfo(loc.Block)
	}
	// An entry for a block off the main chain is one the index has yet to
	// take back.
	if err != nil || !info.MainChain {
		if err != nil && !errors.Is(err, blockchain.ErrNotFound) {
			return nil, TxLocation{}, err
		}
		if err := x.ready(); err != nil {
			return nil, TxLocation{}, err
		}
		if loc, err = x.locate(txid); err != nil {
			return nil, loc, err
		}
		if info, err = c.BlockInfo(loc.Block); err != nil {
			return nil, loc, err
		}
		if !info.MainChain {
			// A reorganisation since the index was ready: its block left
			// the main chain, and the index has yet to take it back.
			return nil, loc, fmt.Errorf("transaction %s: %w", txid, blockchain.ErrNotFound)
		}
	}
	b, err := c.BlockByHash(loc.Block)
	if err != nil {
		return nil, loc, err
	}
	if loc.Index >= len(b.Txs) {
		return nil, loc, fmt.Errorf("transaction index entry of %s is damaged", txid)
	}
	loc.Height = info.Height
	return b.Txs[loc.Index], loc, nil
}

// Has reports, from one key read and without waiting for the index to reach
// the tip, whether the index holds txid: false for an index turned off.
func (x *TxIndex) Has(txid chain.Hash) bool {
	if !x.opened() {
		return false
	}
	_, err := x.locate(txid)
	return err == nil
}

// opened reports whether the index is on: given to blockchain.Open, which
// handed it its reader.
func (x *TxIndex) opened() bool { return x != nil && x.r != nil }

func (x *TxIndex) ready() error {
	if !x.opened() {
		return &blockchain.IndexError{Index: TxIndexName, Disabled: true}
	}
	return x.r.Ready()
}

// locate reads a transaction's record.
func (x *TxIndex) locate(txid chain.Hash) (TxLocation, error) {
	var loc TxLocation
	err := x.r.View(func(txn *badger.Txn) error {
		item, err := txn.Get(txKey(&txid))
		if err != nil {
			if errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("transaction %s: %w", txid, blockchain.ErrNotFound)
			}
			return err
		}
		return item.Value(func(raw []byte) error {
			if len(raw) != txLocationSize {
				return fmt.Errorf("transaction index entry of %s is damaged", txid)
			}
			copy(loc.Block[:], raw)
			loc.Index = int(binary.LittleEndian.Uint32(raw[chain.HashSize:]))
			return nil
		})
	})
	return loc, err
}
