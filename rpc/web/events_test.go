package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// sseReader reads one /events stream.
type sseReader struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

func openEvents(t *testing.T, base string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := &sseReader{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
	if typ, _ := r.next(); typ != "" {
		t.Fatalf("stream opened with event %q, want the greeting comment", typ)
	}
	return r
}

// next returns the next event's type and data; a comment-only frame gives "".
func (r *sseReader) next() (typ, data string) {
	r.t.Helper()
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			return typ, data
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	r.t.Fatalf("stream ended: %v", r.sc.Err())
	return "", ""
}

// nextOf skips events of other types (a tx event may come before a block).
func (r *sseReader) nextOf(want string, v any) {
	r.t.Helper()
	for {
		typ, data := r.next()
		if typ != want {
			continue
		}
		if err := json.Unmarshal([]byte(data), v); err != nil {
			r.t.Fatalf("%s data %q: %v", typ, data, err)
		}
		return
	}
}

// Block, tx and reorg events reach a client as the chain and mempool change.
func TestEventStream(t *testing.T) {
	f := newFixture(t)
	ts := httptest.NewServer(f.srv.Handler())
	t.Cleanup(ts.Close) // after the stream's own cleanup has closed it
	r := openEvents(t, ts.URL)

	b := f.extend(f.memTx)
	var be BlockEvent
	r.nextOf(EventBlock, &be)
	if be.Hash != b.Hash() || be.Height != 106 || be.NTx != 2 || be.Size != b.SerializeSize() {
		t.Errorf("block event %+v, want block %s at 106 with 2 txs", be, b.Hash())
	}

	tx := f.gen.SpendAll(f.gen.Coinbase(f.main[3].Hash()), 3000)
	if _, err := f.pool.Accept(tx, ""); err != nil {
		t.Fatal(err)
	}
	var te TxEvent
	r.nextOf(EventTx, &te)
	if te.TxID != tx.TxID() || te.Fee != 3000 || te.Size != tx.SerializeSize() {
		t.Errorf("tx event %+v, want %s with fee 3000", te, tx.TxID())
	}

	// A longer branch from 105 replaces 106.
	fork := f.gen.NextBlock(f.main[105].Hash())
	fork2 := f.gen.NextBlock(fork.Hash())
	for _, blk := range []*chain.Block{fork, fork2} {
		if _, err := f.chain.ProcessBlock(blk); err != nil {
			t.Fatal(err)
		}
	}
	var re ReorgEvent
	r.nextOf(EventReorg, &re)
	if re.Disconnected != b.Hash() || re.Height != 106 {
		t.Errorf("reorg event %+v, want %s at 106 disconnected", re, b.Hash())
	}
	r.nextOf(EventBlock, &be)
	if be.Hash != fork.Hash() {
		t.Errorf("after the reorg, block %s, want %s", be.Hash, fork.Hash())
	}
	r.nextOf(EventBlock, &be)
	if be.Hash != fork2.Hash() || be.Height != 107 {
		t.Errorf("then block %+v, want %s at 107", be, fork2.Hash())
	}
}

// A client that does not read is dropped once its queue is full, and
// publishing never waits for it.
func TestSlowEventClientDropped(t *testing.T) {
	h := newEventHub(2, 10, 10)
	slow, fast := h.subscribe("a"), h.subscribe("a")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			h.fanOut(frame(EventTx, TxEvent{}))
			<-fast.ch
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publish blocked on a client that does not read")
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("the slow client is still subscribed")
	}
	select {
	case <-fast.gone:
		t.Fatal("the client that kept up was dropped")
	default:
	}
	if n := h.clientCount(); n != 1 {
		t.Errorf("%d clients, want 1", n)
	}
}

// When the hub's own queue overflows, publishing still does not wait, and
// every client is dropped at the next event, since each missed one.
func TestEventHubOverflowDropsEveryone(t *testing.T) {
	h := newEventHub(8, 10, 10)
	a := h.subscribe("a")
	for range hubQueue + 10 {
		h.publish(frame(EventTx, TxEvent{}))
	}
	h.fanOut(<-h.in)
	select {
	case <-a.gone:
	default:
		t.Fatal("a client stayed after the hub overflowed")
	}
	b := h.subscribe("a")
	h.fanOut(<-h.in)
	select {
	case <-b.gone:
		t.Fatal("a client that joined after the overflow was dropped")
	default:
	}
}

// The hub takes no more clients than its bound, and none once closed; closing
// ends every stream.
func TestEventHubBoundsAndClose(t *testing.T) {
	h := newEventHub(4, 2, 2)
	a, b := h.subscribe("a"), h.subscribe("a")
	if a == nil || b == nil {
		t.Fatal("refused a client under the bound")
	}
	if h.subscribe("a") != nil {
		t.Fatal("took a client over the bound")
	}
	h.unsubscribe(a)
	if h.subscribe("a") == nil {
		t.Fatal("refused a client after one left")
	}
	h.close()
	<-b.gone
	if h.subscribe("a") != nil {
		t.Fatal("took a client after close")
	}
}

// Stop ends open event streams instead of waiting for them forever.
func TestStopEndsEventStreams(t *testing.T) {
	f := newFixture(t)
	if err := f.srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	r := openEvents(t, "http://"+f.srv.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.srv.Stop(ctx); err != nil {
		t.Fatalf("stop with a stream open: %v", err)
	}
	for r.sc.Scan() {
	}
}

// One remote address gets its share of the streams and no more, so that a
// single visitor cannot take every slot and end live updates for the others;
// a stream it closes frees its share.
func TestEventHubBoundsPerAddress(t *testing.T) {
	h := newEventHub(4, 10, 2)
	a1, a2 := h.subscribe("10.0.0.1"), h.subscribe("10.0.0.1")
	if a1 == nil || a2 == nil {
		t.Fatal("refused an address under its share")
	}
	if h.subscribe("10.0.0.1") != nil {
		t.Fatal("took a stream over the address's share")
	}
	if h.subscribe("10.0.0.2") == nil {
		t.Fatal("refused another address while one is at its share")
	}
	h.unsubscribe(a1)
	if h.subscribe("10.0.0.1") == nil {
		t.Fatal("refused an address after one of its streams left")
	}
}
