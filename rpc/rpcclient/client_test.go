package rpcclient

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/rpc"
)

type echoResult struct {
	Text string
	N    int
	Flag bool
}

func TestClientCall(t *testing.T) {
	ts := startServer(t, testRegistry(), rpc.Config{})
	c := NewClient(ts.url, WithCookieFile(ts.cookie))
	ctx := t.Context()

	var r echoResult
	if err := c.Call(ctx, "echo", []any{"hi", 3}, &r); err != nil || r != (echoResult{"hi", 3, false}) {
		t.Errorf("positional: %+v, %v", r, err)
	}
	if err := c.Call(ctx, "echo", map[string]any{"text": "yo", "flag": true}, &r); err != nil || r != (echoResult{"yo", 7, true}) {
		t.Errorf("named: %+v, %v", r, err)
	}
	if err := c.Call(ctx, "echo", struct {
		Text string `json:"text"`
	}{"st"}, &r); err != nil || r.Text != "st" {
		t.Errorf("named from a struct: %+v, %v", r, err)
	}
	if err := c.Call(ctx, "note", nil, nil); err != nil {
		t.Errorf("no params, no result: %v", err)
	}
	var help string
	if err := c.Call(ctx, "help", []string(nil), &help); err != nil || !strings.Contains(help, "== Test ==") {
		t.Errorf("nil slice params: %q, %v", help, err)
	}

	for method, code := range map[string]int{"fail": rpc.CodeInvalidParameter, "plainerr": rpc.CodeMisc, "nosuch": rpc.CodeMethodNotFound} {
		err := c.Call(ctx, method, nil, nil)
		var e *rpc.Error
		if !errors.As(err, &e) || e.Code != code {
			t.Errorf("%s: %v, want an *Error with code %d", method, err, code)
		}
	}
	if err := c.Call(ctx, "echo", "hi", nil); err == nil {
		t.Error("scalar params accepted")
	}
	var wrong []int
	if err := c.Call(ctx, "echo", []any{"hi"}, &wrong); err == nil {
		t.Error("result into the wrong type did not fail")
	}
}

// A node answering without end is cut off at the bound, not read into memory.
func TestClientMaxReply(t *testing.T) {
	ts := startServer(t, testRegistry(), rpc.Config{})
	var r echoResult
	long := strings.Repeat("x", 2000)
	c := NewClient(ts.url, WithCookieFile(ts.cookie), WithMaxReply(1000))
	if err := c.Call(t.Context(), "echo", []any{long}, &r); err == nil || !strings.Contains(err.Error(), "over 1000 bytes") {
		t.Errorf("a 2,000-byte reply under a 1,000-byte bound: %v", err)
	}
	if err := c.Call(t.Context(), "echo", []any{"short"}, &r); err != nil || r.Text != "short" {
		t.Errorf("a short reply: %+v, %v", r, err)
	}
}

func TestClientBatch(t *testing.T) {
	ts := startServer(t, testRegistry(), rpc.Config{})
	c := NewClient(strings.TrimPrefix(ts.url, "http://"), WithCookieFile(ts.cookie))
	var r1, r2 echoResult
	calls := []BatchCall{
		{Method: "echo", Params: []any{"one"}, Result: &r1},
		{Method: "fail"},
		{Method: "echo", Params: map[string]any{"text": "two", "n": 2}, Result: &r2},
	}
	if err := c.CallBatch(t.Context(), calls); err != nil {
		t.Fatal(err)
	}
	if calls[0].Err != nil || r1.Text != "one" || calls[2].Err != nil || r2 != (echoResult{"two", 2, false}) {
		t.Errorf("results: %+v %+v, errors %v %v", r1, r2, calls[0].Err, calls[2].Err)
	}
	var e *rpc.Error
	if !errors.As(calls[1].Err, &e) || e.Code != rpc.CodeInvalidParameter {
		t.Errorf("fail: %v", calls[1].Err)
	}
	if err := c.CallBatch(t.Context(), nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func TestClientUserPassword(t *testing.T) {
	ts := startServer(t, testRegistry(), rpc.Config{User: "alice", Password: "secret"})
	if err := NewClient(ts.url, WithUserPassword("alice", "secret")).Call(t.Context(), "note", nil, nil); err != nil {
		t.Errorf("right password: %v", err)
	}
	err := NewClient(ts.url, WithUserPassword("alice", "wrong")).Call(t.Context(), "note", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials (HTTP 401)") {
		t.Errorf("wrong password: %v", err)
	}
}

func TestClientMissingCookie(t *testing.T) {
	ts := startServer(t, testRegistry(), rpc.Config{})
	err := NewClient(ts.url, WithCookieFile(ts.cookie+".nosuch")).Call(t.Context(), "note", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "read cookie file") {
		t.Errorf("missing cookie: %v", err)
	}
}

// TestClientReadsCookieAtCallTime restarts the node on the same address: the
// client must pick up the new cookie without being rebuilt.
func TestClientReadsCookieAtCallTime(t *testing.T) {
	cookie := filepath.Join(t.TempDir(), ".cookie")
	first := startServer(t, testRegistry(), rpc.Config{CookiePath: cookie})
	// A connection kept alive to the first server could be picked for the
	// call after the restart before the client sees it closed, and a POST is
	// not retried: this test is about the cookie, so it dials every call.
	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	c := NewClient(first.url, WithCookieFile(cookie), WithHTTPClient(noKeepAlive))
	if err := c.Call(t.Context(), "note", nil, nil); err != nil {
		t.Fatal(err)
	}
	addr := first.srv.Addr().String()
	if err := first.srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	second := startServer(t, testRegistry(), rpc.Config{Addr: addr, CookiePath: cookie})
	if second.password == first.password {
		t.Fatal("restart kept the cookie")
	}
	if err := c.Call(t.Context(), "note", nil, nil); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	srv, err := rpc.NewServer(rpc.NewRegistry(), rpc.Config{Addr: "127.0.0.1:0", User: "a", Password: "b",
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	url := "http://" + srv.Addr().String()
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	err = NewClient(url, WithUserPassword("a", "b")).Call(t.Context(), "help", nil, nil)
	want := "cannot reach node at " + url + ": connection refused; is the node running on that network and port?"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = NewClient(url).Call(ctx, "help", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
}

func TestClientRedactsPassword(t *testing.T) {
	err := NewClient("http://user:hunter2@127.0.0.1:1").Call(t.Context(), "help", nil, nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}
