package blockchain_test

import (
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// A store written before the tables went uncompressed (Snappy tables, read
// through a block cache) opens with no block cache: Badger reads each
// table's compression from its manifest. The chain reads its state from the
// old tables and connects on top of them.
func TestOpensStoreWithCompressedTables(t *testing.T) {
	dir := t.TempDir()
	c := openChain(t, dir)
	g := chaintest.New(chain.RegtestParams)
	base := matureBase(t, c, g)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Every record rewritten and flushed to tables as the old options wrote
	// them.
	old, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).
		WithCompression(options.Snappy).WithBlockCacheSize(32 << 20))
	if err != nil {
		t.Fatal(err)
	}
	wb := old.NewWriteBatch()
	records, err := blockchain.StoreRecords(old)
	for k, v := range records {
		if err != nil {
			break
		}
		err = wb.Set([]byte(k), []byte(v))
	}
	if err == nil {
		err = wb.Flush()
	}
	if err := errors.Join(err, old.Close()); err != nil {
		t.Fatal(err)
	}
	if compressedTables(t, dir) == 0 {
		t.Fatal("the old options wrote no compressed table")
	}

	c = openChain(t, dir)
	requireTip(t, c, base[len(base)-1])
	spent := g.Coinbase(base[0].Hash())
	block := g.NextBlock(base[len(base)-1].Hash(), g.SpendAll(spent, 1000))
	chaintest.MustProcess(t, c, block)
	if e := c.LookupUtxo(spent); e != nil {
		t.Fatal("the output the block spent is still unspent")
	}
	requireSameState(t, c, append(base, block))
}

// compressedTables counts the tables of the store in dir that are compressed.
func compressedTables(t *testing.T, dir string) int {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithReadOnly(true).
		WithBlockCacheSize(32 << 20))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	for _, tbl := range db.Tables() {
		if tbl.OnDiskSize < tbl.UncompressedSize {
			n++
		}
	}
	return n
}
