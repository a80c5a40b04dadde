package rpc

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
)

// fuzzRegistry has a method that reads every kind of parameter, so fuzzed params
// reach the binder and every getter.
func fuzzRegistry() *Registry {
	reg := testRegistry(nil)
	reg.Register(Method{
		Name: "all", Category: "test", Summary: "Reads every kind of parameter.", Result: "null",
		Params: paramsMethod.Params,
		Handler: func(_ context.Context, p *Params) (any, error) {
			var o map[string]any
			p.Decode("o", &o)
			return []any{p.String("s"), p.Int("i"), p.Float("f"), p.Bool("b"), p.Hex("h"),
				Amount(p.Amount("a")), o, p.Has("s"), p.Raw("b")}, p.Err()
		},
	})
	return reg
}

// FuzzProcess feeds arbitrary request bodies (single and batch, named and
// positional params) through decoding, binding, the handlers and reply encoding,
// and checks that the answer is always well-formed. Seeds are in
// testdata/fuzz/FuzzProcess as well as below.
func FuzzProcess(f *testing.F) {
	for _, seed := range []string{
		`{"method":"all","params":["x",1,2.5,true,"00ff","0.1",{"k":1}],"id":1}`,
		`{"jsonrpc":"2.0","method":"all","params":{"s":"x","a":1e-8,"o":null},"id":"z"}`,
		`[{"jsonrpc":"2.0","method":"echo","params":["a"],"id":1},{"method":"nosuch"},5,{"jsonrpc":"2.0","method":"note"}]`,
		`[]`,
		`{"method":"echo","params":{"text":"a","text":"b"}}`,
		`{"jsonrpc":"2.0","method":"panic"}`,
	} {
		f.Add([]byte(seed))
	}
	panics := &panicRecorder{}
	srv, err := NewServer(fuzzRegistry(), Config{User: "u", Password: "p", Logger: slog.New(panics)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, reply := srv.process(context.Background(), body)
		// The server recovers handler panics, which would hide a panic in the
		// binder or a getter; only the "panic" test method may panic.
		if p := panics.last.Swap(nil); p != nil {
			t.Fatalf("handler panicked: %s", *p)
		}
		switch status {
		case http.StatusNoContent:
			if len(reply) != 0 {
				t.Fatalf("204 with a body: %q", reply)
			}
			return
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusInternalServerError:
		default:
			t.Fatalf("status %d", status)
		}
		var single map[string]json.RawMessage
		var batch []map[string]json.RawMessage
		if json.Unmarshal(reply, &single) == nil {
			checkReply(t, single)
			if status != http.StatusOK && string(single["error"]) == "null" {
				t.Fatalf("status %d without an error: %s", status, reply)
			}
		} else if err := json.Unmarshal(reply, &batch); err == nil && status == http.StatusOK && len(batch) > 0 {
			for _, r := range batch {
				checkReply(t, r)
			}
		} else {
			t.Fatalf("status %d, reply is neither a reply nor a non-empty batch: %q", status, reply)
		}
	})
}

// panicRecorder is a slog.Handler that keeps the last handler panic the server
// logs, other than that of the "panic" test method.
type panicRecorder struct{ last atomic.Pointer[string] }

func (*panicRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *panicRecorder) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *panicRecorder) WithGroup(string) slog.Handler          { return h }

func (h *panicRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "RPC handler panicked" {
		return nil
	}
	var method, stack string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "method":
			method = a.Value.String()
		case "stack":
			stack = a.Value.String()
		}
		return true
	})
	if method != "panic" {
		h.last.Store(&stack)
	}
	return nil
}

// checkReply checks the layout of one reply object: 2.0 replies carry exactly
// one of result and error, legacy ones both and an id.
func checkReply(t *testing.T, r map[string]json.RawMessage) {
	t.Helper()
	_, hasResult := r["result"]
	_, hasError := r["error"]
	if v, ok := r["jsonrpc"]; ok {
		if string(v) != `"2.0"` || hasResult == hasError {
			t.Fatalf("bad 2.0 reply %v", r)
		}
		return
	}
	if _, hasID := r["id"]; !hasResult || !hasError || !hasID {
		t.Fatalf("bad legacy reply %v", r)
	}
	if string(r["result"]) != "null" && string(r["error"]) != "null" {
		t.Fatalf("legacy reply with both result and error: %v", r)
	}
}
