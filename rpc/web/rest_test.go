package web

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/rest from the handlers' answers")

// TestRESTGolden answers every REST endpoint, its formats and its errors,
// and compares status, content type and body with testdata/rest. After a
// deliberate change: go test ./rpc/web -run TestRESTGolden -update
func TestRESTGolden(t *testing.T) {
	f := newFixture(t)
	tip := f.main[105].Hash()
	b102 := f.main[102].Hash()
	tx1, tx2, mem := f.tx1.TxID(), f.tx2.TxID(), f.memTx.TxID()
	other := f.params.EncodeAddress(f.other)
	unknown := strings.Repeat("ab", 32)
	many := make([]string, 16)
	for i := range many {
		many[i] = fmt.Sprintf("%s-%d", tx1, i)
	}
	cases := []struct{ name, path string }{
		{"chaininfo", "/rest/chaininfo.json"},
		{"chaininfo_bin", "/rest/chaininfo.bin"},
		{"block_json", "/rest/block/" + b102.String() + ".json"},
		{"block_hex", "/rest/block/" + b102.String() + ".hex"},
		{"block_bin", "/rest/block/" + b102.String() + ".bin"},
		{"block_notxdetails", "/rest/block/notxdetails/" + b102.String() + ".json"},
		{"block_no_format", "/rest/block/" + b102.String()},
		{"block_bad_format", "/rest/block/" + b102.String() + ".xml"},
		{"block_bad_hash", "/rest/block/xyz.json"},
		{"block_unknown", "/rest/block/" + unknown + ".json"},
		{"headers_json", "/rest/headers/3/" + f.main[103].Hash().String() + ".json"},
		{"headers_query_hex", "/rest/headers/" + tip.String() + ".hex?count=2"},
		{"headers_bin", "/rest/headers/2/" + f.main[104].Hash().String() + ".bin"},
		{"headers_unknown", "/rest/headers/1/" + unknown + ".json"},
		{"headers_count_zero", "/rest/headers/0/" + tip.String() + ".json"},
		{"headers_count_high", "/rest/headers/2001/" + tip.String() + ".json"},
		{"headers_bad_path", "/rest/headers/1/2/" + tip.String() + ".json"},
		{"hashbyheight_json", "/rest/blockhashbyheight/3.json"},
		{"hashbyheight_hex", "/rest/blockhashbyheight/3.hex"},
		{"hashbyheight_bin", "/rest/blockhashbyheight/3.bin"},
		{"hashbyheight_negative", "/rest/blockhashbyheight/-1.json"},
		{"hashbyheight_too_high", "/rest/blockhashbyheight/106.json"},
		{"hashbyheight_junk", "/rest/blockhashbyheight/3x.json"},
		{"tx_json", "/rest/tx/" + tx2.String() + ".json"},
		{"tx_hex", "/rest/tx/" + tx2.String() + ".hex"},
		{"tx_mempool", "/rest/tx/" + mem.String() + ".json"},
		{"tx_unknown", "/rest/tx/" + unknown + ".json"},
		{"mempool_info", "/rest/mempool/info.json"},
		{"mempool_contents", "/rest/mempool/contents.json"},
		{"mempool_txids", "/rest/mempool/contents.json?verbose=false"},
		{"mempool_verbose_junk", "/rest/mempool/contents.json?verbose=yes"},
		{"mempool_sequence_junk", "/rest/mempool/contents.json?verbose=false&mempool_sequence=1"},
		{"mempool_sequence_verbose", "/rest/mempool/contents.json?mempool_sequence=true"},
		{"mempool_sequence", "/rest/mempool/contents.json?verbose=false&mempool_sequence=true"},
		{"mempool_bad", "/rest/mempool/other.json"},
		{"mempool_bad_format", "/rest/mempool/info.hex"},
		{"getutxos_json", "/rest/getutxos/" + tx1.String() + "-1/" + tx1.String() + "-0/" + tx2.String() + "-0.json"},
		{"getutxos_mempool", "/rest/getutxos/checkmempool/" + mem.String() + "-0/" + f.main[2].Txs[0].TxID().String() + "-0.json"},
		{"getutxos_hex", "/rest/getutxos/" + tx1.String() + "-1.hex"},
		{"getutxos_empty", "/rest/getutxos.json"},
		{"getutxos_too_many", "/rest/getutxos/" + strings.Join(many, "/") + ".json"},
		{"getutxos_parse_error", "/rest/getutxos/" + tx1.String() + "-x.json"},
		{"address", "/rest/address/" + other + ".json"},
		{"address_page_1", "/rest/address/" + other + ".json?page=1"},
		{"address_bad", "/rest/address/qry1nothing.json"},
		{"address_bad_page", "/rest/address/" + other + ".json?page=-1"},
		{"unknown_endpoint", "/rest/nothing.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := f.get(c.path)
			if res.Header.Get("Content-Type") == "application/octet-stream" {
				body = hex.EncodeToString([]byte(body)) + "\n"
			}
			got := fmt.Sprintf("GET %s\n%d %s\n\n%s", c.path, res.StatusCode, res.Header.Get("Content-Type"), body)
			path := filepath.Join("testdata", "rest", c.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (write it with -update)", err)
			}
			if !bytes.Equal(want, []byte(got)) {
				t.Errorf("answer differs from %s:\n%s", path, got)
			}
		})
	}
}

// FuzzRESTPath feeds the path parser arbitrary paths and queries: it must
// answer every one with a request or one of Core's 400/404 errors, and never
// take more outpoints or headers than Core allows.
func FuzzRESTPath(f *testing.F) {
	for _, seed := range []string{
		"/rest/chaininfo.json", "/rest/block/" + strings.Repeat("0", 64) + ".bin",
		"/rest/block/notxdetails/" + strings.Repeat("a", 64) + ".json", "/rest/headers/5/" + strings.Repeat("1", 64) + ".hex",
		"/rest/headers/" + strings.Repeat("1", 64) + ".json?count=7", "/rest/blockhashbyheight/12.json",
		"/rest/tx/" + strings.Repeat("f", 64) + ".hex", "/rest/mempool/contents.json?verbose=false",
		"/rest/getutxos/checkmempool/" + strings.Repeat("2", 64) + "-0.json", "/rest/address/rqry1abc.json?page=3",
		"/rest/getutxos//.json", "/rest/headers/-1/x.json", "/rest/block/.json.json",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		path, rawQuery, _ := strings.Cut(raw, "?")
		query, _ := url.ParseQuery(rawQuery)
		req, err := parseRESTRequest(path, query)
		if err != nil {
			if err.status != 400 && err.status != 404 {
				t.Fatalf("%q: status %d", raw, err.status)
			}
			return
		}
		if req.format == formatUndef {
			t.Fatalf("%q: accepted without a format", raw)
		}
		if len(req.outpoints) > maxGetUtxos || req.count > maxRESTHeaders || req.page > maxPage || req.height < 0 {
			t.Fatalf("%q: out of bounds: %+v", raw, req)
		}
		if req.endpoint == restGetUtxos && len(req.outpoints) == 0 {
			t.Fatalf("%q: getutxos without outpoints", raw)
		}
	})
}
