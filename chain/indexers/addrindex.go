package indexers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// Address index records.
const (
	// prefixAddrHistory: key hash, height (big-endian), position of the
	// transaction in its block (big-endian) -> addrHistory. Keys sort in
	// chain order, oldest first, so a spender's record follows its
	// creator's.
	prefixAddrHistory = 'p'
	// The version 1 records, retired: a key hash's unspent outputs and its
	// transactions. They are still listed in KeyPrefixes so that a node
	// whose index database holds them deletes them when it rebuilds the
	// index in version 2; nothing writes or reads them.
	prefixAddrUtxoV1 = 'a'
	prefixAddrTxV1   = 'x'
)

// addrHistoryKeySize: prefix, key hash, height, position.
const addrHistoryKeySize = 1 + chain.PubKeyHashSize + 4 + 4

// AddrIndex keeps, per public key hash, the transactions that paid to or
// spent from it, as electrs and esplora do: one record per key hash and
// transaction, listing the outputs the transaction paid to the key hash and
// the outpoints it spent from it. The unspent outputs are what the records
// paid less what they spent, read from the whole history of the key hash. A
// nil *AddrIndex, or one not given to blockchain.Open, is the index turned
// off: its queries fail with a disabled *blockchain.IndexError.
type AddrIndex struct {
	r *blockchain.IndexReader
}

// NewAddrIndex returns the address index, for blockchain.Config.Indexers.
func NewAddrIndex() *AddrIndex { return &AddrIndex{} }

// Name implements blockchain.Indexer.
func (*AddrIndex) Name() string { return AddrIndexName }

var _ blockchain.Indexer = (*AddrIndex)(nil)

// KeyPrefixes implements blockchain.Indexer: the records' prefix, and the
// retired prefixes of version 1, which a rebuild must delete too.
func (*AddrIndex) KeyPrefixes() []byte {
	return []byte{prefixAddrHistory, prefixAddrUtxoV1, prefixAddrTxV1}
}

// Version implements blockchain.Indexer. Version 2 writes one record per
// key hash and transaction, as many as version 1's history records, and
// none of its unspent records (one per output) and their deletes (one per
// input), which halved the CPU time of writing both indexes
// (BenchmarkIndexWrite); for an unspent outputs query that reads the key
// hash's whole history.
func (*AddrIndex) Version() uint32 { return 2 }

// Init implements blockchain.Indexer.
func (x *AddrIndex) Init(r *blockchain.IndexReader) { x.r = r }

func addrHistoryKey(pkh *[chain.PubKeyHashSize]byte, height int32, pos int) []byte {
	k := make([]byte, 0, addrHistoryKeySize)
	k = binary.BigEndian.AppendUint32(append(append(k, prefixAddrHistory), pkh[:]...), uint32(height))
	return binary.BigEndian.AppendUint32(k, uint32(pos))
}

// paidOutput is an output a transaction paid to a key hash.
type paidOutput struct {
	index uint32
	value uint64
}

// addrHistory is a record of the address index: what one transaction paid
// to and spent from one key hash. Its encoding:
//
//	txid (32 bytes)
//	uvarint count, then per output paid, in output order: uvarint index, uvarint value
//	uvarint count, then per outpoint spent, in input order: txid (32 bytes), uvarint index
//
// Uvarints, as most indexes and values take a few bytes of their eight.
// What the transaction received is the sum of the values paid, not stored
// apart.
type addrHistory struct {
	txid  chain.Hash
	paid  []paidOutput
	spent []chain.OutPoint
}

func (h *addrHistory) received() uint64 {
	var sum uint64
	for _, p := range h.paid {
		sum += p.value
	}
	return sum
}

func appendAddrHistory(dst []byte, h *addrHistory) []byte {
	dst = binary.AppendUvarint(append(dst, h.txid[:]...), uint64(len(h.paid)))
	for _, p := range h.paid {
		dst = binary.AppendUvarint(binary.AppendUvarint(dst, uint64(p.index)), p.value)
	}
	dst = binary.AppendUvarint(dst, uint64(len(h.spent)))
	for _, op := range h.spent {
		dst = binary.AppendUvarint(append(dst, op.TxID[:]...), uint64(op.Index))
	}
	return dst
}

// errAddrHistoryDamaged is the error of a record that does not decode.
var errAddrHistoryDamaged = errors.New("address index record is damaged")

// historyReader decodes an addrHistory, the first error sticking.
type historyReader struct {
	b   []byte
	err error
}

func (r *historyReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errAddrHistoryDamaged, fmt.Sprintf(format, args...))
	}
	r.b = nil
}

// uvarint reads a uvarint of at most limit in its shortest encoding, so
// that a record that decodes encodes to the same bytes.
func (r *historyReader) uvarint(what string, limit uint64) uint64 {
	n, size := binary.Uvarint(r.b)
	switch {
	case size <= 0:
		r.fail("%s is cut short or overflows", what)
		return 0
	case size > 1 && r.b[size-1] == 0:
		r.fail("%s is not in its shortest encoding", what)
		return 0
	case n > limit:
		r.fail("%s %d is over %d", what, n, limit)
		return 0
	}
	r.b = r.b[size:]
	return n
}

func (r *historyReader) hash(dst *chain.Hash) {
	if len(r.b) < chain.HashSize {
		r.fail("txid is cut short")
		return
	}
	copy(dst[:], r.b)
	r.b = r.b[chain.HashSize:]
}

// count reads a list's length, bounded by the bytes left at minSize bytes
// an entry, so that a damaged count cannot make a large allocation.
func (r *historyReader) count(what string, minSize int) int {
	return int(r.uvarint(what, uint64(len(r.b)/minSize)))
}

// decodeAddrHistory decodes v into h, reusing h's slices. A record that
// does not decode (cut short, trailing bytes, an output paid twice or out
// of order, values over MaxMoney, neither paying nor spending) is an error
// wrapping errAddrHistoryDamaged.
func decodeAddrHistory(v []byte, h *addrHistory) error {
	r := historyReader{b: v}
	r.hash(&h.txid)
	h.paid, h.spent = h.paid[:0], h.spent[:0]
	var total uint64
	for range r.count("count of outputs paid", 2) {
		p := paidOutput{index: uint32(r.uvarint("output index", 1<<32-1)), value: r.uvarint("output value", chain.MaxMoney)}
		if len(h.paid) > 0 && p.index <= h.paid[len(h.paid)-1].index {
			r.fail("output %d paid after output %d", p.index, h.paid[len(h.paid)-1].index)
		}
		// Each value is at most MaxMoney, so the sum cannot wrap before the check.
		if total += p.value; total > chain.MaxMoney {
			r.fail("outputs paid total %d, over the maximum", total)
		}
		if r.err != nil {
			break
		}
		h.paid = append(h.paid, p)
	}
	for range r.count("count of outpoints spent", chain.HashSize+1) {
		var op chain.OutPoint
		r.hash(&op.TxID)
		op.Index = uint32(r.uvarint("outpoint index", 1<<32-1))
		if r.err != nil {
			break
		}
		h.spent = append(h.spent, op)
	}
	switch {
	case r.err != nil:
		return r.err
	case len(r.b) > 0:
		return fmt.Errorf("%w: %d bytes after the record", errAddrHistoryDamaged, len(r.b))
	case len(h.paid) == 0 && len(h.spent) == 0:
		return fmt.Errorf("%w: it neither pays nor spends", errAddrHistoryDamaged)
	}
	return nil
}

// historyWriter builds a block's records, its scratch reused from one
// transaction to the next.
type historyWriter struct {
	// touched are the key hashes the transaction pays or spends from, in
	// the order met, each with its record.
	touched []addrTouch
	slots   map[[chain.PubKeyHashSize]byte]int
}

// addrTouch is a key hash a transaction pays or spends from, and its record.
type addrTouch struct {
	pkh *[chain.PubKeyHashSize]byte
	h   addrHistory
}

// touchedLinearMax is the number of key hashes a transaction touches up to
// which they are found by a look at each: most touch one to three. Past it
// a map finds them, so a transaction of thousands of outputs costs no
// quadratic time.
const touchedLinearMax = 8

// record returns pkh's record of the transaction, started empty when pkh
// is met first.
func (w *historyWriter) record(pkh *[chain.PubKeyHashSize]byte) *addrHistory {
	if len(w.touched) <= touchedLinearMax {
		for k := range w.touched {
			if *w.touched[k].pkh == *pkh {
				return &w.touched[k].h
			}
		}
		if len(w.touched) == touchedLinearMax {
			if w.slots == nil {
				w.slots = make(map[[chain.PubKeyHashSize]byte]int)
			}
			clear(w.slots)
			for k := range w.touched {
				w.slots[*w.touched[k].pkh] = k
			}
		}
	} else if k, ok := w.slots[*pkh]; ok {
		return &w.touched[k].h
	}
	k := len(w.touched)
	if k < cap(w.touched) {
		// Reuse the slot's lists of an earlier transaction.
		w.touched = w.touched[:k+1]
		t := &w.touched[k]
		t.pkh, t.h.paid, t.h.spent = pkh, t.h.paid[:0], t.h.spent[:0]
	} else {
		w.touched = append(w.touched, addrTouch{pkh: pkh})
	}
	if len(w.touched) > touchedLinearMax {
		w.slots[*pkh] = k
	}
	return &w.touched[k].h
}

// write sets the records of the transaction at position pos of u, one per
// key hash it pays or spends from: the outputs paid in output order, the
// outpoints spent in input order.
func (w *historyWriter) write(b *blockchain.IndexBatch, u *blockchain.BlockUpdate, pos int, spent []chain.UtxoEntry) {
	tx := u.Block.Txs[pos]
	w.touched = w.touched[:0]
	for j := range spent {
		h := w.record(&spent[j].PubKeyHash)
		h.spent = append(h.spent, tx.Inputs[j].PrevOut)
	}
	for idx := range tx.Outputs {
		out := &tx.Outputs[idx]
		h := w.record(&out.PubKeyHash)
		h.paid = append(h.paid, paidOutput{index: uint32(idx), value: out.Value})
	}
	for k := range w.touched {
		t := &w.touched[k]
		t.h.txid = u.TxIDs[pos]
		v := appendAddrHistory(make([]byte, 0, chain.HashSize+2+len(t.h.paid)*10+len(t.h.spent)*(chain.HashSize+3)), &t.h)
		b.Set(addrHistoryKey(t.pkh, u.Height, pos), v)
	}
}

// ConnectBlock implements blockchain.Indexer: a record per key hash and
// transaction, the coinbase's included.
func (*AddrIndex) ConnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	var w historyWriter
	spent := u.Spent
	for i, tx := range u.Block.Txs {
		var ins []chain.UtxoEntry
		if i > 0 {
			ins, spent = spent[:len(tx.Inputs)], spent[len(tx.Inputs):]
		}
		w.write(b, u, i, ins)
	}
	return nil
}

// DisconnectBlock implements blockchain.Indexer: it deletes the block's
// records. That is all: an output the block spent is unspent again because
// the record of its spender, which listed it, is gone, and an output the
// block created goes with its creator's record.
func (*AddrIndex) DisconnectBlock(b *blockchain.IndexBatch, u *blockchain.BlockUpdate) error {
	spent := u.Spent
	for i, tx := range u.Block.Txs {
		// A key hash paid or spent from twice is deleted twice: the batch
		// keeps both writes, Badger one tombstone. One delete an output or
		// input, a block's are as many as its largest connect could write.
		for idx := range tx.Outputs {
			b.Delete(addrHistoryKey(&tx.Outputs[idx].PubKeyHash, u.Height, i))
		}
		if i == 0 {
			continue
		}
		for j := range tx.Inputs {
			b.Delete(addrHistoryKey(&spent[j].PubKeyHash, u.Height, i))
		}
		spent = spent[len(tx.Inputs):]
	}
	return nil
}

// AddressUtxo is an unspent output paying to a key hash.
type AddressUtxo struct {
	OutPoint chain.OutPoint
	Value    uint64
	Height   int32
}

// AddressTx is a main-chain transaction that paid to or spent from a key hash.
type AddressTx struct {
	TxID   chain.Hash
	Height int32
	// Received is what the transaction paid to the key hash.
	Received uint64
}

// Utxos lists the unspent outputs paying to pkh in chain order, oldest
// first (by height, position of the transaction in its block, output
// index); a *blockchain.IndexError if the index is off or still catching
// up. It reads the whole history of pkh.
func (x *AddrIndex) Utxos(pkh [chain.PubKeyHashSize]byte) ([]AddressUtxo, error) {
	utxos, _, err := x.scan(pkh, true, false, 0)
	return utxos, err
}

// TxIDs lists the transactions touching pkh in chain order, oldest first;
// a *blockchain.IndexError if the index is off or still catching up.
func (x *AddrIndex) TxIDs(pkh [chain.PubKeyHashSize]byte) ([]AddressTx, error) {
	_, txs, err := x.scan(pkh, false, true, 0)
	return txs, err
}

// ErrHistoryTooLong is the error of a query that bounds the transactions
// it reads, for a key hash with more.
var ErrHistoryTooLong = errors.New("the address has more transactions than the query reads")

// UtxosAndTxIDs is Utxos and TxIDs both, from one read of pkh's history,
// for a caller that needs both (a balance with what was received). With
// maxTxs > 0 it reads at most maxTxs transactions: a longer history is an
// error matching ErrHistoryTooLong, and what was read is dropped.
func (x *AddrIndex) UtxosAndTxIDs(pkh [chain.PubKeyHashSize]byte, maxTxs int) ([]AddressUtxo, []AddressTx, error) {
	return x.scan(pkh, true, true, maxTxs)
}

// scan reads pkh's history once, oldest first, up to maxTxs records if
// that is over 0. An output's spender always sorts after its creator (a
// later block, or later in the same block), so an outpoint spent is one
// already listed as paid.
func (x *AddrIndex) scan(pkh [chain.PubKeyHashSize]byte, wantUtxos, wantTxs bool, maxTxs int) ([]AddressUtxo, []AddressTx, error) {
	if err := x.ready(); err != nil {
		return nil, nil, err
	}
	var utxos []AddressUtxo
	var txs []AddressTx
	// unspent: the outputs paid and not spent yet. utxos lists them in
	// chain order with spentCount outputs spent since, dropped once they
	// are half of it: an address paying itself again and again holds the
	// few outputs it has, not every output of its history.
	unspent := make(map[chain.OutPoint]struct{})
	var spentCount int
	dropSpent := func() {
		utxos = slices.DeleteFunc(utxos, func(u AddressUtxo) bool {
			_, ok := unspent[u.OutPoint]
			return !ok
		})
		spentCount = 0
	}
	prefix := append([]byte{prefixAddrHistory}, pkh[:]...)
	err := x.r.View(func(txn *badger.Txn) error {
		// Values are small and held in the LSM tree: read in place, with no
		// prefetch goroutine per record. Forward: Badger's memtables have
		// no back links, and a reverse scan, which could keep only the
		// spends not matched yet, took twice the time.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		var h addrHistory
		read := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if read++; maxTxs > 0 && read > maxTxs {
				return fmt.Errorf("%w: over %d", ErrHistoryTooLong, maxTxs)
			}
			k := it.Item().Key()
			if len(k) != addrHistoryKeySize {
				return fmt.Errorf("%w: key %x", errAddrHistoryDamaged, k)
			}
			height := int32(binary.BigEndian.Uint32(k[len(prefix):]))
			if err := it.Item().Value(func(v []byte) error { return decodeAddrHistory(v, &h) }); err != nil {
				return fmt.Errorf("address index record %x: %w", k, err)
			}
			if wantTxs {
				txs = append(txs, AddressTx{TxID: h.txid, Height: height, Received: h.received()})
			}
			if !wantUtxos {
				continue
			}
			for _, p := range h.paid {
				op := chain.OutPoint{TxID: h.txid, Index: p.index}
				unspent[op] = struct{}{}
				utxos = append(utxos, AddressUtxo{OutPoint: op, Value: p.value, Height: height})
			}
			for _, op := range h.spent {
				// Every outpoint spent was paid by an earlier record of a
				// sound index (genesis's outputs, which the index does not
				// hold, are not spendable); one that was not is not listed
				// either way.
				if _, ok := unspent[op]; ok {
					delete(unspent, op)
					spentCount++
				}
			}
			if 2*spentCount > len(utxos) {
				dropSpent()
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if spentCount > 0 {
		dropSpent()
	}
	return utxos, txs, nil
}

func (x *AddrIndex) ready() error {
	if x == nil || x.r == nil {
		return &blockchain.IndexError{Index: AddrIndexName, Disabled: true}
	}
	return x.r.Ready()
}
