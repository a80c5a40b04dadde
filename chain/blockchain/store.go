package blockchain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"golang.org/x/sys/unix"

	"github.com/quarrychain/quarry/chain"
)

// Key prefixes of the chain database. Each record kind has one byte, so a
// prefix scan reads exactly one kind. The indexes' records are in the index
// database, under prefixes of their own (Indexer.KeyPrefixes), none of
// chainKeyPrefixes: a chain database from before the indexes moved out holds
// them, and only them, under other prefixes (see dropIndexesFromChainDB).
const (
	prefixBlock     = 'b' // block hash -> encoded block
	prefixHeader    = 'h' // block hash -> header index record
	prefixHeight    = 'n' // main-chain height (big-endian) -> block hash
	prefixUtxo      = 'u' // outpoint -> utxo record
	prefixUndo      = 'r' // block hash -> spent outputs, in input order
	prefixMeta      = 'm' // named values
	metaTip         = "tip"
	metaVersion     = "version"
	storeVersion    = 1
	utxoRecordSize  = 8 + chain.PubKeyHashSize + 4 + 1
	headerRecordLen = chain.HeaderSize + 4 + 1 + 32
)

// chainKeyPrefixes are the prefixes of the chain's own records.
var chainKeyPrefixes = []byte{prefixBlock, prefixHeader, prefixHeight, prefixUtxo, prefixUndo, prefixMeta}

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 1, n)
	k[0] = prefix
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func outpointBytes(op chain.OutPoint) []byte {
	return binary.BigEndian.AppendUint32(append(make([]byte, 0, chain.HashSize+4), op.TxID[:]...), op.Index)
}

func utxoKey(op chain.OutPoint) []byte { return key(prefixUtxo, outpointBytes(op)) }

func heightKey(h int32) []byte { return key(prefixHeight, be32(uint32(h))) }

func encodeUtxo(e *chain.UtxoEntry) []byte { return appendUtxo(make([]byte, 0, utxoRecordSize), e) }

func appendUtxo(b []byte, e *chain.UtxoEntry) []byte {
	b = binary.LittleEndian.AppendUint64(b, e.Value)
	b = append(b, e.PubKeyHash[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(e.Height))
	var flags byte
	if e.Coinbase {
		flags = 1
	}
	return append(b, flags)
}

func decodeUtxo(b []byte) (chain.UtxoEntry, error) {
	var e chain.UtxoEntry
	if len(b) != utxoRecordSize || b[utxoRecordSize-1] > 1 {
		return e, fmt.Errorf("utxo record of %d bytes is damaged", len(b))
	}
	e.Value = binary.LittleEndian.Uint64(b)
	copy(e.PubKeyHash[:], b[8:])
	e.Height = int32(binary.LittleEndian.Uint32(b[8+chain.PubKeyHashSize:]))
	e.Coinbase = b[utxoRecordSize-1] == 1
	return e, nil
}

// The header record keeps what the in-memory index needs to be rebuilt at start.
func encodeHeaderRecord(n *blockNode) []byte { return encodeHeaderStatus(n, n.status) }

// encodeHeaderStatus encodes n's header record with status as its status.
// It reads none of n's links, which the blocks being stored beside a run
// (earlyRun) change while the run commits n.
func encodeHeaderStatus(n *blockNode, status blockStatus) []byte {
	b := make([]byte, 0, headerRecordLen)
	h := n.header.Encode()
	b = append(b, h[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(n.height))
	b = append(b, byte(status))
	var work [32]byte
	n.chainWork.FillBytes(work[:])
	return append(b, work[:]...)
}

type headerRecord struct {
	header    chain.Header
	height    int32
	status    blockStatus
	chainWork *big.Int
}

func decodeHeaderRecord(b []byte) (headerRecord, error) {
	if len(b) != headerRecordLen {
		return headerRecord{}, fmt.Errorf("header record of %d bytes is damaged", len(b))
	}
	h, err := chain.DecodeHeader(b[:chain.HeaderSize])
	if err != nil {
		return headerRecord{}, err
	}
	return headerRecord{
		header:    h,
		height:    int32(binary.LittleEndian.Uint32(b[chain.HeaderSize:])),
		status:    blockStatus(b[chain.HeaderSize+4]),
		chainWork: new(big.Int).SetBytes(b[chain.HeaderSize+5:]),
	}, nil
}

func encodeUndo(spent []chain.UtxoEntry) []byte {
	b := newUndo(len(spent))
	for i := range spent {
		b = appendUtxo(b, &spent[i])
	}
	return b
}

// newUndo starts the undo data of n spent outputs, their records to be
// appended with appendUtxo.
func newUndo(n int) []byte {
	return chain.AppendCompactSize(make([]byte, 0, 9+n*utxoRecordSize), uint64(n))
}

func decodeUndo(b []byte) ([]chain.UtxoEntry, error) {
	n, off, err := chain.ReadCompactSize(b)
	if err != nil {
		return nil, fmt.Errorf("undo data is damaged: %w", err)
	}
	records := b[off:]
	if n != uint64(len(records)/utxoRecordSize) || len(records)%utxoRecordSize != 0 {
		return nil, fmt.Errorf("undo data is damaged: %d spent outputs announced, %d bytes follow", n, len(records))
	}
	spent := make([]chain.UtxoEntry, n)
	for i := range spent {
		if spent[i], err = decodeUtxo(records[i*utxoRecordSize : (i+1)*utxoRecordSize]); err != nil {
			return nil, err
		}
	}
	return spent, nil
}

// Badger's memory: memtables of memTableBytes, numMemtables of them at
// most (the one taking writes and one waiting to be flushed), and the index
// cache. Tables are not compressed, so their blocks are read in place from
// the memory-mapped files (the kernel's page cache) with no block cache.
const (
	memTableBytes   = 48 << 20
	numMemtables    = 2
	indexCacheBytes = 16 << 20
	// chainHeapMargin is the rest of the chain's memory over a long run: the
	// blocks being connected and indexed, table builds of flushes and
	// compactions, the block index, and the collector's headroom.
	chainHeapMargin = 96 << 20
)

// SoftMemoryLimit is the soft memory limit (runtime/debug.SetMemoryLimit) a
// process running the chain with a UTXO cache of dbcacheBytes should set,
// before adding what its other parts need: the cache, Badger's memtables and
// caches, and a margin for the rest of the chain. With it, the collector
// works harder rather than let the heap grow to twice what is live while
// Badger's large buffers come and go.
func SoftMemoryLimit(dbcacheBytes int64) int64 {
	return dbcacheBytes + numMemtables*memTableBytes + indexCacheBytes + chainHeapMargin
}

// openBadger opens the chain database with options sized for a node: memory
// bounded by two memtables and an explicit index cache; tables not
// compressed, since UTXO records are mostly hashes, which do not compress,
// and decompressing a table block was most of a UTXO read; values above
// 4 KiB (block bodies, undo data) in the value log so the LSM tree holds only
// small records (UTXOs) and compacts cheaply; conflict detection off because
// one goroutine writes. A Badger transaction may hold at most 15% of a
// memtable (about 78,000 records at 48 MiB): the largest the chain writes is
// a flush's batch of flushBatchEntries.
func openBadger(dir string, log *slog.Logger) (*badger.DB, error) {
	opts := badger.DefaultOptions(dir).
		WithMemTableSize(memTableBytes).
		WithNumMemtables(numMemtables).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(indexCacheBytes).
		WithValueThreshold(4 << 10).
		WithValueLogFileSize(256 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false).
		WithCompactL0OnClose(true)
	return openStore("chain database", opts, log)
}

// The index database's sizes. Its records are small and all in the LSM
// tree, and nothing waits on its reads but RPC queries, so its caches are
// smaller than the chain's. A memtable of 64 MiB takes a Badger transaction
// of ~104,000 records (15% of it), the largest an index batch writes (see
// indexBatchRecords).
const (
	indexMemTableSize  = 64 << 20
	indexIndexCache    = 8 << 20
	indexNumMemtables  = 2
	indexValueLogBytes = 64 << 20
	// indexBatchMemory is what the indexes' batches being written take: up
	// to ~102,000 records of the address index and ~37,000 of the
	// transaction index (indexBatchRecords and a largest block), each held
	// twice, in the batch's list and in Badger's transaction: ~400 bytes a
	// record with Badger's map slots and entries, at most.
	indexBatchMemory = 56 << 20
)

// IndexStoreMemory is the memory the index database, and the blocks kept
// for the indexes, take when an index is on, for a node's soft memory
// limit: its memtables, each allocated at 1.3 times its size (Badger's
// slack for the largest transaction), one more being written out to a
// table while an index catches up, the table built from it, its index
// cache, and the batches being written. (Counting only the memtables and
// caches, a catching-up index database measured up to twice the figure.)
// The blocks kept (recentBlocks) count twice their encoded size, decoded.
const IndexStoreMemory = (indexNumMemtables+1)*indexMemTableSize*13/10 + indexMemTableSize + indexIndexCache + indexBatchMemory + 2*recentBlocksBytes

// openIndexBadger opens the index database, which holds the indexes'
// records and markers apart from the chain's, so that the indexes' writes,
// most of the keys a syncing node writes, never queue in the chain
// database's single write goroutine in front of a block's commit. Its
// tables are not compressed, as the chain's are not: its records are mostly
// hashes, which do not compress, and compressing and decompressing the
// tables was a fifth of its compactions' work; so its blocks are read in
// place from the memory-mapped tables, with no block cache. Level 0 takes
// five memtables before it is merged into the level below: every table of
// the index's random keys overlaps all of that level, which each merge
// rewrites, so larger merges rewrite it less often.
func openIndexBadger(dir string, log *slog.Logger) (*badger.DB, error) {
	opts := badger.DefaultOptions(dir).
		WithMemTableSize(indexMemTableSize).
		WithNumMemtables(indexNumMemtables).
		WithNumLevelZeroTables(5).
		WithNumLevelZeroTablesStall(10).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(indexIndexCache).
		WithValueThreshold(4 << 10).
		WithValueLogFileSize(indexValueLogBytes).
		WithNumCompactors(2).
		WithDetectConflicts(false).
		WithCompactL0OnClose(true)
	return openStore("index database", opts, log)
}

// openStore opens one of the node's Badger stores, named in its errors,
// once the log files a crash left empty are gone.
func openStore(name string, opts badger.Options, log *slog.Logger) (*badger.DB, error) {
	if err := removeEmptyLogs(opts.Dir, log); err != nil {
		return nil, err
	}
	db, err := badger.Open(opts.WithLogger(badgerLogger{log}))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("%s %s is in use by another process (is another node running on this data directory?)", name, opts.Dir)
		}
		return nil, fmt.Errorf("open %s %s: %w", name, opts.Dir, err)
	}
	return db, nil
}

// logHeaderSize is the size of the header Badger writes first in a value log
// or memtable log file.
const logHeaderSize = 20

// removeEmptyLogs deletes value log and memtable log files too short to hold
// even their header. Badger creates a new one at every open and memtable
// switch; a process killed between creating the file and writing its header
// leaves one behind, and Badger 4.9 then refuses to open ("Create a new
// file"). Such a file holds no record, so nothing is lost.
//
// It runs only while it holds the lock Badger takes (a flock of the directory
// itself): a node running on the store may have just created its next log
// file, empty for an instant, and that one must stay (this open then fails on
// the lock).
func removeEmptyLogs(dir string, log *slog.Logger) error {
	lock, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new store: Badger makes the directory
	}
	if err != nil {
		return fmt.Errorf("open store directory: %w", err)
	}
	defer lock.Close() // releases the lock too, before Badger takes it
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil // in use: Badger's open reports it
	}
	for _, pattern := range []string{"*.vlog", "*.mem"} {
		logs, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		for _, path := range logs {
			st, err := os.Stat(path)
			if err != nil || st.Size() >= logHeaderSize {
				continue
			}
			log.Warn("removing a log file left empty by a crash", "path", path, "bytes", st.Size())
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("remove empty log file: %w", err)
			}
		}
	}
	return nil
}

// badgerLogger routes Badger's messages to slog; its info chatter goes to debug.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Infof(f string, a ...any) { l.log.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (l badgerLogger) Debugf(f string, a ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)))
}

// getValue reads a key's value, returning nil and no error when it is absent.
func getValue(txn *badger.Txn, k []byte) ([]byte, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}
