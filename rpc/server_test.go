package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// testRegistry returns a registry with methods that exercise the framework.
// notified counts calls of "note", so tests can see that notifications run.
func testRegistry(notified *atomic.Int64) *Registry {
	reg := NewRegistry()
	reg.Register(
		Method{
			Name: "echo", Category: "test", Summary: "Returns its parameters.",
			Params: []Param{
				{Name: "text", Type: TypeString, Required: true, Description: "Some text"},
				{Name: "n", Type: TypeNumber, Default: "7", Description: "A number"},
				{Name: "flag", Type: TypeBool, Description: "A flag"},
			},
			Result: `{ "text": "str", "n": n, "flag": true|false }`,
			Handler: func(_ context.Context, p *Params) (any, error) {
				return map[string]any{"text": p.String("text"), "n": p.Int("n"), "flag": p.Bool("flag")}, nil
			},
		},
		Method{
			Name: "fail", Category: "test", Summary: "Fails with -8.", Result: "nothing",
			Handler: func(context.Context, *Params) (any, error) {
				return nil, fmt.Errorf("wrapped: %w", Errorf(CodeInvalidParameter, "Block height out of range"))
			},
		},
		Method{
			Name: "plainerr", Category: "test", Summary: "Fails with a plain error.", Result: "nothing",
			Handler: func(context.Context, *Params) (any, error) { return nil, errors.New("boom") },
		},
		Method{
			Name: "panic", Category: "test", Summary: "Panics.", Result: "nothing",
			Handler: func(context.Context, *Params) (any, error) { panic("secret internals") },
		},
		Method{
			Name: "note", Category: "test", Summary: "Counts its calls.", Result: "null",
			Handler: func(context.Context, *Params) (any, error) {
				if notified != nil {
					notified.Add(1)
				}
				return nil, nil
			},
		},
	)
	return reg
}

type testServer struct {
	srv      *Server
	url      string
	cookie   string
	user     string // the cookie's credentials
	password string
}

// startServer starts srv on a free loopback port with a cookie in a temporary
// directory, and stops it when the test ends.
func startServer(t *testing.T, reg *Registry, cfg Config) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = filepath.Join(t.TempDir(), "regtest", ".cookie")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := NewServer(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	user, password, err := ReadCookie(cfg.CookiePath)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{srv: srv, url: "http://" + srv.Addr().String(), cookie: cfg.CookiePath,
		user: user, password: password}
}

// send posts body to the server, with the cookie credentials unless auth says
// otherwise. It may run outside the test goroutine.
func (ts *testServer) send(ctx context.Context, path, body string, auth func(*http.Request)) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	if auth == nil {
		req.SetBasicAuth(ts.user, ts.password)
	} else {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data), err
}

// post sends body with the cookie credentials and returns the status and reply.
func (ts *testServer) post(t *testing.T, body string) (int, string) {
	t.Helper()
	status, _, reply, err := ts.send(t.Context(), "", body, nil)
	if err != nil {
		t.Fatal(err)
	}
	return status, reply
}

func noAuth(*http.Request) {}

type exchange struct {
	name   string
	body   string
	status int
	reply  string // "" for no body
}

func runExchanges(t *testing.T, ts *testServer, cases []exchange) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, reply := ts.post(t, c.body)
			if status != c.status {
				t.Errorf("status %d, want %d (reply %s)", status, c.status, reply)
			}
			want := c.reply
			if want != "" {
				want += "\n"
			}
			if reply != want {
				t.Errorf("reply\n%s\nwant\n%s", reply, want)
			}
		})
	}
}

func TestLegacyRequests(t *testing.T) {
	ts := startServer(t, testRegistry(nil), Config{})
	runExchanges(t, ts, []exchange{
		{"success", `{"method":"echo","params":["hi"],"id":1}`, 200,
			`{"result":{"flag":false,"n":7,"text":"hi"},"error":null,"id":1}`},
		{"jsonrpc 1.0 is legacy", `{"jsonrpc":"1.0","method":"echo","params":{"text":"hi","n":3,"flag":true},"id":"a"}`, 200,
			`{"result":{"flag":true,"n":3,"text":"hi"},"error":null,"id":"a"}`},
		{"no id", `{"method":"echo","params":["hi"]}`, 200,
			`{"result":{"flag":false,"n":7,"text":"hi"},"error":null,"id":null}`},
		{"method not found", `{"method":"nosuch","id":1}`, 404,
			`{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}`},
		{"missing method", `{"id":1}`, 400,
			`{"result":null,"error":{"code":-32600,"message":"Missing method"},"id":1}`},
		{"method not a string", `{"method":5,"id":1}`, 400,
			`{"result":null,"error":{"code":-32600,"message":"Method must be a string"},"id":1}`},
		{"params not array or object", `{"method":"echo","params":"hi","id":1}`, 400,
			`{"result":null,"error":{"code":-32600,"message":"Params must be an array or object"},"id":1}`},
		{"parse error", `{"method":`, 400,
			`{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}`},
		{"trailing garbage", `{"method":"note"} x`, 400,
			`{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}`},
		{"top level not object", `"echo"`, 400,
			`{"result":null,"error":{"code":-32700,"message":"Top-level object parse error"},"id":null}`},
		{"handler *Error", `{"method":"fail","id":2}`, 500,
			`{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":2}`},
		{"handler plain error", `{"method":"plainerr","id":3}`, 500,
			`{"result":null,"error":{"code":-1,"message":"boom"},"id":3}`},
		{"handler panic", `{"method":"panic","id":4}`, 500,
			`{"result":null,"error":{"code":-32603,"message":"Internal error"},"id":4}`},
		{"type error", `{"method":"echo","params":[5],"id":5}`, 500,
			`{"result":null,"error":{"code":-3,"message":"Wrong type for parameter 'text': JSON value of type number is not of expected type string"},"id":5}`},
		{"unknown version", `{"jsonrpc":"3.0","method":"echo","id":6}`, 400,
			`{"result":null,"error":{"code":-32600,"message":"JSON-RPC version not supported"},"id":6}`},
		{"version not a string", `{"jsonrpc":2,"method":"echo","id":6}`, 400,
			`{"result":null,"error":{"code":-32600,"message":"jsonrpc field must be a string"},"id":6}`},
	})
}

func TestV2Requests(t *testing.T) {
	var notified atomic.Int64
	ts := startServer(t, testRegistry(&notified), Config{})
	runExchanges(t, ts, []exchange{
		{"success", `{"jsonrpc":"2.0","method":"echo","params":{"text":"hi"},"id":1}`, 200,
			`{"jsonrpc":"2.0","result":{"flag":false,"n":7,"text":"hi"},"id":1}`},
		{"null id is an id", `{"jsonrpc":"2.0","method":"note","id":null}`, 200,
			`{"jsonrpc":"2.0","result":null,"id":null}`},
		{"method not found", `{"jsonrpc":"2.0","method":"nosuch","id":1}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`},
		{"invalid request", `{"jsonrpc":"2.0","id":1}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Missing method"},"id":1}`},
		{"handler error", `{"jsonrpc":"2.0","method":"fail","id":1}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-8,"message":"Block height out of range"},"id":1}`},
		{"invalid request without id", `{"jsonrpc":"2.0","params":[]}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"Missing method"},"id":null}`},
		{"notification", `{"jsonrpc":"2.0","method":"note"}`, 204, ""},
		{"failing notification", `{"jsonrpc":"2.0","method":"nosuch"}`, 204, ""},
	})
	if n := notified.Load(); n != 2 { // the "null id" call and the notification
		t.Errorf("note ran %d times, want 2", n)
	}
}

func TestBatch(t *testing.T) {
	var notified atomic.Int64
	ts := startServer(t, testRegistry(&notified), Config{})
	runExchanges(t, ts, []exchange{
		{"mixed", `[
			{"jsonrpc":"2.0","method":"echo","params":["a"],"id":1},
			{"method":"nosuch","id":2},
			{"jsonrpc":"2.0","method":"note"},
			5,
			{"jsonrpc":"2.0","method":"fail","id":3},
			{"method":"echo","params":[],"id":4}
		]`, 200, `[` +
			`{"jsonrpc":"2.0","result":{"flag":false,"n":7,"text":"a"},"id":1},` +
			`{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":2},` +
			`{"result":null,"error":{"code":-32600,"message":"Invalid Request object"},"id":null},` +
			`{"jsonrpc":"2.0","error":{"code":-8,"message":"Block height out of range"},"id":3},` +
			`{"result":null,"error":{"code":-1,"message":"Missing required parameter 'text'. Usage: echo \"text\" ( n flag )"},"id":4}` +
			`]`},
		{"only notifications", `[{"jsonrpc":"2.0","method":"note"},{"jsonrpc":"2.0","method":"note"}]`, 204, ""},
		{"empty", `[]`, 400,
			`{"result":null,"error":{"code":-32600,"message":"Empty batch"},"id":null}`},
	})
	if n := notified.Load(); n != 3 {
		t.Errorf("note ran %d times, want 3", n)
	}
}

func TestParamErrorsOverHTTP(t *testing.T) {
	ts := startServer(t, testRegistry(nil), Config{})
	runExchanges(t, ts, []exchange{
		{"too many positional", `{"jsonrpc":"2.0","method":"echo","params":["a",1,true,4],"id":1}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-1,"message":"Too many parameters for echo: got 4, takes at most 3. Usage: echo \"text\" ( n flag )"},"id":1}`},
		{"unknown named", `{"jsonrpc":"2.0","method":"echo","params":{"text":"a","foo":1},"id":1}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-8,"message":"Unknown named parameter foo"},"id":1}`},
		{"duplicate named", `{"jsonrpc":"2.0","method":"echo","params":{"text":"a","text":"b"},"id":1}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-8,"message":"Parameter text specified multiple times"},"id":1}`},
		{"missing named", `{"jsonrpc":"2.0","method":"echo","params":{"n":1},"id":1}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-1,"message":"Missing required parameter 'text'. Usage: echo \"text\" ( n flag )"},"id":1}`},
		{"null skips a positional", `{"jsonrpc":"2.0","method":"echo","params":["a",null,true],"id":1}`, 200,
			`{"jsonrpc":"2.0","result":{"flag":true,"n":7,"text":"a"},"id":1}`},
		{"not an integer", `{"jsonrpc":"2.0","method":"echo","params":["a",1.5],"id":1}`, 200,
			`{"jsonrpc":"2.0","error":{"code":-8,"message":"Invalid parameter 'n': 1.5 is not an integer in the 64-bit range"},"id":1}`},
	})
}

func TestHTTPRejections(t *testing.T) {
	ts := startServer(t, testRegistry(nil), Config{MaxBodyBytes: 1024, User: "alice", Password: "secret"})
	t.Run("no credentials", func(t *testing.T) {
		start := time.Now()
		status, header, _, err := ts.send(t.Context(), "", `{"method":"help"}`, noAuth)
		if err != nil || status != http.StatusUnauthorized {
			t.Fatalf("status %d, %v; want 401", status, err)
		}
		if got := header.Get("WWW-Authenticate"); got != `Basic realm="jsonrpc"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
		if d := time.Since(start); d >= authFailDelay {
			t.Errorf("took %v: only wrong credentials should be delayed", d)
		}
	})
	for _, creds := range [][2]string{{"alice", "wrong"}, {"bob", "secret"}, {cookieUser, "secret"}, {"alice", ""}} {
		t.Run("wrong credentials "+creds[0]+":"+creds[1], func(t *testing.T) {
			start := time.Now()
			status, header, _, err := ts.send(t.Context(), "", `{"method":"help"}`,
				func(r *http.Request) { r.SetBasicAuth(creds[0], creds[1]) })
			if err != nil || status != http.StatusUnauthorized {
				t.Fatalf("status %d, %v; want 401", status, err)
			}
			if header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header")
			}
			if d := time.Since(start); d < authFailDelay {
				t.Errorf("answered after %v, want at least %v", d, authFailDelay)
			}
		})
	}
	t.Run("user and password", func(t *testing.T) {
		status, _, reply, err := ts.send(t.Context(), "", `{"method":"note","id":1}`,
			func(r *http.Request) { r.SetBasicAuth("alice", "secret") })
		if err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v; want 200: %s", status, err, reply)
		}
	})
	t.Run("cookie as well", func(t *testing.T) {
		if status, reply := ts.post(t, `{"method":"note","id":1}`); status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", status, reply)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		status, reply := ts.post(t, `{"method":"echo","params":["`+strings.Repeat("x", 2048)+`"]}`)
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413: %s", status, reply)
		}
	})
	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.url, nil)
		req.SetBasicAuth("alice", "secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", resp.StatusCode)
		}
	})
	t.Run("other path", func(t *testing.T) {
		status, _, _, err := ts.send(t.Context(), "/wallet/x", `{"method":"help"}`, nil)
		if err != nil || status != http.StatusNotFound {
			t.Fatalf("status %d, %v; want 404", status, err)
		}
	})
}

// blockingRegistry has a method "block" that reports on entered when it starts and
// returns when release is closed or its context ends.
func blockingRegistry(entered chan<- struct{}, release <-chan struct{}) *Registry {
	reg := NewRegistry()
	reg.Register(Method{
		Name: "block", Category: "test", Summary: "Blocks.", Result: `"done" or "cancelled"`,
		Handler: func(ctx context.Context, _ *Params) (any, error) {
			entered <- struct{}{}
			select {
			case <-release:
				return "done", nil
			case <-ctx.Done():
				return "cancelled", nil
			}
		},
	})
	return reg
}

func TestBusy(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	ts := startServer(t, blockingRegistry(entered, release), Config{MaxInFlight: 1})

	var wg sync.WaitGroup
	var firstStatus int
	var firstReply string
	var firstErr error
	wg.Go(func() {
		firstStatus, _, firstReply, firstErr = ts.send(context.Background(), "", `{"method":"block","id":1}`, nil)
	})
	<-entered

	if status, reply := ts.post(t, `{"method":"help","id":2}`); status != http.StatusServiceUnavailable {
		t.Errorf("second request: status %d, want 503: %s", status, reply)
	}
	close(release)
	wg.Wait()
	if firstErr != nil || firstStatus != http.StatusOK || !strings.Contains(firstReply, `"done"`) {
		t.Errorf("first request: %d %s %v", firstStatus, firstReply, firstErr)
	}
	// The slot is free again.
	if status, reply := ts.post(t, `{"method":"help","params":["help"],"id":3}`); status != http.StatusOK {
		t.Errorf("third request: status %d, want 200: %s", status, reply)
	}
}

func TestCookieFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "regtest")
	path := filepath.Join(dir, ".cookie")
	srv, err := NewServer(NewRegistry(), Config{Addr: "127.0.0.1:0", CookiePath: path,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("cookie mode %o, want 600", mode)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^__cookie__:[0-9a-f]{64}$`).Match(data) {
		t.Errorf("cookie %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("cookie directory holds %d entries, want only the cookie", len(entries))
	}
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cookie still there after stop: %v", err)
	}
	if err := srv.Stop(t.Context()); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if err := srv.Start(t.Context()); err == nil {
		t.Error("restart of a stopped server succeeded")
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := NewServer(NewRegistry(), Config{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("server without credentials accepted")
	}
	if _, err := NewServer(NewRegistry(), Config{Addr: "127.0.0.1:0", User: "a:b", Password: "c"}); err == nil {
		t.Error("user name with ':' accepted")
	}
	if _, err := NewServer(NewRegistry(), Config{Addr: "127.0.0.1:0", User: "a"}); err == nil {
		t.Error("user without password accepted")
	}
	noAddr, err := NewServer(NewRegistry(), Config{User: "a", Password: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := noAddr.Start(t.Context()); err == nil {
		noAddr.Stop(t.Context())
		t.Error("server without a listen address started")
	}
	ts := startServer(t, NewRegistry(), Config{})
	srv, err := NewServer(NewRegistry(), Config{Addr: ts.srv.Addr().String(), User: "a", Password: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err == nil {
		t.Error("second server on a taken port started")
	}
}

func TestDefaultHostIsLoopback(t *testing.T) {
	ts := startServer(t, NewRegistry(), Config{Addr: ":0"})
	host, _, err := net.SplitHostPort(ts.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if host != "127.0.0.1" {
		t.Errorf("listening on %s, want 127.0.0.1", host)
	}
}

func TestStopWaitsForRunningCalls(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	ts := startServer(t, blockingRegistry(entered, release), Config{})
	var wg sync.WaitGroup
	var status int
	var reply string
	var callErr error
	wg.Go(func() {
		status, _, reply, callErr = ts.send(context.Background(), "", `{"method":"block","id":1}`, nil)
	})
	<-entered
	stopped := make(chan error)
	go func() { stopped <- ts.srv.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a call was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Errorf("stop: %v", err)
	}
	wg.Wait()
	if callErr != nil || status != http.StatusOK || !strings.Contains(reply, `"done"`) {
		t.Errorf("running call got %d %s %v, want it to finish", status, reply, callErr)
	}
}

// A connection that never sends a request (Go's HTTP clients open spare ones
// under load) does not hold up Stop: net/http's Shutdown alone would wait five
// seconds for it and fail the deadline.
func TestStopIgnoresConnectionsWithoutCalls(t *testing.T) {
	ts := startServer(t, testRegistry(nil), Config{})
	conn, err := net.Dial("tcp", ts.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // the server has accepted it
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := ts.srv.Stop(ctx); err != nil {
		t.Errorf("stop with an unused connection open: %v", err)
	}
}

func TestStopCancelsCallsAfterDeadline(t *testing.T) {
	entered := make(chan struct{})
	ts := startServer(t, blockingRegistry(entered, nil), Config{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _, _ = ts.send(context.Background(), "", `{"method":"block","id":1}`, nil) // any outcome: the server is going away
	}()
	<-entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stop: %v, want deadline exceeded", err)
	}
	<-done // the handler saw its context end, and the connection closed
	if _, err := os.Stat(ts.cookie); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cookie still there after stop: %v", err)
	}
}

// TestStopWaitsForCancelledCalls: a call still running at the deadline is
// cancelled, and Stop returns only once it has returned. The node closes the
// chain and the mempool after Stop; a generatetoaddress that was cancelled
// but still submitting its block would otherwise write to a closed chain.
func TestStopWaitsForCancelledCalls(t *testing.T) {
	reg := NewRegistry()
	entered := make(chan struct{})
	var finished atomic.Bool
	reg.Register(Method{
		Name: "slowcancel", Category: "test", Summary: "Takes a while to end once cancelled.", Result: "null",
		Handler: func(ctx context.Context, _ *Params) (any, error) {
			close(entered)
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond) // finishing what it had started
			finished.Store(true)
			return nil, ctx.Err()
		},
	})
	ts := startServer(t, reg, Config{})
	go func() { _, _, _, _ = ts.send(context.Background(), "", `{"method":"slowcancel","id":1}`, nil) }()
	<-entered
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stop: %v, want deadline exceeded", err)
	}
	if !finished.Load() {
		t.Error("Stop returned while a cancelled call was still running")
	}
}

func TestMetrics(t *testing.T) {
	promReg := prometheus.NewRegistry()
	ts := startServer(t, testRegistry(nil), Config{Metrics: promReg, MaxBodyBytes: 100})
	for _, body := range []string{
		`{"method":"echo","params":["a"]}`,
		`{"method":"echo","params":["a"]}`,
		`{"method":"fail"}`,
		`{"method":"nosuch"}`,
		`{"method":`,
		`{"method":"echo","params":["` + strings.Repeat("x", 100) + `"]}`,
	} {
		ts.post(t, body)
	}
	if _, _, _, err := ts.send(t.Context(), "", `{}`, noAuth); err != nil {
		t.Fatal(err)
	}

	got := map[string]float64{}
	families, err := promReg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"quarry_rpc_calls_total{method=echo}":                 2,
		"quarry_rpc_calls_total{method=fail}":                 1,
		"quarry_rpc_calls_total{method=unknown}":              1,
		"quarry_rpc_calls_total{method=invalid}":              1,
		"quarry_rpc_errors_total{code=-8,method=fail}":        1,
		"quarry_rpc_errors_total{code=-32601,method=unknown}": 1,
		"quarry_rpc_errors_total{code=-32700,method=invalid}": 1,
		"quarry_rpc_rejected_total{reason=too_large}":         1,
		"quarry_rpc_rejected_total{reason=unauthorized}":      1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("metrics %v, want %v", got, want)
	}

	// A second server on the same registry counts on the same counters.
	if _, err := NewServer(NewRegistry(), Config{Metrics: promReg, User: "a", Password: "b"}); err != nil {
		t.Errorf("second server on the same Prometheus registry: %v", err)
	}
}

func TestHelpOverHTTP(t *testing.T) {
	ts := startServer(t, testRegistry(nil), Config{})
	status, reply := ts.post(t, `{"jsonrpc":"2.0","method":"help","params":["nosuch"],"id":1}`)
	if status != http.StatusOK || reply != `{"jsonrpc":"2.0","result":"help: unknown command: nosuch","id":1}`+"\n" {
		t.Errorf("%d %s", status, reply)
	}
	status, reply = ts.post(t, `{"jsonrpc":"2.0","method":"help","id":1}`)
	var r struct{ Result string }
	if err := json.Unmarshal([]byte(reply), &r); err != nil || status != http.StatusOK {
		t.Fatalf("%d %s: %v", status, reply, err)
	}
	if r.Result != testRegistry(nil).Help("") {
		t.Errorf("help over HTTP differs from Registry.Help:\n%s", r.Result)
	}
}
