package blockchain_test

import (
	"encoding/binary"
	"log/slog"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// bigRecordIndex writes, for every block, bigRecordsPerBlock records of
// bigRecordSize bytes: few records, many bytes, as the address index writes
// for blocks of transactions each spending a hundred outputs of one key
// hash (a record of ~4 KB a transaction, still held in the LSM tree).
type bigRecordIndex struct {
	r *blockchain.IndexReader
}

const (
	bigRecordsPerBlock = 25
	bigRecordSize      = 4000
	prefixBigRecord    = 'B'
)

func (*bigRecordIndex) Name() string                     { return "bigrecords" }
func (*bigRecordIndex) KeyPrefixes() []byte              { return []byte{prefixBigRecord} }
func (*bigRecordIndex) Version() uint32                  { return 1 }
func (x *bigRecordIndex) Init(r *blockchain.IndexReader) { x.r = r }
func bigRecordKey(height int32, i int) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32([]byte{prefixBigRecord}, uint32(height)), uint32(i))
}

func (*bigRecordIndex) ConnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	for i := range bigRecordsPerBlock {
		b.Set(bigRecordKey(u.Height, i), make([]byte, bigRecordSize))
	}
	return nil
}

func (*bigRecordIndex) DisconnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	for i := range bigRecordsPerBlock {
		b.Delete(bigRecordKey(u.Height, i))
	}
	return nil
}

// An index built from genesis over a chain whose blocks each make it write
// a few large records (150 blocks, 15 MB of records: more than a Badger
// transaction of the index database takes, in far fewer records than
// IndexBatchRecords) still reaches the tip: its batches are bounded by
// their bytes too.
func TestIndexBatchOfLargeRecordsCommits(t *testing.T) {
	dir := t.TempDir()
	c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const blocks = 150
	chaintest.MustProcess(t, c, chaintest.New(chain.RegtestParams).Chain(chain.RegtestParams.GenesisHash, blocks)...)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ix := &bigRecordIndex{}
	c, err = blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: slog.New(slog.DiscardHandler),
		Indexers: []blockchain.Indexer{ix}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chaintest.WaitIndexes(t, c)
	var n int
	err = ix.r.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixBigRecord}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != blocks*bigRecordsPerBlock {
		t.Fatalf("%d records, want %d", n, blocks*bigRecordsPerBlock)
	}
}
