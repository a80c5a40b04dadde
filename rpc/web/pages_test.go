package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/indexers"
)

// Every page renders from the real chain and mempool, and shows what it is for.
func TestPages(t *testing.T) {
	f := newFixture(t)
	b102 := f.main[102].Hash().String()
	tx1, tx2, mem := f.tx1.TxID().String(), f.tx2.TxID().String(), f.memTx.TxID().String()
	other := f.params.EncodeAddress(f.other)
	cases := []struct {
		path   string
		status int
		want   []string
		absent []string
	}{
		{"/", 200, []string{`id="tip-height">105<`, f.main[105].Hash().String(), "Block interval", "Difficulty",
			"Transactions per block", "Fees per block", "Mempool bytes by fee rate", `id="mempool-count">1 txs<`, `data-live="tx"`, "<svg"}, nil},
		{"/blocks", 200, []string{"/block/" + f.main[105].Hash().String(), ">105<", ">81<", "Older"}, []string{">80<"}},
		{"/blocks?page=1", 200, []string{">80<", ">56<", "Newer", "Page 2 of 5"}, []string{">81<"}},
		{"/blocks?page=99", 404, []string{"not that many blocks"}, nil},
		{"/blocks?page=x", 404, []string{"Invalid page"}, nil},
		{"/block/" + b102, 200, []string{"Block 102", "/tx/" + tx1[:10], "coinbase", "50.01 QRY", "fees 0.01 QRY", "Confirmations</dt><dd>4<"}, nil},
		{"/block/zz", 404, []string{"not a block hash"}, nil},
		{"/block/" + strings.Repeat("ab", 32), 404, []string{"does not have block"}, nil},
		{"/tx/" + tx2, 200, []string{"3 confirmations", "/tx/" + tx1 + "\">", other, "30 QRY", "0.00005 QRY", "unspent", "/block/" + f.main[103].Hash().String()}, nil},
		{"/tx/" + tx1, 200, []string{`class="tag spent">spent<`, `class="tag ok">unspent<`, "0.01 QRY"}, nil},
		{"/tx/" + mem, 200, []string{"unconfirmed", "0.00002 QRY"}, nil},
		{"/tx/" + f.main[105].Txs[0].TxID().String(), 200, []string{"Newly mined coins", "none (coinbase)"}, nil},
		{"/tx/" + strings.Repeat("ab", 32), 404, []string{"No transaction"}, nil},
		{"/address/" + other, 200, []string{"29.99995 QRY", "/tx/" + tx2[:10], "/tx/" + tx1[:10]}, nil},
		{"/address/nonsense", 404, []string{"not an address"}, nil},
		{"/mempool", 200, []string{"/tx/" + mem[:10], "1", "Mempool bytes by fee rate"}, nil},
		{"/mempool?sort=newest", 200, []string{"Newest first", "/tx/" + mem[:10]}, nil},
		{"/peers", 200, []string{"Peers (1)", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWPeerOne", "outbound", "invalid block", "Banned (1)"}, nil},
		{"/search?q=" + url.QueryEscape("<script>alert(1)</script>"), 404, []string{"Nothing found"}, []string{"<script>alert"}},
		{"/static/style.css", 200, []string{"--accent"}, nil},
		{"/static/live.js", 200, []string{"EventSource"}, nil},
		{"/nothing", 404, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			res, body := f.get(c.path)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d\n%.2000s", res.StatusCode, c.status, body)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("lacks %q", w)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(body, a) {
					t.Errorf("has %q", a)
				}
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff header")
			}
		})
	}
}

// Search takes a height, a block hash, a txid (confirmed or not) or an address.
func TestSearch(t *testing.T) {
	f := newFixture(t)
	b102 := f.main[102].Hash().String()
	other := f.params.EncodeAddress(f.other)
	for q, want := range map[string]string{
		"102":                      "/block/" + b102,
		" " + b102 + " ":           "/block/" + b102,
		f.tx2.TxID().String():      "/tx/" + f.tx2.TxID().String(),
		f.memTx.TxID().String():    "/tx/" + f.memTx.TxID().String(),
		other:                      "/address/" + other,
		"0":                        "/block/" + f.params.GenesisHash.String(),
		strings.Repeat("ab", 32):   "",
		"106":                      "",
		"rqry1qqqqqqqqqqqqqqqqqqq": "",
	} {
		res, _ := f.get("/search?q=" + url.QueryEscape(q))
		if want == "" {
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("search %q: status %d, want 404", q, res.StatusCode)
			}
			continue
		}
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Errorf("search %q: %d to %q, want %s", q, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
}

// The interface is read-only: nothing but GET (and HEAD) is served.
func TestReadOnly(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/", "/rest/chaininfo.json", "/events", "/search?q=1"} {
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader("x")))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d, want 405", path, rec.Code)
		}
	}
}

// The embedded assets are served, their directory is not listed.
func TestStaticAssets(t *testing.T) {
	f := newFixture(t)
	for path, want := range map[string]int{"/static/style.css": 200, "/static/live.js": 200, "/static/": 404, "/static/nothing.css": 404} {
		if res, _ := f.get(path); res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
}

// An address with thousands of outputs is shown a page at a time, and the
// REST view pages the same way.
func TestAddressPaging(t *testing.T) {
	f := newFixture(t)
	const outputs = 2000
	many := f.gen.NewKey()
	outs := make([]chainTxOut, outputs)
	for i := range outs {
		outs[i] = chainTxOut{Value: 1000 + uint64(i), PubKeyHash: many}
	}
	tx := f.gen.SpendTo([]chainOutPoint{f.gen.Coinbase(f.main[4].Hash())}, outs...)
	f.extend(tx)
	addr := f.params.EncodeAddress(many)
	res, body := f.get("/address/" + addr)
	if res.StatusCode != 200 || !strings.Contains(body, "Page 1 of 40") {
		t.Fatalf("status %d; page 1 of 40 not shown:\n%.1500s", res.StatusCode, body)
	}
	if got := strings.Count(body, `<td class="num">106</td>`); got != addressPerPage+1 {
		t.Errorf("first page shows %d rows at height 106, want %d outputs and 1 transaction", got, addressPerPage+1)
	}
	_, body = f.get("/address/" + addr + "?page=39")
	if got := strings.Count(body, `<td class="num">106</td>`); got != addressPerPage {
		t.Errorf("last page shows %d outputs, want %d", got, addressPerPage)
	}
	_, body = f.get("/rest/address/" + addr + ".json?page=39")
	if !strings.Contains(body, `"utxo_count":2000`) || strings.Count(body, `"vout"`) != addressPerPage {
		t.Errorf("REST page 39: %.300s", body)
	}
}

// An address with more transactions than MaxAddressTxs is refused, page
// and REST both, pointing to the RPC, before its whole history is read; one
// with as many is listed.
func TestAddressOverTheHistoryLimitRefused(t *testing.T) {
	f := newFixture(t)
	cfg := f.srv.cfg
	cfg.MaxAddressTxs = 2 // f.other has two confirmed transactions, the miner over a hundred
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	busy, quiet := f.params.EncodeAddress(f.gen.PKH), f.params.EncodeAddress(f.other)
	for path, want := range map[string]string{
		"/address/" + busy:                "more than 2 transactions, more than the explorer lists",
		"/rest/address/" + busy + ".json": "more than 2 transactions, more than REST lists",
	} {
		if code, body := get(path); code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d %.300s; want 400 saying %q", path, code, body, want)
		}
	}
	if code, body := get("/rest/address/" + quiet + ".json"); code != 200 || !strings.Contains(body, `"tx_count":2`) {
		t.Errorf("address at the limit: %d %.300s", code, body)
	}
}

// countingAddrIndex counts the reads of each key hash's history.
type countingAddrIndex struct {
	AddrIndex
	mu    sync.Mutex
	reads map[[chain.PubKeyHashSize]byte]int
}

func (x *countingAddrIndex) UtxosAndTxIDs(pkh [chain.PubKeyHashSize]byte, maxTxs int) ([]indexers.AddressUtxo, []indexers.AddressTx, error) {
	x.mu.Lock()
	x.reads[pkh]++
	x.mu.Unlock()
	return x.AddrIndex.UtxosAndTxIDs(pkh, maxTxs)
}

// An address over MaxAddressTxs is refused from the cache until the tip
// moves, as a listed one is answered from it: a visitor asking again and
// again for a busy address does not make each turn read MaxAddressTxs
// records anew.
func TestAddressOverTheHistoryLimitRefusedFromTheCache(t *testing.T) {
	f := newFixture(t)
	cfg := f.srv.cfg
	cfg.MaxAddressTxs = 2
	counting := &countingAddrIndex{AddrIndex: cfg.AddrIndex, reads: make(map[[chain.PubKeyHashSize]byte]int)}
	cfg.AddrIndex = counting
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	busy := f.params.EncodeAddress(f.gen.PKH)
	for _, path := range []string{"/address/" + busy, "/rest/address/" + busy + ".json", "/address/" + busy + "?page=1"} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("%s: %d %.300s; want 400", path, rec.Code, rec.Body.String())
		}
	}
	if n := counting.reads[f.gen.PKH]; n != 1 {
		t.Fatalf("the busy address's history was read %d times at one tip, want once", n)
	}
}

// failingTxIndex is a transaction index that fails, as a damaged database
// would, naming a file of the node.
type failingTxIndex struct{}

func (failingTxIndex) Find(chain.Hash) (*chain.Tx, indexers.TxLocation, error) {
	return nil, indexers.TxLocation{}, errors.New("read /home/operator/.quarry/main/chain/000042.vlog: input/output error")
}

// A failure inside the node answers 500 with a plain message: the cause,
// which may name the node's files, goes to the log only.
func TestInternalErrorsStayInTheLog(t *testing.T) {
	f := newFixture(t)
	srv, err := New(Config{Chain: f.chain, TxIndex: failingTxIndex{}, Mempool: f.pool, RPC: f.srv.cfg.RPC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	txid := f.tx2.TxID().String()
	for _, path := range []string{"/rest/tx/" + txid + ".json", "/tx/" + txid} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "operator") {
			t.Errorf("%s: %d %q", path, rec.Code, rec.Body.String())
		}
	}
}

// With the indexes off, the pages and REST answers that need one say so
// (503, naming the flag that turns it on) rather than failing inside or, for
// a confirmed transaction, saying that it does not exist (the search of a
// confirmed transaction's id too); those that only use an index to show
// more (a mempool transaction's inputs) answer without it.
func TestPagesWithIndexesOff(t *testing.T) {
	f := newFixture(t)
	srv, err := New(Config{Chain: f.chain, Mempool: f.pool, RPC: f.srv.cfg.RPC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	addr := f.params.EncodeAddress(f.other)
	for path, want := range map[string]string{
		"/tx/" + f.tx1.TxID().String():                "txindex is disabled (enable it with --txindex=1)",
		"/rest/tx/" + f.tx1.TxID().String() + ".json": "txindex is disabled (enable it with --txindex=1)",
		"/search?q=" + f.tx1.TxID().String():          "txindex is disabled (enable it with --txindex=1)",
		"/address/" + addr:                            "addrindex is disabled (enable it with --addrindex=1)",
		"/rest/address/" + addr + ".json":             "addrindex is disabled (enable it with --addrindex=1)",
	} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d %.200q", path, rec.Code, rec.Body.String())
		}
	}
	for path, want := range map[string]int{
		"/tx/" + f.memTx.TxID().String():       http.StatusOK,
		"/search?q=" + f.memTx.TxID().String(): http.StatusSeeOther,
	} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d: %.200q", path, rec.Code, want, rec.Body.String())
		}
	}
}
