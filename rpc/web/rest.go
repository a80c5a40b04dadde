package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/methods"
)

// serveREST answers Bitcoin Core's REST paths under /rest/.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	req, rerr := parseRESTRequest(r.URL.Path, r.URL.Query())
	if rerr == nil {
		rerr = s.answerREST(r.Context(), w, req)
	}
	if rerr == nil {
		return
	}
	if rerr.cause != nil {
		// The cause stays in the log: it may name files of the node.
		if r.Context().Err() == nil {
			s.log.Warn("REST request failed", "path", r.URL.Path, "err", rerr.cause)
		}
		rerr = &restError{status: 500, msg: "Internal error"}
	}
	writeRESTError(w, rerr)
}

// writeRESTError answers as Core's RESTERR: the status and a plain line.
func writeRESTError(w http.ResponseWriter, e *restError) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(e.status)
	fmt.Fprintf(w, "%s\r\n", e.msg)
}

func internalError(err error) *restError { return &restError{status: 500, cause: err} }

func (s *Server) answerREST(ctx context.Context, w http.ResponseWriter, req restRequest) *restError {
	switch req.endpoint {
	case restChainInfo:
		return s.restCall(ctx, w, "getblockchaininfo", nil)
	case restBlock, restBlockNoTxDetails:
		return s.restBlock(ctx, w, req)
	case restHeaders:
		return s.restHeaders(ctx, w, req)
	case restBlockHashByHeight:
		return s.restBlockHashByHeight(w, req)
	case restTx:
		return s.restTx(ctx, w, req)
	case restMempoolInfo:
		return s.restCall(ctx, w, "getmempoolinfo", nil)
	case restMempoolContents:
		return s.restCall(ctx, w, "getrawmempool", []any{req.verbose})
	case restGetUtxos:
		return s.restGetUtxos(w, req)
	case restAddress:
		return s.restAddress(ctx, w, req)
	}
	return notFound("Not found")
}

// restCall answers with a JSON-RPC method's result, so that REST and RPC
// show one object the same way.
func (s *Server) restCall(ctx context.Context, w http.ResponseWriter, method string, params any) *restError {
	raw, err := s.cfg.RPC.Call(ctx, method, params)
	if err != nil {
		return internalError(fmt.Errorf("%s: %w", method, err))
	}
	writeJSON(w, raw)
	return nil
}

func writeJSON(w http.ResponseWriter, raw []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(raw)
	w.Write([]byte("\n"))
}

// writeBytes answers a .bin or .hex request with raw.
func writeBytes(w http.ResponseWriter, f restFormat, raw []byte) {
	if f == formatBin {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(raw)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%x\n", raw)
}

func (s *Server) restBlock(ctx context.Context, w http.ResponseWriter, req restRequest) *restError {
	info, err := s.cfg.Chain.BlockInfo(req.hash)
	if errors.Is(err, blockchain.ErrNotFound) || err == nil && !info.HaveData {
		return notFound("%s not found", req.param)
	}
	if err != nil {
		return internalError(err)
	}
	if req.format != formatJSON {
		raw, err := s.cfg.Chain.RawBlock(req.hash)
		if err != nil {
			return internalError(err)
		}
		writeBytes(w, req.format, raw)
		return nil
	}
	// Core's REST block shows every input's prevout (getblock verbosity 3).
	verbosity := 3
	if req.endpoint == restBlockNoTxDetails {
		verbosity = 1
	}
	return s.restCall(ctx, w, "getblock", []any{req.hash, verbosity})
}

// restHeaders walks the main chain up from the block asked for, as Core does:
// an unknown or stale block gives an empty list.
func (s *Server) restHeaders(ctx context.Context, w http.ResponseWriter, req restRequest) *restError {
	var infos []blockchain.BlockInfo
	for next := req.hash; len(infos) < req.count && !next.IsZero(); {
		info, err := s.cfg.Chain.BlockInfo(next)
		if errors.Is(err, blockchain.ErrNotFound) {
			break
		}
		if err != nil {
			return internalError(err)
		}
		if !info.MainChain {
			break
		}
		infos = append(infos, info)
		next = info.Next
	}
	if req.format != formatJSON {
		raw := make([]byte, 0, len(infos)*chain.HeaderSize)
		for _, info := range infos {
			h := info.Header.Encode()
			raw = append(raw, h[:]...)
		}
		writeBytes(w, req.format, raw)
		return nil
	}
	out := make([]json.RawMessage, 0, len(infos))
	for _, info := range infos {
		raw, err := s.cfg.RPC.Call(ctx, "getblockheader", []any{info.Hash, true})
		if err != nil {
			return internalError(fmt.Errorf("getblockheader: %w", err))
		}
		out = append(out, raw)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return internalError(err)
	}
	writeJSON(w, raw)
	return nil
}

func (s *Server) restBlockHashByHeight(w http.ResponseWriter, req restRequest) *restError {
	if req.height > s.cfg.Chain.Best().Height {
		return notFound("Block height out of range")
	}
	hash, err := s.cfg.Chain.BlockHashByHeight(req.height)
	if err != nil {
		// The chain got shorter since Best: a reorganisation to fewer blocks.
		return notFound("Block height out of range")
	}
	switch req.format {
	case formatJSON:
		raw, _ := json.Marshal(struct {
			BlockHash chain.Hash `json:"blockhash"`
		}{hash})
		writeJSON(w, raw)
	case formatHex:
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s\n", hash)
	default:
		writeBytes(w, req.format, hash[:])
	}
	return nil
}

// findTx looks a transaction up in the mempool, then the transaction index;
// an index that is off or behind is an error matching
// blockchain.ErrIndexUnavailable.
func (s *Server) findTx(txid chain.Hash) (*chain.Tx, bool, error) {
	if tx, ok := s.cfg.Mempool.Get(txid); ok {
		return tx, true, nil
	}
	tx, _, err := s.cfg.TxIndex.Find(txid)
	if errors.Is(err, blockchain.ErrNotFound) {
		return nil, false, nil
	}
	return tx, err == nil, err
}

// indexUnavailable answers 503, saying why, when err is an index that is off
// or behind: the index cannot tell whether what was asked for exists.
func indexUnavailable(err error) *restError {
	var ie *blockchain.IndexError
	if !errors.As(err, &ie) {
		return nil
	}
	return &restError{status: http.StatusServiceUnavailable, msg: ie.Error()}
}

func (s *Server) restTx(ctx context.Context, w http.ResponseWriter, req restRequest) *restError {
	tx, ok, err := s.findTx(req.hash)
	if rerr := indexUnavailable(err); rerr != nil {
		return rerr
	}
	if err != nil {
		return internalError(err)
	}
	if !ok {
		return notFound("%s not found", req.param)
	}
	if req.format != formatJSON {
		writeBytes(w, req.format, tx.Encode())
		return nil
	}
	raw, err := s.cfg.RPC.Call(ctx, "getrawtransaction", []any{req.hash, 1})
	if err != nil {
		return internalError(fmt.Errorf("getrawtransaction: %w", err))
	}
	// Core's REST shows the transaction and its block hash only: the
	// confirmations and times are getrawtransaction's additions.
	var res methods.TxResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return internalError(fmt.Errorf("getrawtransaction: %w", err))
	}
	res.Confirmations, res.Time, res.BlockTime = nil, 0, 0
	if raw, err = json.Marshal(res); err != nil {
		return internalError(err)
	}
	writeJSON(w, raw)
	return nil
}

// mempoolHeight is the height Core gives outputs of mempool transactions in
// getutxos (MEMPOOL_HEIGHT).
const mempoolHeight = 0x7fffffff

// utxoResult is one found output of getutxos, as Core's JSON shows it.
type utxoResult struct {
	Height       uint32                     `json:"height"`
	Value        rpc.Amount                 `json:"value"`
	ScriptPubKey methods.ScriptPubKeyResult `json:"scriptPubKey"`
}

type getUtxosResult struct {
	ChainHeight  int32        `json:"chainHeight"`
	ChaintipHash chain.Hash   `json:"chaintipHash"`
	Bitmap       string       `json:"bitmap"`
	Utxos        []utxoResult `json:"utxos"`
}

// restGetUtxos answers Core's getutxos (BIP 64): which of the outpoints are
// unspent, at the tip or, with checkmempool, once the mempool is applied.
func (s *Server) restGetUtxos(w http.ResponseWriter, req restRequest) *restError {
	best := s.cfg.Chain.Best()
	res := getUtxosResult{ChainHeight: best.Height, ChaintipHash: best.Hash, Utxos: []utxoResult{}}
	bitmap := make([]byte, (len(req.outpoints)+7)/8)
	var bits []byte
	var outs []chain.TxOut
	for i, op := range req.outpoints {
		out, height, ok, err := s.unspent(op, req.checkMempool)
		if err != nil {
			return internalError(err)
		}
		bit := byte('0')
		if ok {
			bit = '1'
			bitmap[i/8] |= 1 << (i % 8)
			outs = append(outs, out)
			res.Utxos = append(res.Utxos, utxoResult{Height: height, Value: rpc.Amount(out.Value),
				ScriptPubKey: methods.ScriptPubKey(out.PubKeyHash, s.params)})
		}
		bits = append(bits, bit)
	}
	res.Bitmap = string(bits)
	if req.format == formatJSON {
		raw, err := json.Marshal(res)
		if err != nil {
			return internalError(err)
		}
		writeJSON(w, raw)
		return nil
	}
	writeBytes(w, req.format, encodeGetUtxos(best, bitmap, res.Utxos, outs))
	return nil
}

// unspent finds an unspent output in the UTXO set or, with mempool, among the
// mempool's outputs, and reports outputs the mempool spends as spent.
func (s *Server) unspent(op chain.OutPoint, mempool bool) (chain.TxOut, uint32, bool, error) {
	if mempool {
		if _, spent := s.cfg.Mempool.HaveSpent(op); spent {
			return chain.TxOut{}, 0, false, nil
		}
	}
	e, err := s.cfg.Chain.FetchUtxo(op)
	if err != nil && !errors.Is(err, blockchain.ErrNotFound) {
		return chain.TxOut{}, 0, false, err
	}
	if e != nil {
		return chain.TxOut{Value: e.Value, PubKeyHash: e.PubKeyHash}, uint32(e.Height), true, nil
	}
	if mempool {
		if tx, ok := s.cfg.Mempool.Get(op.TxID); ok && int(op.Index) < len(tx.Outputs) {
			return tx.Outputs[op.Index], mempoolHeight, true, nil
		}
	}
	return chain.TxOut{}, 0, false, nil
}

// encodeGetUtxos is Core's binary getutxos answer: chain height, tip hash,
// the bitmap, then each unspent output as a CCoin (a zero version, height,
// value and script, the script being P2WPKH's OP_0 <20-byte hash>).
func encodeGetUtxos(best blockchain.BestState, bitmap []byte, utxos []utxoResult, outs []chain.TxOut) []byte {
	var b bytes.Buffer
	b.Write(binary.LittleEndian.AppendUint32(nil, uint32(best.Height)))
	b.Write(best.Hash[:])
	b.Write(chain.AppendCompactSize(nil, uint64(len(bitmap))))
	b.Write(bitmap)
	b.Write(chain.AppendCompactSize(nil, uint64(len(outs))))
	for i, out := range outs {
		b.Write(binary.LittleEndian.AppendUint32(nil, 0))
		b.Write(binary.LittleEndian.AppendUint32(nil, utxos[i].Height))
		b.Write(binary.LittleEndian.AppendUint64(nil, out.Value))
		script, _ := hex.DecodeString(utxos[i].ScriptPubKey.Hex)
		b.Write(chain.AppendCompactSize(nil, uint64(len(script))))
		b.Write(script)
	}
	return b.Bytes()
}

// addressResult is /rest/address/<address>.json: the balance and one page of
// the unspent outputs and of the history, newest first, amounts in base
// units as the address-index RPCs give them.
type addressResult struct {
	Address   string              `json:"address"`
	Balance   uint64              `json:"balance"`
	UtxoCount int                 `json:"utxo_count"`
	TxCount   int                 `json:"tx_count"`
	Page      int                 `json:"page"`
	PageSize  int                 `json:"page_size"`
	Utxos     []addressUtxoResult `json:"utxos"`
	Txs       []addressTxResult   `json:"txs"`
}

type addressUtxoResult struct {
	TxID   chain.Hash `json:"txid"`
	Vout   uint32     `json:"vout"`
	Value  uint64     `json:"value"`
	Height int32      `json:"height"`
}

type addressTxResult struct {
	TxID   chain.Hash `json:"txid"`
	Height int32      `json:"height"`
}

func (s *Server) restAddress(ctx context.Context, w http.ResponseWriter, req restRequest) *restError {
	d, err := s.address(req.param)
	if errors.Is(err, errBadAddress) {
		return badRequest("Invalid address: %s", sanitize(req.param))
	}
	if errors.Is(err, indexers.ErrHistoryTooLong) {
		return badRequest("Address %s has more than %d transactions, more than REST lists; the RPC's getaddresstxids lists them",
			sanitize(req.param), s.cfg.MaxAddressTxs)
	}
	if rerr := indexUnavailable(err); rerr != nil {
		return rerr
	}
	if err != nil {
		return internalError(err)
	}
	if err := ctx.Err(); err != nil {
		return internalError(err)
	}
	res := addressResult{Address: d.Address, Balance: d.Balance, UtxoCount: len(d.Utxos), TxCount: len(d.Txs),
		Page: req.page, PageSize: addressPerPage, Utxos: []addressUtxoResult{}, Txs: []addressTxResult{}}
	utxos, _ := pageOf(d.Utxos, req.page, addressPerPage)
	for _, u := range utxos {
		res.Utxos = append(res.Utxos, addressUtxoResult{TxID: u.OutPoint.TxID, Vout: u.OutPoint.Index, Value: u.Value, Height: u.Height})
	}
	txs, _ := pageOf(d.Txs, req.page, addressPerPage)
	for _, t := range txs {
		res.Txs = append(res.Txs, addressTxResult{TxID: t.TxID, Height: t.Height})
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return internalError(err)
	}
	writeJSON(w, raw)
	return nil
}
