package testnet

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpcclient"
)

// fakeRPC is a JSON-RPC endpoint whose answers a test changes while a wait
// helper polls it.
type fakeRPC struct {
	mu      sync.Mutex
	answers map[string]any
	calls   map[string]int
}

func newFakeRPC(t *testing.T, answers map[string]any) (*fakeRPC, *rpcclient.Client) {
	t.Helper()
	f := &fakeRPC{answers: answers, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls[req.Method]++
		result, ok := f.answers[req.Method]
		f.mu.Unlock()
		reply := map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result}
		if !ok {
			reply = map[string]any{"jsonrpc": "2.0", "id": req.ID,
				"error": map[string]any{"code": rpc.CodeMethodNotFound, "message": "Method not found"}}
		}
		json.NewEncoder(w).Encode(reply)
	}))
	t.Cleanup(srv.Close)
	return f, rpcclient.NewClient(srv.URL)
}

func (f *fakeRPC) set(method string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[method] = v
}

func (f *fakeRPC) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// after runs fn once the fake has been asked method n times, so a test can
// check that a helper keeps polling until the state it waits for arrives.
func after(t *testing.T, f *fakeRPC, method string, n int, fn func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for f.count(method) < n {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		fn()
	})
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestWaitForTipConverges(t *testing.T) {
	a, ca := newFakeRPC(t, map[string]any{"getbestblockhash": "aa", "getblockcount": 5})
	_, cb := newFakeRPC(t, map[string]any{"getbestblockhash": "bb", "getblockcount": 5})
	after(t, a, "getbestblockhash", 3, func() { a.set("getbestblockhash", "bb") })
	start := time.Now()
	tip, err := WaitForTip(testCtx(t, 10*time.Second), 5, ca, cb)
	if err != nil {
		t.Fatal(err)
	}
	if tip != "bb" {
		t.Errorf("tip %q, want bb", tip)
	}
	if n := a.count("getbestblockhash"); n < 3 {
		t.Errorf("agreed after %d polls, before the tips were equal", n)
	}
	// Three polls take two intervals; far more means the helper sleeps too long.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v for three polls", d)
	}
}

func TestWaitForTipWaitsForHeight(t *testing.T) {
	a, ca := newFakeRPC(t, map[string]any{"getbestblockhash": "aa", "getblockcount": 4})
	after(t, a, "getblockcount", 2, func() { a.set("getblockcount", 6) })
	if _, err := WaitForTip(testCtx(t, 10*time.Second), 6, ca); err != nil {
		t.Fatal(err)
	}
}

func TestWaitForTipTimesOutWithState(t *testing.T) {
	_, ca := newFakeRPC(t, map[string]any{"getbestblockhash": "aa", "getblockcount": 7})
	_, cb := newFakeRPC(t, map[string]any{"getbestblockhash": "bb", "getblockcount": 3})
	start := time.Now()
	_, err := WaitForTip(testCtx(t, 300*time.Millisecond), 5, ca, cb)
	if err == nil {
		t.Fatal("tips differ, yet WaitForTip succeeded")
	}
	for _, want := range []string{"deadline exceeded", "#0: aa at 7", "#1: bb at 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned %v after a 300ms deadline", d)
	}
}

func TestWaitForTipReportsRPCErrors(t *testing.T) {
	_, ca := newFakeRPC(t, map[string]any{})
	_, err := WaitForTip(testCtx(t, 200*time.Millisecond), 0, ca)
	if err == nil || !strings.Contains(err.Error(), "Method not found") {
		t.Errorf("got %v, want the node's error in the message", err)
	}
}

func TestWaitForHeight(t *testing.T) {
	a, ca := newFakeRPC(t, map[string]any{"getblockcount": 1})
	_, cb := newFakeRPC(t, map[string]any{"getblockcount": 10})
	after(t, a, "getblockcount", 2, func() { a.set("getblockcount", 10) })
	if err := WaitForHeight(testCtx(t, 10*time.Second), 10, ca, cb); err != nil {
		t.Fatal(err)
	}
}

func TestWaitForMempool(t *testing.T) {
	a, ca := newFakeRPC(t, map[string]any{"getrawmempool": []string{"t2", "t1"}})
	_, cb := newFakeRPC(t, map[string]any{"getrawmempool": []string{"t1", "t2", "t3"}})
	after(t, a, "getrawmempool", 2, func() { a.set("getrawmempool", []string{"t3", "t1", "t2"}) })
	txids, err := WaitForMempool(testCtx(t, 10*time.Second), ca, cb)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(txids, ",") != "t1,t2,t3" {
		t.Errorf("txids %v, want t1 t2 t3", txids)
	}
}

func TestWaitForTx(t *testing.T) {
	a, ca := newFakeRPC(t, map[string]any{"getrawmempool": []string{}})
	_, cb := newFakeRPC(t, map[string]any{"getrawmempool": []string{"other", "tx"}})
	after(t, a, "getrawmempool", 2, func() { a.set("getrawmempool", []string{"tx"}) })
	if err := WaitForTx(testCtx(t, 10*time.Second), "tx", ca, cb); err != nil {
		t.Fatal(err)
	}
	err := WaitForTx(testCtx(t, 200*time.Millisecond), "absent", ca, cb)
	if err == nil || !strings.Contains(err.Error(), "missing from #0, #1") {
		t.Errorf("got %v, want it to name the nodes without the transaction", err)
	}
}

func TestWaitForPeers(t *testing.T) {
	a, ca := newFakeRPC(t, map[string]any{"getconnectioncount": 0})
	after(t, a, "getconnectioncount", 2, func() { a.set("getconnectioncount", 2) })
	if err := WaitForPeers(testCtx(t, 10*time.Second), 2, ca); err != nil {
		t.Fatal(err)
	}
}

type named struct{ Caller }

func (named) String() string { return "alice" }

func TestWaitNamesStringers(t *testing.T) {
	_, ca := newFakeRPC(t, map[string]any{"getblockcount": 1})
	err := WaitForHeight(testCtx(t, 200*time.Millisecond), 2, named{ca})
	if err == nil || !strings.Contains(err.Error(), "alice: 1") {
		t.Errorf("got %v, want the node named alice", err)
	}
}

func TestPollAppliesDefaultTimeout(t *testing.T) {
	var deadline time.Time
	err := poll(context.Background(), "x", func(ctx context.Context) (bool, string) {
		deadline, _ = ctx.Deadline()
		return true, ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(deadline); left <= 0 || left > DefaultWaitTimeout {
		t.Errorf("deadline %v away, want at most DefaultWaitTimeout", left)
	}
}
