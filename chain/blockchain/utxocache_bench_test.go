package blockchain

import (
	"encoding/binary"
	"log/slog"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// BenchmarkFlushFullCache fills a UTXO cache to the default --dbcache bound
// with new outputs and flushes it to a fresh store, reporting how long the
// flush takes and how long the writer (block connection) waited for it.
//
// Run: go test ./chain/blockchain -run '^$' -bench FlushFullCache -benchtime 1x
func BenchmarkFlushFullCache(b *testing.B) {
	const maxBytes = DefaultDBCacheMiB << 20
	entries := maxBytes / cacheEntryBytes
	var wrote, stalled time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := openBadger(b.TempDir(), slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		u := newUtxoCache(db, maxBytes)
		for n := range entries {
			var op chain.OutPoint
			binary.LittleEndian.PutUint64(op.TxID[:], uint64(n)*0x9e3779b97f4a7c15)
			binary.LittleEndian.PutUint64(op.TxID[8:], uint64(i))
			u.add(op, chain.UtxoEntry{Value: uint64(n), Height: int32(n / 2000)}, false)
		}
		u.best[0] = byte(i + 1)
		b.StartTimer()
		start := time.Now()
		if err := u.flush(); err != nil {
			b.Fatal(err)
		}
		stalled += time.Since(start)
		if err := u.waitFlushed(); err != nil {
			b.Fatal(err)
		}
		wrote += time.Since(start)
		b.StopTimer()
		db.Close()
	}
	b.ReportMetric(float64(entries), "entries")
	b.ReportMetric(wrote.Seconds()/float64(b.N), "s/flush")
	b.ReportMetric(stalled.Seconds()*1000/float64(b.N), "ms-writer-stalled")
}
