package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// listeningServer serves the fixture's chain on a loopback port with the
// given request timeout.
func listeningServer(t *testing.T, requestTimeout time.Duration) *Server {
	t.Helper()
	cfg := newFixture(t).srv.cfg
	cfg.RequestTimeout = requestTimeout
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	return srv
}

// A client that asks for pages and never reads the answers is cut off once
// a response has waited too long to be written, so idle sockets cannot hold
// the node's goroutines and rendered pages for ever.
func TestSlowReaderCutOff(t *testing.T) {
	srv := listeningServer(t, 200*time.Millisecond)

	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Far more response bytes than the sockets buffer, asked for at once.
	const requests = 1000
	go func() {
		w := bufio.NewWriter(conn)
		for range requests {
			fmt.Fprintf(w, "GET / HTTP/1.1\r\nHost: node\r\n\r\n")
		}
		w.Flush()
	}()
	time.Sleep(2 * time.Second)

	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	answered := 0
	for ; answered < requests; answered++ {
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			break
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil {
			break
		}
	}
	if answered == requests {
		t.Errorf("all %d responses written to a client that did not read for 2 s: no write deadline", requests)
	}
}

// The write deadline of pages does not end event streams, which set their
// own before each write.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	srv := listeningServer(t, 100*time.Millisecond)
	events := openEvents(t, "http://"+srv.Addr().String())
	time.Sleep(time.Second)
	srv.ChainEvent(blockchain.Event{Kind: blockchain.BlockConnected, Hash: chain.Hash{7}, Height: 7})
	var ev BlockEvent
	events.nextOf(EventBlock, &ev)
	if ev.Height != 7 {
		t.Errorf("block event %+v, want height 7", ev)
	}
}
