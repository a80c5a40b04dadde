package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// bigBlock mines a block of n spends (plus its coinbase) on the fixture: a
// fan-out transaction with n outputs first, then one spend of each.
func (f *fixture) bigBlock(n int) *chain.Block {
	f.t.Helper()
	outs := make([]chain.TxOut, n)
	for i := range outs {
		outs[i] = chain.TxOut{Value: chain.Coin / 100, PubKeyHash: f.gen.PKH}
	}
	fan := f.gen.SpendTo([]chain.OutPoint{f.gen.Coinbase(f.main[5].Hash())}, outs...)
	f.extend(fan)
	txs := make([]*chain.Tx, n)
	for i := range txs {
		txs[i] = f.gen.SpendAll(chain.OutPoint{TxID: fan.TxID(), Index: uint32(i)}, 1000+uint64(i))
	}
	return f.extend(txs...)
}

// BenchmarkBlockPage renders the page of a 2,000-transaction block (its
// first page of transactions), uncached: the block is read and decoded at
// every request.
func BenchmarkBlockPage(b *testing.B) {
	f := newFixture(b)
	blk := f.bigBlock(2000)
	path := "/block/" + blk.Hash().String()
	if res, body := f.get(path); res.StatusCode != 200 || !strings.Contains(body, "2,001") {
		b.Fatalf("block page: %d", res.StatusCode)
	}
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkDashboard renders the dashboard from the cache (the common case:
// once per tip and second), and without it (every entry dropped first).
func BenchmarkDashboard(b *testing.B) {
	f := newFixture(b)
	f.bigBlock(200)
	serve := func(b *testing.B) {
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			serve(b)
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			f.srv.cache.invalidate()
			serve(b)
		}
	})
}

// sseClients opens n /events streams on ts that read and discard, and
// returns a func that closes them and waits.
func sseClients(b *testing.B, url string, n int, onBlock func()) func() {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ready := make(chan struct{}, n)
	for range n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			ready <- struct{}{}
			for sc.Scan() {
				if onBlock != nil && sc.Text() == "event: block" {
					onBlock()
				}
			}
		})
	}
	for range n {
		<-ready
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// BenchmarkBlockEventLatency measures, for each block, the time from
// handing it to the chain to its block event being read by an SSE client
// over HTTP, and reports the median and the 99th percentile.
func BenchmarkBlockEventLatency(b *testing.B) {
	f := newFixture(b)
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	got := make(chan time.Time, 1)
	closeClients := sseClients(b, ts.URL, 1, func() { got <- time.Now() })
	defer closeClients()
	var lat []time.Duration
	parent := f.main[len(f.main)-1].Hash()
	for b.Loop() {
		blk := f.gen.NextBlock(parent)
		parent = blk.Hash()
		start := time.Now()
		if _, err := f.chain.ProcessBlock(blk); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-got).Sub(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkConnectWithSSEClients connects blocks with no event clients and
// with 500 reading over HTTP; compare the ns/op of each pair. Empty blocks
// are the cheapest to connect, so there the stream's share is largest;
// blocks of 200 spends are closer to a busy network's. Blocks come as they
// do on a network, one after the previous has reached every client (the
// wait is not timed), and the clients read in this process, on the same
// cores, which only makes the figure worse.
func BenchmarkConnectWithSSEClients(b *testing.B) {
	for _, spends := range []int{0, 200} {
		for _, clients := range []int{0, 500} {
			b.Run(fmt.Sprintf("spends=%d/clients=%d", spends, clients), func(b *testing.B) {
				f := newFixture(b)
				// Every client comes from 127.0.0.1 here.
				f.srv.events.maxPerAddress = f.srv.cfg.MaxEventClients
				blocks := f.prebuild(b, spends, 50)
				ts := httptest.NewServer(f.srv.Handler())
				defer ts.Close()
				delivered := make(chan struct{}, clients)
				closeClients := sseClients(b, ts.URL, clients, func() { delivered <- struct{}{} })
				defer closeClients()
				// Each connection is timed alone (the median is reported, as
				// this machine is shared); waiting for delivery is not.
				var took []time.Duration
				for b.Loop() {
					if len(took) == len(blocks) {
						b.Fatalf("only %d blocks built: run with -benchtime=%dx", len(blocks), len(blocks))
					}
					start := time.Now()
					if _, err := f.chain.ProcessBlock(blocks[len(took)]); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
					for range clients {
						<-delivered
					}
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds()), "connect-p50-µs")
			})
		}
	}
}

// prebuild makes n blocks on the tip, each with the given number of spends,
// from fan-out transactions mined first.
func (f *fixture) prebuild(b *testing.B, spends, n int) []*chain.Block {
	b.Helper()
	var outs []chain.OutPoint
	if spends > 0 {
		// The coinbases of blocks 2 to 5 are mature and unspent (1 paid tx1).
		perFan := (spends*n + 3) / 4
		var fans []*chain.Tx
		for h := 2; h <= 5; h++ {
			o := make([]chain.TxOut, perFan)
			for i := range o {
				o[i] = chain.TxOut{Value: chain.Coin / 1000, PubKeyHash: f.gen.PKH}
			}
			fans = append(fans, f.gen.SpendTo([]chain.OutPoint{f.gen.Coinbase(f.main[h].Hash())}, o...))
		}
		f.extend(fans...)
		for _, fan := range fans {
			for i := range fan.Outputs {
				outs = append(outs, chain.OutPoint{TxID: fan.TxID(), Index: uint32(i)})
			}
		}
	}
	parent := f.main[len(f.main)-1].Hash()
	blocks := make([]*chain.Block, n)
	for i := range blocks {
		txs := make([]*chain.Tx, spends)
		for j := range txs {
			txs[j] = f.gen.SpendAll(outs[i*spends+j], 500)
		}
		blocks[i] = f.gen.NextBlock(parent, txs...)
		parent = blocks[i].Hash()
	}
	b.ResetTimer()
	return blocks
}

// BenchmarkAddressPage100k shows a page of an address with 100,000 unspent
// outputs (three blocks of one large fan-out each): read from the address
// index once per tip ("first"), then sliced from the cache ("cached").
func BenchmarkAddressPage100k(b *testing.B) {
	f := newFixture(b)
	many := f.gen.NewKey()
	const perTx = 33_334
	for h := 2; h <= 4; h++ {
		outs := make([]chain.TxOut, perTx)
		for i := range outs {
			outs[i] = chain.TxOut{Value: 1000, PubKeyHash: many}
		}
		f.extend(f.gen.SpendTo([]chain.OutPoint{f.gen.Coinbase(f.main[h].Hash())}, outs...))
	}
	path := "/address/" + f.params.EncodeAddress(many) + "?page=1000"
	serve := func(b *testing.B) {
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Page 1,001 of 2,001") {
			b.Fatalf("%d: %.300s", rec.Code, rec.Body.String())
		}
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			f.srv.cache.invalidate()
			serve(b)
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			serve(b)
		}
	})
}
