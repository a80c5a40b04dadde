package indexers_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/indexers"
)

// A node started without its indexes refuses the queries that need them;
// restarted with them, the indexes catch up from genesis; they follow a
// reorganisation, ending as they would on a chain that only saw the winner.
func TestIndexesFollowTheChain(t *testing.T) {
	dir := t.TempDir()
	var txIndex *indexers.TxIndex
	var addrIndex *indexers.AddrIndex
	open := func(off bool) *blockchain.Chain {
		cfg := blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: slog.New(slog.DiscardHandler)}
		txIndex, addrIndex = nil, nil
		if !off {
			txIndex, addrIndex = indexers.NewTxIndex(), indexers.NewAddrIndex()
			cfg.Indexers = []blockchain.Indexer{txIndex, addrIndex}
		}
		c, err := blockchain.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open(true)
	g := chaintest.New(chain.RegtestParams)
	base := g.Chain(chain.RegtestParams.GenesisHash, 101)
	chaintest.MustProcess(t, c, base...)
	fork := base[len(base)-1].Hash()
	cb := g.Coinbase(base[0].Hash())
	spendA := g.SpendAll(cb, 1000)
	a := []*chain.Block{g.NextBlock(fork, spendA)}
	a = append(a, g.Chain(a[0].Hash(), 2)...)
	chaintest.MustProcess(t, c, a...)
	var ie *blockchain.IndexError
	if _, _, err := txIndex.Find(spendA.TxID()); !errors.As(err, &ie) || !ie.Disabled || ie.Index != indexers.TxIndexName ||
		!errors.Is(err, blockchain.ErrIndexUnavailable) || errors.Is(err, blockchain.ErrNotFound) {
		t.Fatalf("Find with the index off: %v", err)
	}
	if _, err := addrIndex.Utxos(g.PKH); !errors.As(err, &ie) || ie.Index != indexers.AddrIndexName {
		t.Fatalf("Utxos with the index off: %v", err)
	}
	if st := c.IndexStatuses(); len(st) != 0 {
		t.Fatalf("index statuses with the indexes off: %+v", st)
	}
	c.Close()

	c = open(false)
	defer c.Close()
	chaintest.WaitIndexes(t, c)
	if _, loc, err := txIndex.Find(spendA.TxID()); err != nil || loc.Block != a[0].Hash() {
		t.Fatalf("Find after catching up: %+v %v", loc, err)
	}
	for _, st := range c.IndexStatuses() {
		if !st.Synced {
			t.Fatalf("index %+v at the tip is not synced", st)
		}
	}

	spendB := g.SpendAll(cb, 5000)
	b := []*chain.Block{g.NextBlock(fork, spendB)}
	b = append(b, g.Chain(b[0].Hash(), 3)...)
	chaintest.MustProcess(t, c, b...)
	// Queries wait for a synced index to apply the last blocks.
	if _, loc, err := txIndex.Find(spendB.TxID()); err != nil || loc.Block != b[0].Hash() {
		t.Fatalf("Find of the winner's spend: %+v %v", loc, err)
	}
	if _, _, err := txIndex.Find(spendA.TxID()); !errors.Is(err, blockchain.ErrNotFound) {
		t.Fatalf("Find of the loser's spend: %v", err)
	}
	freshAddr := indexers.NewAddrIndex()
	fresh, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Indexers: []blockchain.Indexer{freshAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	chaintest.MustProcess(t, fresh, append(slices.Clone(base), b...)...)
	for _, cc := range []*blockchain.Chain{c, fresh} {
		chaintest.WaitIndexes(t, cc)
	}
	gotUtxos, err := addrIndex.Utxos(g.PKH)
	if err != nil {
		t.Fatal(err)
	}
	wantUtxos, _ := freshAddr.Utxos(g.PKH)
	gotTxs, _ := addrIndex.TxIDs(g.PKH)
	wantTxs, _ := freshAddr.TxIDs(g.PKH)
	if !slices.Equal(gotUtxos, wantUtxos) || !slices.Equal(gotTxs, wantTxs) || len(wantTxs) == 0 {
		t.Fatalf("address index after the reorganisation: %d utxos, %d txs; want %d, %d", len(gotUtxos), len(gotTxs), len(wantUtxos), len(wantTxs))
	}
}

// An address index of version 1 (an unspent record per output under 'a', a
// history record per key hash and transaction under 'x') is dropped when the
// node starts, its records of both kinds deleted, and rebuilt in version 2;
// so is one whose marker is damaged, with an error in the log naming it.
func TestIndexOfAnotherVersionIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	var logged bytes.Buffer
	open := func() (*blockchain.Chain, *indexers.AddrIndex, error) {
		ix := indexers.NewAddrIndex()
		c, err := blockchain.Open(blockchain.Config{Params: chain.RegtestParams, Dir: dir, Logger: slog.New(slog.NewTextHandler(&logged, nil)), Indexers: []blockchain.Indexer{ix}})
		return c, ix, err
	}
	c, _, err := open()
	if err != nil {
		t.Fatal(err)
	}
	g := chaintest.New(chain.RegtestParams)
	blocks := g.Chain(chain.RegtestParams.GenesisHash, 101)
	blocks = append(blocks, g.NextBlock(blocks[100].Hash(), g.SpendAll(g.Coinbase(blocks[0].Hash()), 1000)))
	chaintest.MustProcess(t, c, blocks...)
	chaintest.WaitIndexes(t, c)
	c.Close()

	marker := []byte("mindex/addrindex")
	rewrite := func(edit func(txn *badger.Txn) error) {
		t.Helper()
		db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "indexes")).WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(edit); err != nil {
			t.Fatal(err)
		}
	}
	// The index as version 1 left it: its marker of version 1, its records
	// under 'a' and 'x' and none of version 2's.
	rewrite(func(txn *badger.Txn) error {
		item, err := txn.Get(marker)
		if err != nil {
			return err
		}
		v, _ := item.ValueCopy(nil)
		if err := txn.Set(marker, binary.LittleEndian.AppendUint32(v[:chain.HashSize:chain.HashSize], 1)); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{'p'}})
		var keys [][]byte
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		if len(keys) == 0 {
			return errors.New("no version 2 records to replace")
		}
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		for h, b := range blocks {
			for _, tx := range b.Txs {
				id := tx.TxID()
				for i, out := range tx.Outputs {
					k := binary.BigEndian.AppendUint32(append(append([]byte{'a'}, out.PubKeyHash[:]...), id[:]...), uint32(i))
					if err := txn.Set(k, make([]byte, 12)); err != nil {
						return err
					}
					k = append(binary.BigEndian.AppendUint32(append([]byte{'x'}, out.PubKeyHash[:]...), uint32(h+1)), id[:]...)
					if err := txn.Set(k, binary.LittleEndian.AppendUint64(nil, out.Value)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	requireNoV1Records := func() {
		t.Helper()
		rewrite(func(txn *badger.Txn) error {
			for _, p := range []byte{'a', 'x'} {
				it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{p}})
				it.Rewind()
				if it.Valid() {
					t.Errorf("a record of version 1 outlived the rebuild: %x", it.Item().Key())
				}
				it.Close()
			}
			return nil
		})
	}

	var want uint64
	for _, b := range blocks {
		for _, tx := range b.Txs {
			for _, out := range tx.Outputs {
				if out.PubKeyHash == g.PKH {
					want += out.Value
				}
			}
		}
	}
	requireRebuilt := func(why string) {
		t.Helper()
		c, ix, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		chaintest.WaitIndexes(t, c)
		history, err := ix.TxIDs(g.PKH)
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		for _, h := range history {
			got += h.Received
		}
		if got != want || len(history) != 103 {
			t.Fatalf("index rebuilt after %s: %d transactions receiving %d, want 103 receiving %d", why, len(history), got, want)
		}
	}
	requireRebuilt("a change of version")
	requireNoV1Records()
	if !strings.Contains(logged.String(), "index records are of another version") {
		t.Fatalf("the log does not tell of the change of version:\n%s", logged.String())
	}

	rewrite(func(txn *badger.Txn) error { return txn.Set(marker, []byte{1, 2, 3}) })
	requireRebuilt("damage to its marker")
	if !strings.Contains(logged.String(), "level=ERROR") || !strings.Contains(logged.String(), "addrindex marker 010203 is damaged") {
		t.Fatalf("the log does not name the damaged marker:\n%s", logged.String())
	}
}

// An index made but never given to blockchain.Open (a node that built it and
// then left it out of Config.Indexers) is an index turned off: its queries
// say so rather than dereference a reader it was never handed.
func TestIndexNotOpenedIsOff(t *testing.T) {
	txIndex, addrIndex := indexers.NewTxIndex(), indexers.NewAddrIndex()
	var pkh [chain.PubKeyHashSize]byte
	var ie *blockchain.IndexError
	if _, _, err := txIndex.Find(chain.Hash{1}); !errors.As(err, &ie) || !ie.Disabled || ie.Index != indexers.TxIndexName {
		t.Errorf("Find: %v", err)
	}
	if txIndex.Has(chain.Hash{1}) {
		t.Error("Has: true")
	}
	if _, err := addrIndex.Utxos(pkh); !errors.As(err, &ie) || !ie.Disabled || ie.Index != indexers.AddrIndexName {
		t.Errorf("Utxos: %v", err)
	}
	if _, err := addrIndex.TxIDs(pkh); !errors.As(err, &ie) || !ie.Disabled {
		t.Errorf("TxIDs: %v", err)
	}
}

// heldTxIndex is a transaction index whose ConnectBlock waits, while held,
// until released: the test decides when the index moves.
type heldTxIndex struct {
	*indexers.TxIndex
	held     atomic.Bool
	released chan struct{}
}

func (x *heldTxIndex) ConnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	if x.held.Load() {
		<-x.released
	}
	return x.TxIndex.ConnectBlock(b, u)
}

// A query waits for a synced index to reach the tip it saw, and is answered
// once the index holds the main chain, even when a reorganisation took that
// tip away before the index got to it: the index then never passes through
// it, and the query used to wait out its whole bound and fail with "still
// being built".
func TestQueryAcrossReorgAnswers(t *testing.T) {
	ix := &heldTxIndex{TxIndex: indexers.NewTxIndex(), released: make(chan struct{})}
	c, g, base := openOnBase(t, ix, 5)

	// The index is busy with the next block while the tip moves to a block
	// the query sees, then to a heavier branch without it.
	ix.held.Store(true)
	next := g.NextBlock(base[4].Hash())
	chaintest.MustProcess(t, c, next)
	chaintest.MustProcess(t, c, g.NextBlock(next.Hash()))
	done := make(chan error, 1)
	go func() {
		_, _, err := ix.Find(base[2].Txs[0].TxID())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the query read the tip it waits for
	chaintest.MustProcess(t, c, g.Chain(next.Hash(), 2)...)
	close(ix.released)
	if err := <-done; err != nil {
		t.Fatalf("query across the reorganisation: %v", err)
	}
}
