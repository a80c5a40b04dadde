package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/mempool"
)

// Event types on /events.
const (
	EventBlock = "block"
	EventTx    = "tx"
	EventReorg = "reorg"
)

// BlockEvent is the data of a block event: a block joined the main chain.
type BlockEvent struct {
	Hash   chain.Hash `json:"hash"`
	Height int32      `json:"height"`
	Time   int64      `json:"time"`
	NTx    int        `json:"nTx"`
	Size   int        `json:"size"`
}

// ReorgEvent is the data of a reorg event: a block left the main chain. The
// blocks of the winning branch follow as block events.
type ReorgEvent struct {
	Disconnected chain.Hash `json:"disconnected"`
	Height       int32      `json:"height"`
}

// TxEvent is the data of a tx event: a transaction entered the mempool.
type TxEvent struct {
	TxID chain.Hash `json:"txid"`
	Size int        `json:"size"`
	Fee  uint64     `json:"fee"` // base units
}

// sseMessage is one or more events, framed for the stream once for every
// client.
type sseMessage []byte

func frame(typ string, data any) sseMessage {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("web: event %s does not encode: %v", typ, err)) // fixed types: a bug
	}
	return sseMessage(fmt.Sprintf("event: %s\ndata: %s\n\n", typ, raw))
}

// eventHub fans events out to the /events clients. Publishing never blocks
// and costs its caller one channel send: the chain's goroutine hands the
// event over, and the hub's own goroutine (run) copies it into each client's
// bounded queue. A client whose queue is full has fallen too far behind and
// is dropped (its stream ends; EventSource reconnects and the page reloads
// what it missed). If the hub itself falls behind, every client is dropped,
// since each of them has then missed an event.
type eventHub struct {
	buffer     int
	maxClients int
	// maxPerAddress bounds one remote address's streams, so that one visitor
	// cannot take every slot and end live updates for the others.
	maxPerAddress int
	in            chan sseMessage
	overflowed    atomic.Bool

	mu         sync.Mutex
	clients    map[*sseClient]struct{}
	perAddress map[string]int
	closed     bool
}

type sseClient struct {
	addr string // the remote address (host) it came from
	ch   chan sseMessage
	// gone is closed when the hub drops the client or closes.
	gone chan struct{}
}

// hubQueue is how many events may wait for the hub's goroutine.
const hubQueue = 4096

func newEventHub(buffer, maxClients, maxPerAddress int) *eventHub {
	return &eventHub{buffer: buffer, maxClients: maxClients, maxPerAddress: maxPerAddress,
		in: make(chan sseMessage, hubQueue), clients: make(map[*sseClient]struct{}), perAddress: make(map[string]int)}
}

// publish hands msg to the hub's goroutine without waiting.
func (h *eventHub) publish(msg sseMessage) {
	select {
	case h.in <- msg:
	default:
		h.overflowed.Store(true)
	}
}

// Events are gathered for up to batchWindow (or batchBytes) and written to
// each client at once: a flood of tx events costs each client one write per
// window, not one per transaction, and a block's event is written after the
// block-processing goroutine that published it has finished, not while it
// still works.
const (
	batchWindow = 2 * time.Millisecond
	batchBytes  = 64 << 10
)

// run fans published events out until ctx ends.
func (h *eventHub) run(ctx context.Context) {
	timer := time.NewTimer(batchWindow)
	timer.Stop()
	for {
		var batch []byte
		select {
		case <-ctx.Done():
			return
		case msg := <-h.in:
			batch = append(batch, msg...)
		}
		timer.Reset(batchWindow)
	gather:
		for len(batch) < batchBytes {
			select {
			case <-ctx.Done():
				return
			case msg := <-h.in:
				batch = append(batch, msg...)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		h.fanOut(batch)
	}
}

func (h *eventHub) fanOut(msg sseMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overflowed.Swap(false) {
		for c := range h.clients {
			h.dropLocked(c)
		}
	}
	for c := range h.clients {
		select {
		case c.ch <- msg:
		default:
			h.dropLocked(c)
		}
	}
}

func (h *eventHub) dropLocked(c *sseClient) {
	delete(h.clients, c)
	if h.perAddress[c.addr]--; h.perAddress[c.addr] == 0 {
		delete(h.perAddress, c.addr)
	}
	close(c.gone)
}

// subscribe adds a client from the remote address addr, or returns nil when
// the hub is full or closed or addr has its share of streams already.
func (h *eventHub) subscribe(addr string) *sseClient {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= h.maxClients || h.perAddress[addr] >= h.maxPerAddress {
		return nil
	}
	c := &sseClient{addr: addr, ch: make(chan sseMessage, h.buffer), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	h.perAddress[addr]++
	return c
}

func (h *eventHub) unsubscribe(c *sseClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		h.dropLocked(c)
	}
}

// close ends every stream and refuses new ones.
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		h.dropLocked(c)
	}
}

func (h *eventHub) clientCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// keepAlive is how often an idle stream gets a comment, so proxies and
// browsers keep it open and a vanished client is noticed.
const keepAlive = 15 * time.Second

// serveEvents streams events to one client until it leaves, falls behind or
// the server stops.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	addr, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		addr = r.RemoteAddr
	}
	c := s.events.subscribe(addr)
	if c == nil {
		http.Error(w, "too many event streams", http.StatusServiceUnavailable)
		return
	}
	defer s.events.unsubscribe(c)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Tell EventSource to wait a few seconds before reconnecting after a drop.
	if _, err := fmt.Fprint(w, "retry: 3000\n: quarry events\n\n"); err != nil {
		return
	}
	rc.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	// The connection may serve other requests after this one.
	defer rc.SetWriteDeadline(time.Time{})
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return
		case <-c.gone:
			return
		case m := <-c.ch:
			msg = m
		case <-tick.C:
			msg = []byte(": keep-alive\n\n")
		}
		// A client that stops reading must not hold this goroutine forever.
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write(msg); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// ChainEvent publishes a main-chain change to the event stream. The node
// subscribes it to the chain; it runs on the block-processing goroutine, so
// it only frames the event and queues it, never waiting for a client.
func (s *Server) ChainEvent(e blockchain.Event) {
	s.cache.invalidate()
	switch e.Kind {
	case blockchain.BlockConnected:
		ev := BlockEvent{Hash: e.Hash, Height: e.Height}
		if e.Block != nil {
			ev.Time, ev.NTx, ev.Size = int64(e.Block.Header.Time), len(e.Block.Txs), e.Block.SerializeSize()
		}
		s.events.publish(frame(EventBlock, ev))
	case blockchain.BlockDisconnected:
		s.events.publish(frame(EventReorg, ReorgEvent{Disconnected: e.Hash, Height: e.Height}))
	}
}

// MempoolEvent publishes a transaction entering the mempool; the node
// subscribes it to the pool.
func (s *Server) MempoolEvent(e mempool.Event) {
	if e.Kind != mempool.TxAdded {
		return
	}
	s.events.publish(frame(EventTx, TxEvent{TxID: e.TxID, Size: e.Size, Fee: e.Fee}))
}
