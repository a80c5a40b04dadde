package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
	"github.com/quarrychain/quarry/chain/indexers"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/p2p"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates, each rendered inside layout.html.
var pageNames = []string{"dashboard", "blocks", "block", "tx", "address", "mempool", "peers", "notfound"}

type pageSet map[string]*template.Template

func newPages() (pageSet, error) {
	set := make(pageSet)
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		set[name] = t
	}
	return set, nil
}

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static") // the directory is embedded: cannot fail
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The assets are files only; no directory is listed.
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// page is what layout.html renders around a page's body.
type page struct {
	Title   string
	Network string
	Nav     string // the menu entry to highlight
	Live    string // what a new event refreshes: "block", "tx" or ""
	Body    any
}

// pager is the links under a paged list.
type pager struct {
	Page       int
	HasNext    bool
	Base       string // URL up to the page parameter, ending in ? or &
	TotalPages int    // 0 when unknown
}

func (p pager) Prev() string { return p.Base + "page=" + strconv.Itoa(p.Page-1) }
func (p pager) Next() string { return p.Base + "page=" + strconv.Itoa(p.Page+1) }

// Number is the page counted from 1, as people count.
func (p pager) Number() int { return p.Page + 1 }

func pagerFor(base string, page, total, size int) pager {
	return pager{Page: page, Base: base, HasNext: (page+1)*size < total, TotalPages: max(1, (total+size-1)/size)}
}

// errNotFound makes a page answer 404 with its message.
type errNotFound string

func (e errNotFound) Error() string { return string(e) }

// pageHandler renders one page; render returns the page or an error.
type pageHandler func(w http.ResponseWriter, r *http.Request) (page, string, error)

func (s *Server) routePages(mux *http.ServeMux, pages pageSet, bounded func(http.HandlerFunc) http.Handler) {
	handle := func(pattern string, h pageHandler) {
		mux.Handle(pattern, bounded(func(w http.ResponseWriter, r *http.Request) {
			p, name, err := h(w, r)
			s.render(w, r, pages, p, name, err)
		}))
	}
	mux.Handle("GET /{$}", bounded(func(w http.ResponseWriter, r *http.Request) {
		// The dashboard is the page everyone opens and the live updates
		// fetch: rendered once per tip and second.
		html, err := cached(s.cache, "page:dashboard", time.Second, func() ([]byte, error) {
			p, err := s.dashboardPage(r.Context())
			if err != nil {
				return nil, err
			}
			return execute(pages["dashboard"], p)
		})
		if err != nil {
			s.render(w, r, pages, page{}, "", err)
			return
		}
		writeHTML(w, http.StatusOK, html)
	}))
	handle("GET /blocks", s.blocksPage)
	handle("GET /block/{hash}", s.blockPage)
	handle("GET /tx/{txid}", s.txPage)
	handle("GET /address/{addr}", s.addressPage)
	handle("GET /mempool", s.mempoolPage)
	handle("GET /peers", s.peersPage)
	handle("GET /search", s.search)
}

func execute(t *template.Template, p page) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return buf.Bytes(), nil
}

func writeHTML(w http.ResponseWriter, status int, html []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(html)
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, pages pageSet, p page, name string, err error) {
	status := http.StatusOK
	var nf errNotFound
	var ie *blockchain.IndexError
	switch {
	case errors.As(err, &nf):
		status, name = http.StatusNotFound, "notfound"
		p = page{Title: "Not found", Body: string(nf)}
	case errors.As(err, &ie):
		status, name = http.StatusServiceUnavailable, "notfound"
		p = page{Title: "Index not available", Body: "The node's " + ie.Error() + "."}
	case errors.Is(err, indexers.ErrHistoryTooLong):
		status, name = http.StatusBadRequest, "notfound"
		p = page{Title: "Too many transactions", Body: fmt.Sprintf("This address has more than %d transactions, more than the explorer lists. "+
			"The node's RPC lists them all: getaddresstxids, getaddressutxos, getaddressbalance.", s.cfg.MaxAddressTxs)}
	case err != nil:
		if r.Context().Err() == nil {
			s.log.Warn("web page", "path", r.URL.Path, "err", err)
		}
		// The cause stays in the log: it may name files of the node.
		status, name = http.StatusInternalServerError, "notfound"
		p = page{Title: "Error", Body: "The node could not answer this request; its log says why."}
	}
	if name == "" { // a redirect was written
		return
	}
	p.Network = s.params.Name
	html, rerr := execute(pages[name], p)
	if rerr != nil {
		s.log.Error("web template", "page", name, "err", rerr)
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	writeHTML(w, status, html)
}

func pageNumber(r *http.Request) (int, error) {
	n, rerr := pageParam(r.URL.Query())
	if rerr != nil {
		return 0, errNotFound(rerr.msg)
	}
	return n, nil
}

type dashboardView struct {
	Status  chainStatus
	Tip     blockSummary
	Pool    mempool.Info
	Peers   int
	Latest  []blockSummary
	Charts  []chartSeries
	FeeHist chartSeries
}

func (s *Server) dashboardPage(ctx context.Context) (page, error) {
	st, err := s.chainStatus(ctx)
	if err != nil {
		return page{}, err
	}
	recent, err := s.mainChainBlocks(ctx, st.Blocks, recentBlocks+1)
	if err != nil {
		return page{}, err
	}
	v := dashboardView{Status: st, Pool: s.cfg.Mempool.Info(), Latest: recent[:min(10, len(recent))]}
	if len(recent) > 0 {
		v.Tip = recent[0]
	}
	if s.cfg.Network != nil {
		v.Peers = len(s.cfg.Network.Peers())
	}
	v.Charts = recentCharts(recent)
	entries, err := s.poolEntries()
	if err != nil {
		return page{}, err
	}
	v.FeeHist = feeRateHistogram(entries)
	return page{Title: "Dashboard", Network: s.params.Name, Nav: "dashboard", Live: "tx", Body: v}, nil
}

// recentCharts draws the last blocks, oldest first: interval, difficulty,
// transactions and fees.
func recentCharts(newestFirst []blockSummary) []chartSeries {
	interval := chartSeries{Title: "Block interval (s)"}
	difficulty := chartSeries{Title: "Difficulty", Line: true}
	txs := chartSeries{Title: "Transactions per block"}
	fees := chartSeries{Title: "Fees per block (QRY)"}
	// The oldest block is there only for the first interval.
	for i := len(newestFirst) - 2; i >= 0; i-- {
		b, parent := newestFirst[i], newestFirst[i+1]
		h := "#" + strconv.Itoa(int(b.Height))
		gap := float64(b.Time - parent.Time)
		interval.Values = append(interval.Values, max(gap, 0))
		interval.Labels = append(interval.Labels, fmt.Sprintf("%s: %.0f s", h, gap))
		difficulty.Values = append(difficulty.Values, b.Difficulty)
		difficulty.Labels = append(difficulty.Labels, h+": "+formatDifficulty(b.Difficulty))
		txs.Values = append(txs.Values, float64(b.NTx))
		txs.Labels = append(txs.Labels, fmt.Sprintf("%s: %d txs", h, b.NTx))
		fees.Values = append(fees.Values, float64(b.Fees)/chain.Coin)
		fees.Labels = append(fees.Labels, h+": "+formatQRY(b.Fees))
	}
	if len(newestFirst) > 1 {
		from, to := fmt.Sprintf("#%d", newestFirst[len(newestFirst)-2].Height), fmt.Sprintf("#%d", newestFirst[0].Height)
		for _, c := range []*chartSeries{&interval, &difficulty, &txs, &fees} {
			c.From, c.To = from, to
		}
	}
	interval.Max = fmt.Sprintf("max %.0f s", maxOf(interval.Values))
	difficulty.Max = "max " + formatDifficulty(maxOf(difficulty.Values))
	txs.Max = fmt.Sprintf("max %.0f", maxOf(txs.Values))
	fees.Max = "max " + formatQRY(uint64(maxOf(fees.Values)*chain.Coin))
	return []chartSeries{interval, difficulty, txs, fees}
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// feeRateBuckets are the lower bounds of the histogram's fee-rate bands, in
// base units per byte.
var feeRateBuckets = []float64{1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000}

// feeRateHistogram shows the mempool's bytes by fee-rate band.
func feeRateHistogram(entries []mempool.Entry) chartSeries {
	c := chartSeries{Title: "Mempool bytes by fee rate (units/byte)", Values: make([]float64, len(feeRateBuckets)),
		From: fmt.Sprintf("%g u/B", feeRateBuckets[0]), To: fmt.Sprintf("≥ %g u/B", feeRateBuckets[len(feeRateBuckets)-1])}
	for _, e := range entries {
		if e.Size == 0 {
			continue
		}
		rate := float64(e.Fee) / float64(e.Size)
		i := 0
		for i+1 < len(feeRateBuckets) && rate >= feeRateBuckets[i+1] {
			i++
		}
		c.Values[i] += float64(e.Size)
	}
	for i, lo := range feeRateBuckets {
		band := fmt.Sprintf("≥ %g u/B", lo)
		if i+1 < len(feeRateBuckets) {
			band = fmt.Sprintf("%g–%g u/B", lo, feeRateBuckets[i+1])
		}
		c.Labels = append(c.Labels, fmt.Sprintf("%s: %s", band, formatBytes(int(c.Values[i]))))
	}
	c.Max = "max " + formatBytes(int(maxOf(c.Values)))
	return c
}

type blocksView struct {
	Blocks []blockSummary
	Pager  pager
}

func (s *Server) blocksPage(_ http.ResponseWriter, r *http.Request) (page, string, error) {
	n, err := pageNumber(r)
	if err != nil {
		return page{}, "", err
	}
	best := s.cfg.Chain.Best()
	top := int64(best.Height) - int64(n)*blocksPerPage
	if top < 0 && n > 0 {
		return page{}, "", errNotFound("There are not that many blocks.")
	}
	blocks, err := s.mainChainBlocks(r.Context(), int32(top), blocksPerPage)
	if err != nil {
		return page{}, "", err
	}
	v := blocksView{Blocks: blocks, Pager: pagerFor("/blocks?", n, int(best.Height)+1, blocksPerPage)}
	return page{Title: "Blocks", Nav: "blocks", Live: "block", Body: v}, "blocks", nil
}

type blockTxRow struct {
	TxID     chain.Hash
	Index    int
	Coinbase bool
	Inputs   int
	Outputs  int
	Out      uint64
	Size     int
}

type blockView struct {
	Info          blockchain.BlockInfo
	Summary       blockSummary
	Confirmations int64
	Subsidy       uint64
	Txs           []blockTxRow
	Pager         pager
}

func (s *Server) blockPage(_ http.ResponseWriter, r *http.Request) (page, string, error) {
	hash, err := chain.ParseHash(r.PathValue("hash"))
	if err != nil {
		return page{}, "", errNotFound("That is not a block hash.")
	}
	n, err := pageNumber(r)
	if err != nil {
		return page{}, "", err
	}
	info, err := s.cfg.Chain.BlockInfo(hash)
	if errors.Is(err, blockchain.ErrNotFound) || err == nil && !info.HaveData {
		return page{}, "", errNotFound("This node does not have block " + hash.String() + ".")
	}
	if err != nil {
		return page{}, "", err
	}
	b, err := s.cfg.Chain.BlockByHash(hash)
	if err != nil {
		return page{}, "", err
	}
	sum, err := s.summarize(info)
	if err != nil {
		return page{}, "", err
	}
	v := blockView{Info: info, Summary: sum, Subsidy: s.params.Subsidy(info.Height), Confirmations: -1,
		Pager: pagerFor("/block/"+hash.String()+"?", n, len(b.Txs), txsPerPage)}
	if info.MainChain {
		v.Confirmations = int64(s.cfg.Chain.Best().Height) - int64(info.Height) + 1
	}
	start := min(n*txsPerPage, len(b.Txs))
	txs, _ := pageOf(b.Txs, n, txsPerPage)
	for i, tx := range txs {
		out, _ := tx.TotalOut()
		v.Txs = append(v.Txs, blockTxRow{TxID: tx.TxID(), Index: start + i, Coinbase: start+i == 0,
			Inputs: len(tx.Inputs), Outputs: len(tx.Outputs), Out: out, Size: tx.SerializeSize()})
	}
	return page{Title: fmt.Sprintf("Block %d", info.Height), Nav: "blocks", Body: v}, "block", nil
}

type txInputRow struct {
	PrevOut  chain.OutPoint
	Coinbase bool
	Known    bool
	Value    uint64
	Address  string
}

type txOutputRow struct {
	Index   int
	Value   uint64
	Address string
	Status  string // unspent, spent, spent-unconfirmed
}

type txView struct {
	TxID          chain.Hash
	Tx            *chain.Tx
	InMempool     bool
	Block         *blockchain.BlockInfo
	Confirmations int64
	Size          int
	Fee           uint64
	FeeKnown      bool
	TotalOut      uint64
	Inputs        []txInputRow
	Outputs       []txOutputRow
	Pager         pager // over inputs and outputs alike
}

func (s *Server) txPage(_ http.ResponseWriter, r *http.Request) (page, string, error) {
	txid, err := chain.ParseHash(r.PathValue("txid"))
	if err != nil {
		return page{}, "", errNotFound("That is not a transaction id.")
	}
	n, err := pageNumber(r)
	if err != nil {
		return page{}, "", err
	}
	v := txView{TxID: txid}
	if tx, ok := s.cfg.Mempool.Get(txid); ok {
		v.Tx, v.InMempool = tx, true
	} else {
		tx, loc, err := s.cfg.TxIndex.Find(txid)
		// An index that is off or behind is no answer: render says so (503).
		if errors.Is(err, blockchain.ErrNotFound) {
			return page{}, "", errNotFound("No transaction " + txid.String() + " in the mempool or the transaction index.")
		}
		if err != nil {
			return page{}, "", err
		}
		info, err := s.cfg.Chain.BlockInfo(loc.Block)
		if err != nil {
			return page{}, "", err
		}
		v.Tx, v.Block = tx, &info
		if info.MainChain {
			v.Confirmations = int64(s.cfg.Chain.Best().Height) - int64(info.Height) + 1
		}
	}
	tx := v.Tx
	v.Size = tx.SerializeSize()
	v.TotalOut, _ = tx.TotalOut()
	v.Pager = pagerFor("/tx/"+txid.String()+"?", n, max(len(tx.Inputs), len(tx.Outputs)), ioPerPage)
	funding := make(map[chain.Hash]*chain.Tx)
	prevout := func(op chain.OutPoint) (chain.TxOut, bool, error) {
		f, seen := funding[op.TxID]
		if !seen {
			// Without the transaction index, or with it behind, the
			// output stays unknown.
			var err error
			if f, _, err = s.findTx(op.TxID); err != nil && !errors.Is(err, blockchain.ErrIndexUnavailable) {
				return chain.TxOut{}, false, err
			}
			funding[op.TxID] = f
		}
		if f == nil || int(op.Index) >= len(f.Outputs) {
			return chain.TxOut{}, false, nil
		}
		return f.Outputs[op.Index], true, nil
	}
	coinbase := tx.IsCoinbase()
	ins, _ := pageOf(tx.Inputs, n, ioPerPage)
	for _, in := range ins {
		row := txInputRow{PrevOut: in.PrevOut, Coinbase: coinbase}
		if !coinbase {
			out, ok, err := prevout(in.PrevOut)
			if err != nil {
				return page{}, "", err
			}
			if ok {
				row.Known, row.Value, row.Address = true, out.Value, s.params.EncodeAddress(out.PubKeyHash)
			}
		}
		v.Inputs = append(v.Inputs, row)
	}
	// The fee needs every input's value: bounded, so a transaction of
	// thousands of inputs shows its fee as unknown rather than stalling.
	if !coinbase && len(tx.Inputs) <= maxFeeResolving {
		var in uint64
		v.FeeKnown = true
		for _, txin := range tx.Inputs {
			if err := r.Context().Err(); err != nil {
				return page{}, "", err
			}
			out, ok, err := prevout(txin.PrevOut)
			if err != nil {
				return page{}, "", err
			}
			if !ok {
				v.FeeKnown = false
				break
			}
			in += out.Value
		}
		if v.FeeKnown && in >= v.TotalOut {
			v.Fee = in - v.TotalOut
		} else {
			v.FeeKnown = false
		}
	}
	start := min(n*ioPerPage, len(tx.Outputs))
	outs, _ := pageOf(tx.Outputs, n, ioPerPage)
	for i, out := range outs {
		op := chain.OutPoint{TxID: txid, Index: uint32(start + i)}
		row := txOutputRow{Index: start + i, Value: out.Value, Address: s.params.EncodeAddress(out.PubKeyHash), Status: "unspent"}
		if _, spent := s.cfg.Mempool.HaveSpent(op); spent {
			row.Status = "spent (unconfirmed)"
		} else if !v.InMempool {
			e, err := s.cfg.Chain.FetchUtxo(op)
			if err != nil && !errors.Is(err, blockchain.ErrNotFound) {
				return page{}, "", err
			}
			if e == nil {
				row.Status = "spent"
			}
		}
		v.Outputs = append(v.Outputs, row)
	}
	return page{Title: "Transaction " + shortHash(txid), Body: v}, "tx", nil
}

type addressView struct {
	Data  *addressData
	Utxos []indexers.AddressUtxo
	Txs   []indexers.AddressTx
	Pager pager
}

func (s *Server) addressPage(_ http.ResponseWriter, r *http.Request) (page, string, error) {
	addr := r.PathValue("addr")
	n, err := pageNumber(r)
	if err != nil {
		return page{}, "", err
	}
	d, err := s.address(addr)
	if errors.Is(err, errBadAddress) {
		return page{}, "", errNotFound("That is not an address of the " + s.params.Name + " network.")
	}
	if err != nil {
		return page{}, "", err
	}
	v := addressView{Data: d, Pager: pagerFor("/address/"+addr+"?", n, max(len(d.Utxos), len(d.Txs)), addressPerPage)}
	v.Utxos, _ = pageOf(d.Utxos, n, addressPerPage)
	v.Txs, _ = pageOf(d.Txs, n, addressPerPage)
	return page{Title: "Address " + addr, Live: "block", Body: v}, "address", nil
}

type mempoolView struct {
	Info    mempool.Info
	Entries []mempool.Entry
	Newest  bool
	FeeHist chartSeries
	Pager   pager
}

func (s *Server) mempoolPage(_ http.ResponseWriter, r *http.Request) (page, string, error) {
	n, err := pageNumber(r)
	if err != nil {
		return page{}, "", err
	}
	entries, err := s.poolEntries()
	if err != nil {
		return page{}, "", err
	}
	v := mempoolView{Info: s.cfg.Mempool.Info(), FeeHist: feeRateHistogram(entries), Newest: r.URL.Query().Get("sort") == "newest"}
	base := "/mempool?"
	if v.Newest {
		base = "/mempool?sort=newest&"
		entries = sortedByTime(entries)
	}
	v.Entries, _ = pageOf(entries, n, mempoolPerPage)
	v.Pager = pagerFor(base, n, len(entries), mempoolPerPage)
	return page{Title: "Mempool", Nav: "mempool", Live: "tx", Body: v}, "mempool", nil
}

// sortedByTime is a copy of entries, newest first.
func sortedByTime(entries []mempool.Entry) []mempool.Entry {
	out := slices.Clone(entries)
	slices.SortStableFunc(out, func(a, b mempool.Entry) int { return b.Time.Compare(a.Time) })
	return out
}

type peersView struct {
	Peers []p2p.PeerInfo
	Bans  []p2p.Ban
}

func (s *Server) peersPage(http.ResponseWriter, *http.Request) (page, string, error) {
	var v peersView
	if s.cfg.Network != nil {
		v.Peers, v.Bans = s.cfg.Network.Peers(), s.cfg.Network.ListBanned()
	}
	return page{Title: "Peers", Nav: "peers", Body: v}, "peers", nil
}

// search sends a height, block hash, txid or address to its page.
func (s *Server) search(w http.ResponseWriter, r *http.Request) (page, string, error) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	target, err := s.searchTarget(q)
	if err != nil {
		return page{}, "", err
	}
	if target == "" {
		return page{}, "", errNotFound(fmt.Sprintf("Nothing found for %q: search takes a block height, a block hash, a transaction id or an address.", sanitize(q)))
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return page{}, "", nil
}

func (s *Server) searchTarget(q string) (string, error) {
	if h, err := strconv.ParseInt(q, 10, 32); err == nil && h >= 0 && h <= int64(s.cfg.Chain.Best().Height) {
		hash, err := s.cfg.Chain.BlockHashByHeight(int32(h))
		if err == nil {
			return "/block/" + hash.String(), nil
		}
	}
	if hash, err := chain.ParseHash(q); err == nil {
		if _, err := s.cfg.Chain.BlockInfo(hash); err == nil {
			return "/block/" + hash.String(), nil
		}
		// An index that is off or behind cannot tell whether the
		// transaction exists: render says so (503), not "nothing found".
		_, ok, err := s.findTx(hash)
		if err != nil {
			return "", err
		}
		if ok {
			return "/tx/" + hash.String(), nil
		}
	}
	if _, err := s.params.DecodeAddress(q); err == nil {
		return "/address/" + q, nil
	}
	return "", nil
}
