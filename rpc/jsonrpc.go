package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// request is one parsed JSON-RPC request object.
type request struct {
	v2     bool            // "jsonrpc":"2.0": reply without the null member, always HTTP 200
	id     json.RawMessage // nil when the request has none (a 2.0 notification)
	method string
	params json.RawMessage // an array, an object, or nil
}

func (q *request) notification() bool { return q.v2 && q.id == nil }

// decodeBody splits a request body into request objects, as Core reads it: a single
// object or a non-empty array of them.
func decodeBody(body []byte) (elems []json.RawMessage, batch bool, e *Error) {
	if !json.Valid(body) {
		return nil, false, Errorf(CodeParse, "Parse error")
	}
	switch JSONKind(body) {
	case "object":
		return []json.RawMessage{body}, false, nil
	case "array":
		if err := json.Unmarshal(body, &elems); err != nil {
			return nil, false, Errorf(CodeParse, "Parse error")
		}
		if len(elems) == 0 {
			// JSON-RPC 2.0 makes an empty batch an invalid request. (Core answers [].)
			return nil, true, Errorf(CodeInvalidRequest, "Empty batch")
		}
		return elems, true, nil
	default:
		return nil, false, Errorf(CodeParse, "Top-level object parse error")
	}
}

// parseRequest checks one request object as Core's JSONRPCRequest::parse does. On
// error the returned request still carries the id and version read so far, so the
// error reply can echo them.
func parseRequest(raw json.RawMessage) (request, *Error) {
	var q request
	var fields map[string]json.RawMessage
	if JSONKind(raw) != "object" || json.Unmarshal(raw, &fields) != nil {
		return q, Errorf(CodeInvalidRequest, "Invalid Request object")
	}
	q.id = fields["id"] // nil when absent; an explicit null is an id
	if v, ok := fields["jsonrpc"]; ok && JSONKind(v) != "null" {
		var version string
		if JSONKind(v) != "string" || json.Unmarshal(v, &version) != nil {
			return q, Errorf(CodeInvalidRequest, "jsonrpc field must be a string")
		}
		switch version {
		case "2.0":
			q.v2 = true
		case "1.0": // older documentation told clients to send it
		default:
			return q, Errorf(CodeInvalidRequest, "JSON-RPC version not supported")
		}
	}
	m, ok := fields["method"]
	if !ok {
		return q, Errorf(CodeInvalidRequest, "Missing method")
	}
	if JSONKind(m) != "string" || json.Unmarshal(m, &q.method) != nil {
		return q, Errorf(CodeInvalidRequest, "Method must be a string")
	}
	if p, ok := fields["params"]; ok {
		switch JSONKind(p) {
		case "array", "object":
			q.params = p
		case "null":
		default:
			return q, Errorf(CodeInvalidRequest, "Params must be an array or object")
		}
	}
	return q, nil
}

// appendReply appends the reply to q in Core's layout: 2.0 replies carry "jsonrpc"
// and only one of result and error, legacy replies both; all carry an id.
func appendReply(buf []byte, q request, result json.RawMessage, e *Error) []byte {
	buf = append(buf, '{')
	if q.v2 {
		buf = append(buf, `"jsonrpc":"2.0",`...)
	}
	if e == nil {
		if result == nil {
			result = json.RawMessage("null")
		}
		buf = append(buf, `"result":`...)
		buf = append(buf, result...)
		if !q.v2 {
			buf = append(buf, `,"error":null`...)
		}
	} else {
		if !q.v2 {
			buf = append(buf, `"result":null,`...)
		}
		errJSON, _ := json.Marshal(e) // two plain fields: cannot fail
		buf = append(buf, `"error":`...)
		buf = append(buf, errJSON...)
	}
	// Only 2.0 notifications lack an id, and they get a reply only when they are
	// not even a valid request; JSON-RPC 2.0 says to answer those with a null id.
	id := q.id
	if id == nil {
		id = json.RawMessage("null")
	}
	buf = append(buf, `,"id":`...)
	buf = append(buf, id...)
	return append(buf, '}')
}

// httpStatus is the status Core gives a legacy request that failed with e.
func httpStatus(e *Error) int {
	switch e.Code {
	case CodeInvalidRequest, CodeParse:
		return http.StatusBadRequest
	case CodeMethodNotFound:
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

// process answers a request body. It returns 204 and no body when nothing needs an
// answer (notifications). It knows nothing of HTTP beyond the status, which keeps
// it fuzzable on its own.
func (s *Server) process(ctx context.Context, body []byte) (status int, reply []byte) {
	elems, batch, e := decodeBody(body)
	if e != nil {
		s.metrics.observe(methodLabelInvalid, e)
		return httpStatus(e), append(appendReply(nil, request{}, nil, e), '\n')
	}
	if !batch {
		q, e := parseRequest(elems[0])
		var result json.RawMessage
		if e == nil {
			result, e = s.exec(ctx, q)
			if q.notification() {
				return http.StatusNoContent, nil
			}
		} else {
			s.metrics.observe(methodLabelInvalid, e)
		}
		status = http.StatusOK
		if e != nil && !q.v2 {
			status = httpStatus(e)
		}
		return status, append(appendReply(nil, q, result, e), '\n')
	}
	// Batch elements run one after the other, as in Core, and the batch as a whole
	// is a success at the HTTP level.
	reply = append(reply, '[')
	n := 0
	for _, elem := range elems {
		q, e := parseRequest(elem)
		var result json.RawMessage
		if e == nil {
			result, e = s.exec(ctx, q)
			if q.notification() {
				continue
			}
		} else {
			s.metrics.observe(methodLabelInvalid, e)
		}
		if n > 0 {
			reply = append(reply, ',')
		}
		reply = appendReply(reply, q, result, e)
		n++
	}
	if n == 0 {
		return http.StatusNoContent, nil
	}
	return http.StatusOK, append(reply, ']', '\n')
}

// exec runs one well-formed request and returns its encoded result or its error.
func (s *Server) exec(ctx context.Context, q request) (json.RawMessage, *Error) {
	m := s.reg.lookup(q.method)
	if m == nil {
		e := Errorf(CodeMethodNotFound, "Method not found")
		s.metrics.observe(methodLabelUnknown, e)
		return nil, e
	}
	start := time.Now()
	result, e := invoke(ctx, s.log, m, q.params)
	s.metrics.observe(m.Name, e)
	if e != nil {
		s.log.Debug("RPC call failed", "method", m.Name, "code", e.Code, "error", e.Message,
			"duration", time.Since(start))
	} else {
		s.log.Debug("RPC call", "method", m.Name, "duration", time.Since(start))
	}
	return result, e
}

// invoke binds rawParams to m's parameters, runs its handler and encodes the
// result, turning every failure into the *Error the caller gets.
func invoke(ctx context.Context, log *slog.Logger, m *Method, rawParams json.RawMessage) (result json.RawMessage, e *Error) {
	p, e := bindParams(m, rawParams)
	if e != nil {
		return nil, e
	}
	defer func() {
		// A bug in one method must not take the node down, nor show the caller
		// anything of the node's insides: the stack goes to the log only.
		if v := recover(); v != nil {
			log.Error("RPC handler panicked", "method", m.Name, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			result, e = nil, Errorf(CodeInternal, "Internal error")
		}
	}()
	value, err := m.Handler(ctx, p)
	if p.err != nil {
		return nil, p.err
	}
	if err != nil {
		var rpcErr *Error
		if errors.As(err, &rpcErr) && rpcErr != nil {
			return nil, rpcErr
		}
		return nil, &Error{Code: CodeMisc, Message: err.Error()}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // help text and messages stay readable to curl users
	if err := enc.Encode(value); err != nil {
		log.Error("RPC result does not encode", "method", m.Name, "error", err)
		return nil, Errorf(CodeInternal, "Internal error: result does not encode")
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// EncodeParams encodes the params of a call as a request carries them: nil, a
// slice (positional) or a map or struct (named). The client and Registry.Call
// share it, so that a call in process binds exactly as one over HTTP.
func EncodeParams(method string, params any) (json.RawMessage, error) {
	if params == nil {
		return nil, nil
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("rpc: encode %s params: %w", method, err)
	}
	switch JSONKind(raw) {
	case "array", "object":
		return raw, nil
	case "null": // a nil slice or map: no parameters
		return nil, nil
	default:
		return nil, fmt.Errorf("rpc: %s params must be a slice (positional) or a map or struct (named), not %T", method, params)
	}
}
