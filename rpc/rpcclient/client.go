// Package rpcclient calls a Quarry node's JSON-RPC server: single calls and
// batches, with the node's cookie file (read at every call, so a restarted node
// is followed) or a configured user and password. It depends on the rpc
// framework for the error type and the cookie format only, never on the node's
// packages, so that a program such as the wallet links no P2P stack.
package rpcclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/quarrychain/quarry/rpc"
)

// Client calls a node's JSON-RPC server. It is safe for concurrent use.
type Client struct {
	url        string // as given, for requests
	shownURL   string // without any password in it, for messages
	cookiePath string
	user       string
	password   string
	http       *http.Client
	maxReply   int64
	nextID     atomic.Uint64
}

// DefaultMaxReply bounds the reply body the client reads, 256 MiB: far above
// the largest answer a node gives (a verbose getblock of a full block), far
// below what would let a hostile or broken node exhaust the caller's memory.
const DefaultMaxReply = 256 << 20

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithCookieFile authenticates with the node's cookie file. The file is read at
// every call, so the client keeps working when the node restarts with a new cookie.
// It takes precedence over WithUserPassword.
func WithCookieFile(path string) ClientOption {
	return func(c *Client) { c.cookiePath = path }
}

// WithUserPassword authenticates with a configured RPC user and password.
func WithUserPassword(user, password string) ClientOption {
	return func(c *Client) { c.user, c.password = user, password }
}

// WithHTTPClient sends requests with hc instead of http.DefaultClient.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) { c.http = hc }
}

// WithMaxReply bounds the reply body read to n bytes instead of
// DefaultMaxReply; a longer reply is an error.
func WithMaxReply(n int64) ClientOption {
	return func(c *Client) { c.maxReply = n }
}

// NewClient returns a client of the node at rawURL, such as
// "http://127.0.0.1:18543"; "127.0.0.1:18543" alone means http.
func NewClient(rawURL string, opts ...ClientOption) *Client {
	if !strings.Contains(rawURL, "://") {
		rawURL = "http://" + rawURL
	}
	c := &Client{url: rawURL, shownURL: rawURL, http: http.DefaultClient, maxReply: DefaultMaxReply}
	if u, err := url.Parse(rawURL); err == nil {
		c.shownURL = u.Redacted()
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// clientRequest is what the client sends: always JSON-RPC 2.0, so that every reply
// comes with HTTP 200 and one of result and error.
type clientRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      uint64          `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

type clientReply struct {
	Result json.RawMessage `json:"result"`
	Error  *rpc.Error      `json:"error"`
	ID     json.RawMessage `json:"id"`
}

// Call calls method with params (nil, a slice for positional parameters, a map or
// struct for named ones) and decodes the result into result unless it is nil. An
// error reply of the node comes back as an *Error.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	req, err := c.newRequest(method, params)
	if err != nil {
		return err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("rpc: encode %s request: %w", method, err)
	}
	data, err := c.post(ctx, body)
	if err != nil {
		return err
	}
	var reply clientReply
	if err := json.Unmarshal(data, &reply); err != nil {
		return fmt.Errorf("rpc: %s: reply from %s is not JSON-RPC: %w", method, c.shownURL, err)
	}
	return reply.decode(method, result)
}

func (r *clientReply) decode(method string, result any) error {
	if r.Error != nil {
		return r.Error
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("rpc: %s: decode result: %w", method, err)
	}
	return nil
}

// BatchCall is one call of a batch: Method and Params in, Result (decoded into,
// unless nil) and Err (the call's own error, an *Error from the node) out.
type BatchCall struct {
	Method string
	Params any
	Result any
	Err    error
}

// CallBatch sends calls as one JSON-RPC batch and fills in each call's Result or
// Err. It returns an error only when the batch as a whole failed.
func (c *Client) CallBatch(ctx context.Context, calls []BatchCall) error {
	if len(calls) == 0 {
		return nil
	}
	reqs := make([]clientRequest, len(calls))
	byID := make(map[uint64]int, len(calls))
	for i, call := range calls {
		req, err := c.newRequest(call.Method, call.Params)
		if err != nil {
			return err
		}
		reqs[i] = req
		byID[req.ID] = i
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return fmt.Errorf("rpc: encode batch: %w", err)
	}
	data, err := c.post(ctx, body)
	if err != nil {
		return err
	}
	var replies []clientReply
	if err := json.Unmarshal(data, &replies); err != nil {
		return fmt.Errorf("rpc: batch reply from %s is not a JSON-RPC batch: %w", c.shownURL, err)
	}
	answered := make([]bool, len(calls))
	for _, r := range replies {
		var id uint64
		if err := json.Unmarshal(r.ID, &id); err != nil {
			continue
		}
		i, ok := byID[id]
		if !ok || answered[i] {
			continue
		}
		answered[i] = true
		calls[i].Err = r.decode(calls[i].Method, calls[i].Result)
	}
	for i := range calls {
		if !answered[i] {
			calls[i].Err = fmt.Errorf("rpc: %s: no reply in the batch", calls[i].Method)
		}
	}
	return nil
}

func (c *Client) newRequest(method string, params any) (clientRequest, error) {
	raw, err := rpc.EncodeParams(method, params)
	return clientRequest{JSONRPC: "2.0", ID: c.nextID.Add(1), Method: method, Params: raw}, err
}

// post sends one request body and returns the reply body of a 200 response.
func (c *Client) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rpc: bad node URL %q: %w", c.shownURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch {
	case c.cookiePath != "":
		user, password, err := rpc.ReadCookie(c.cookiePath)
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(user, password)
	case c.user != "":
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxReply+1))
	if err != nil {
		return nil, fmt.Errorf("rpc: read reply from %s: %w", c.shownURL, err)
	}
	if int64(len(data)) > c.maxReply {
		return nil, fmt.Errorf("rpc: reply from %s is over %d bytes", c.shownURL, c.maxReply)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return data, nil
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("rpc: node at %s refused the credentials (HTTP 401); check the cookie file or the RPC user and password", c.shownURL)
	}
	// A legacy-style server answers errors with 4xx/5xx and the error in the body.
	var reply clientReply
	if json.Unmarshal(data, &reply) == nil && reply.Error != nil {
		return nil, reply.Error
	}
	return nil, fmt.Errorf("rpc: node at %s answered HTTP %d: %s", c.shownURL, resp.StatusCode, rpc.Clip(strings.TrimSpace(string(data))))
}

// transportError explains a request that got no HTTP reply. A refused or failed
// connection is the usual mistake of a user (node not running, wrong network or
// port), so it says so in words.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("rpc: call to %s: %w", c.shownURL, ctx.Err())
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		cause := opErr.Err
		var sysErr *os.SyscallError
		if errors.As(cause, &sysErr) {
			cause = sysErr.Err // "connection refused" rather than "connect: connection refused"
		}
		return fmt.Errorf("cannot reach node at %s: %w; is the node running on that network and port?", c.shownURL, cause)
	}
	return fmt.Errorf("rpc: call to %s: %w", c.shownURL, err)
}
