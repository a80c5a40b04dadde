package mempool

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/atomicfile"
)

// The mempool file:
//
//	magic "QRYMPOOL" | version u32 | count CompactSize |
//	count x (time added, unix seconds i64 | tx length CompactSize | tx) |
//	SHA-256 of everything before
//
// Integers are little-endian, as in the consensus encoding. Transactions come
// parents first, so loading them in file order never meets an orphan.
const (
	fileMagic   = "QRYMPOOL"
	fileVersion = 1
)

// ErrDamagedFile is wrapped by every failure to decode a mempool file.
var ErrDamagedFile = errors.New("mempool file is damaged")

// fileEntry is one transaction of a mempool file.
type fileEntry struct {
	tx   *chain.Tx
	time time.Time
}

func encodeFile(entries []fileEntry) []byte {
	var buf []byte
	buf = append(buf, fileMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, fileVersion)
	buf = chain.AppendCompactSize(buf, uint64(len(entries)))
	for _, fe := range entries {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(fe.time.Unix()))
		buf = chain.AppendCompactSize(buf, uint64(fe.tx.SerializeSize()))
		buf = fe.tx.AppendEncoding(buf, true)
	}
	sum := sha256.Sum256(buf)
	return append(buf, sum[:]...)
}

// minFileEntry is the smallest encoded entry: a time, a length and the
// smallest transaction encoding.
const minFileEntry = 8 + 1 + 10

func decodeFile(b []byte) ([]fileEntry, error) {
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrDamagedFile}, args...)...)
	}
	head := len(fileMagic) + 4
	if len(b) < head+1+sha256.Size {
		return nil, damaged("%d bytes is too short", len(b))
	}
	if string(b[:len(fileMagic)]) != fileMagic {
		return nil, damaged("not a mempool file")
	}
	if v := binary.LittleEndian.Uint32(b[len(fileMagic):]); v != fileVersion {
		return nil, damaged("version %d, want %d", v, fileVersion)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return nil, damaged("checksum mismatch")
	}
	r := body[head:]
	count, n, err := readCompactSize(r)
	if err != nil {
		return nil, damaged("transaction count: %w", err)
	}
	r = r[n:]
	if count > uint64(len(r)/minFileEntry) {
		return nil, damaged("count %d does not fit in %d bytes", count, len(r))
	}
	entries := make([]fileEntry, 0, count)
	for i := range count {
		if len(r) < 8 {
			return nil, damaged("entry %d: truncated", i)
		}
		t := time.Unix(int64(binary.LittleEndian.Uint64(r)), 0)
		r = r[8:]
		size, n, err := readCompactSize(r)
		if err != nil {
			return nil, damaged("entry %d: %w", i, err)
		}
		r = r[n:]
		if size > uint64(len(r)) {
			return nil, damaged("entry %d: length %d runs past the end", i, size)
		}
		tx, err := chain.DecodeTx(r[:size])
		if err != nil {
			return nil, damaged("entry %d: %w", i, err)
		}
		r = r[size:]
		entries = append(entries, fileEntry{tx: tx, time: t})
	}
	if len(r) != 0 {
		return nil, damaged("%d bytes after the last entry", len(r))
	}
	return entries, nil
}

// readCompactSize reads a minimally encoded CompactSize, as the consensus
// encoding requires, so each file has exactly one encoding.
func readCompactSize(b []byte) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, errors.New("truncated count")
	}
	var v uint64
	var n int
	var floor uint64
	switch b[0] {
	case 0xfd:
		n, floor = 3, 0xfd
	case 0xfe:
		n, floor = 5, 0x10000
	case 0xff:
		n, floor = 9, 0x100000000
	default:
		return uint64(b[0]), 1, nil
	}
	if len(b) < n {
		return 0, 0, errors.New("truncated count")
	}
	switch n {
	case 3:
		v = uint64(binary.LittleEndian.Uint16(b[1:]))
	case 5:
		v = uint64(binary.LittleEndian.Uint32(b[1:]))
	default:
		v = binary.LittleEndian.Uint64(b[1:])
	}
	if v < floor {
		return 0, 0, errors.New("count is not minimally encoded")
	}
	return v, n, nil
}

// Save writes every pool transaction with its time to path, parents first.
// The file is replaced atomically: written to a temporary file beside it,
// synced, renamed over it and the directory synced, so a crash leaves either
// the old file or the new one.
func (p *Pool) Save(path string) error {
	p.settle()
	p.mu.RLock()
	list := p.sortedLocked()
	entries := make([]fileEntry, len(list))
	for i, e := range list {
		entries[i] = fileEntry{tx: e.tx, time: e.time}
	}
	p.mu.RUnlock()
	data := encodeFile(entries)

	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("save mempool: %w", err)
	}
	p.log.Info("mempool saved", "path", path, "transactions", len(entries), "bytes", len(data))
	return nil
}

// LoadStats says what became of the transactions of a mempool file.
type LoadStats struct {
	Read     int
	Accepted int
	// Expired were older than the expiry; Failed no longer valid or already
	// confirmed.
	Expired int
	Failed  int
}

// Load reads a file Save wrote and accepts each transaction again against the
// current chain, with its original time. A file that does not exist gives an
// error wrapping fs.ErrNotExist; a damaged one an error wrapping
// ErrDamagedFile, and the pool is left as it was.
func (p *Pool) Load(path string) (LoadStats, error) {
	var st LoadStats
	data, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("load mempool: %w", err)
	}
	entries, err := decodeFile(data)
	if err != nil {
		return st, fmt.Errorf("load mempool %s: %w", path, err)
	}
	st.Read = len(entries)
	cutoff := p.now().Add(-p.expiry)
	for _, fe := range entries {
		if fe.time.Before(cutoff) {
			st.Expired++
			continue
		}
		if _, err := p.accept(fe.tx, LocalPeer, acceptMode{entryTime: fe.time}); err != nil {
			st.Failed++
			p.log.Debug("saved transaction not accepted", "txid", fe.tx.TxID(), "err", err)
			continue
		}
		st.Accepted++
	}
	p.notifier.deliver()
	p.log.Info("mempool loaded", "path", path, "read", st.Read, "accepted", st.Accepted, "expired", st.Expired, "failed", st.Failed)
	return st, nil
}
