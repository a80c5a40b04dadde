package web

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/quarrychain/quarry/chain"
)

// Core's bounds on one REST request.
const (
	maxRESTHeaders    = 2000 // MAX_REST_HEADERS_RESULTS
	maxGetUtxos       = 15   // MAX_GETUTXOS_OUTPOINTS
	defaultHeaderRead = 5
)

// restEndpoint names what a REST path asks for.
type restEndpoint int

const (
	restChainInfo restEndpoint = iota
	restBlock
	restBlockNoTxDetails
	restHeaders
	restBlockHashByHeight
	restTx
	restMempoolInfo
	restMempoolContents
	restGetUtxos
	restAddress
)

// restFormat is the output format a path ends in; formatUndef when it ends in
// none Core knows.
type restFormat string

const (
	formatUndef restFormat = ""
	formatJSON  restFormat = "json"
	formatBin   restFormat = "bin"
	formatHex   restFormat = "hex"
)

// restRequest is a REST path and query, parsed and checked: a handler gets
// one only when its every parameter is valid.
type restRequest struct {
	endpoint restEndpoint
	format   restFormat
	// param is the path's parameter as given (format stripped), which Core
	// repeats in its "not found" messages.
	param string

	hash         chain.Hash
	count        int   // restHeaders
	height       int32 // restBlockHashByHeight
	outpoints    []chain.OutPoint
	checkMempool bool
	verbose      bool // restMempoolContents: txids only when false
	page         int  // restAddress
}

// restError is a refusal with Core's status and plain-text message.
type restError struct {
	status int
	msg    string
	cause  error // of a 500: logged, not shown
}

func (e *restError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func badRequest(format string, args ...any) *restError {
	return &restError{status: 400, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *restError {
	return &restError{status: 404, msg: fmt.Sprintf(format, args...)}
}

const (
	allFormats = ".bin, .hex, .json"
	jsonOnly   = "json"
)

// formatNotFound is Core's answer to a known object asked for in a format the
// endpoint does not offer.
func formatNotFound(available string) *restError {
	return notFound("output format not found (available: %s)", available)
}

// parseDataFormat splits "x.json" into "x" and its format, as Core's
// ParseDataFormat does: an unknown or missing suffix leaves the parameter
// whole and the format undefined.
func parseDataFormat(part string) (string, restFormat) {
	dot := strings.LastIndexByte(part, '.')
	if dot < 0 {
		return part, formatUndef
	}
	switch f := restFormat(part[dot+1:]); f {
	case formatJSON, formatBin, formatHex:
		return part[:dot], f
	}
	return part, formatUndef
}

// parseRESTRequest parses a path under /rest/ and its query into a request,
// or returns the error Core answers for it. It is the one place that reads
// untrusted bytes of a REST request, and it is fuzzed.
func parseRESTRequest(path string, query url.Values) (restRequest, *restError) {
	rest, ok := strings.CutPrefix(path, "/rest/")
	if !ok {
		return restRequest{}, notFound("Not found")
	}
	type prefix struct {
		text     string
		endpoint restEndpoint
	}
	// Longest prefixes first: block/notxdetails/ before block/.
	for _, p := range []prefix{
		{"chaininfo", restChainInfo},
		{"block/notxdetails/", restBlockNoTxDetails},
		{"block/", restBlock},
		{"headers/", restHeaders},
		{"blockhashbyheight/", restBlockHashByHeight},
		{"tx/", restTx},
		{"mempool/", restMempoolInfo},
		{"getutxos", restGetUtxos},
		{"address/", restAddress},
	} {
		if part, ok := strings.CutPrefix(rest, p.text); ok {
			return parseEndpoint(p.endpoint, part, query)
		}
	}
	return restRequest{}, notFound("Not found")
}

func parseEndpoint(ep restEndpoint, part string, query url.Values) (restRequest, *restError) {
	param, format := parseDataFormat(part)
	r := restRequest{endpoint: ep, format: format, param: param}
	var err *restError
	switch ep {
	case restChainInfo:
		if param != "" {
			return r, notFound("Not found")
		}
		err = requireFormat(format, jsonOnly)
	case restBlock, restBlockNoTxDetails, restTx:
		r.hash, err = parseHashParam(param)
		if err == nil {
			err = requireFormat(format, allFormats)
		}
	case restHeaders:
		err = r.parseHeaders(param, query)
	case restBlockHashByHeight:
		h, perr := strconv.ParseInt(param, 10, 32)
		if perr != nil || h < 0 {
			return r, badRequest("Invalid height: %s", sanitize(param))
		}
		r.height = int32(h)
		err = requireFormat(format, allFormats)
	case restMempoolInfo:
		switch param {
		case "info":
		case "contents":
			r.endpoint = restMempoolContents
		default:
			return r, badRequest("Invalid URI format. Expected /rest/mempool/<info|contents>.json")
		}
		if err = requireFormat(format, jsonOnly); err == nil && r.endpoint == restMempoolContents {
			r.verbose, err = parseMempoolContentsQuery(query)
		}
	case restGetUtxos:
		err = r.parseGetUtxos(param)
	case restAddress:
		if param == "" || strings.Contains(param, "/") {
			return r, badRequest("Invalid URI format. Expected /rest/address/<address>.json")
		}
		r.page, err = pageParam(query)
		if err == nil {
			err = requireFormat(format, jsonOnly)
		}
	}
	return r, err
}

// parseMempoolContentsQuery reads ?verbose= and ?mempool_sequence= as Core
// does: each "true" or "false", never both true. Quarry keeps no mempool
// sequence numbers, so asking for them is refused as getrawmempool refuses it.
func parseMempoolContentsQuery(query url.Values) (verbose bool, err *restError) {
	flag := func(name, def string) (bool, *restError) {
		v := def
		if query.Has(name) {
			v = query.Get(name)
		}
		if v != "true" && v != "false" {
			return false, badRequest("The \"%s\" query parameter must be either \"true\" or \"false\".", name)
		}
		return v == "true", nil
	}
	verbose, err = flag("verbose", "true")
	if err != nil {
		return false, err
	}
	sequence, err := flag("mempool_sequence", "false")
	if err != nil {
		return false, err
	}
	if sequence && verbose {
		return false, badRequest("Verbose results cannot contain mempool sequence values. (hint: set \"verbose=false\")")
	}
	if sequence {
		return false, badRequest("mempool_sequence is not supported: Quarry has no mempool sequence numbers")
	}
	return verbose, nil
}

func requireFormat(f restFormat, available string) *restError {
	if f == formatUndef {
		return formatNotFound(available)
	}
	if available == jsonOnly && f != formatJSON {
		return formatNotFound(available)
	}
	return nil
}

func parseHashParam(s string) (chain.Hash, *restError) {
	h, err := chain.ParseHash(s)
	if err != nil {
		return h, badRequest("Invalid hash: %s", sanitize(s))
	}
	return h, nil
}

// parseHeaders reads /rest/headers/<hash>?count=N and the older
// /rest/headers/<count>/<hash>, both of which Core accepts.
func (r *restRequest) parseHeaders(param string, query url.Values) *restError {
	parts := strings.Split(param, "/")
	var rawCount, hashStr string
	switch len(parts) {
	case 2:
		rawCount, hashStr = parts[0], parts[1]
	case 1:
		hashStr, rawCount = parts[0], strconv.Itoa(defaultHeaderRead)
		if query.Has("count") {
			rawCount = query.Get("count")
		}
	default:
		return badRequest("Invalid URI format. Expected /rest/headers/<hash>.<ext>?count=<count>")
	}
	n, err := strconv.ParseUint(rawCount, 10, 32)
	if err != nil || n < 1 || n > maxRESTHeaders {
		return badRequest("Header count is invalid or out of acceptable range (1-%d): %s", maxRESTHeaders, sanitize(rawCount))
	}
	r.count = int(n)
	r.param = hashStr
	var herr *restError
	if r.hash, herr = parseHashParam(hashStr); herr != nil {
		return herr
	}
	return requireFormat(r.format, allFormats)
}

// parseGetUtxos reads /rest/getutxos[/checkmempool]/<txid>-<n>/... .
func (r *restRequest) parseGetUtxos(param string) *restError {
	var parts []string
	if len(param) > 1 {
		parts = strings.Split(param[1:], "/")
	}
	if len(parts) > 0 && parts[0] == "checkmempool" {
		r.checkMempool = true
		parts = parts[1:]
	}
	if len(parts) == 0 {
		return badRequest("Error: empty request")
	}
	if len(parts) > maxGetUtxos {
		return badRequest("Error: max outpoints exceeded (max: %d, tried: %d)", maxGetUtxos, len(parts))
	}
	for _, p := range parts {
		txid, n, ok := strings.Cut(p, "-")
		if !ok || strings.Contains(n, "-") {
			return badRequest("Parse error")
		}
		h, err := chain.ParseHash(txid)
		index, nerr := strconv.ParseUint(n, 10, 32)
		if err != nil || nerr != nil {
			return badRequest("Parse error")
		}
		r.outpoints = append(r.outpoints, chain.OutPoint{TxID: h, Index: uint32(index)})
	}
	return requireFormat(r.format, allFormats)
}

// maxPage bounds page numbers so that offsets never overflow.
const maxPage = 1 << 20

// pageParam reads ?page=N, counted from 0.
func pageParam(query url.Values) (int, *restError) {
	s := query.Get("page")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxPage {
		return 0, badRequest("Invalid page: %s", sanitize(s))
	}
	return n, nil
}

// sanitize keeps what Core's SanitizeString keeps of a string echoed back:
// letters, digits and a few punctuation marks, at most 100 of them.
func sanitize(s string) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= 100 {
			break
		}
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" .,;-_/:?@()", c)) {
			b.WriteRune(c)
		}
	}
	return b.String()
}
