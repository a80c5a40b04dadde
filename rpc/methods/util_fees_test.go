package methods

import (
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/quarrychain/quarry/rpc"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool/fees"
)

// feedEstimator gives e blocks of history: every block confirms, in the
// next block, ten transactions at 30 base units per byte.
func feedEstimator(e *fees.Estimator, blocks int) {
	n := 0
	var waiting []chain.Hash
	for h := int32(1); h <= int32(blocks); h++ {
		e.BlockConnected(h, waiting)
		waiting = waiting[:0]
		for range 10 {
			n++
			var id chain.Hash
			binary.LittleEndian.PutUint64(id[:], uint64(n))
			e.TxAdded(id, h, 30*200, 200, true)
			waiting = append(waiting, id)
		}
	}
}

func TestEstimateFeeMethods(t *testing.T) {
	f := newPoolFixture(t)
	est := f.fees

	// Too little data: Core's errors field and no number.
	var thin map[string]json.RawMessage
	f.call(t, "estimatesmartfee", []any{6}, &thin)
	if _, has := thin["feerate"]; has || string(thin["errors"]) != `["Insufficient data or no feerate found"]` {
		t.Errorf("no data: %s", mustJSON(t, thin))
	}
	var raw map[string]map[string]json.RawMessage
	f.call(t, "estimaterawfee", []any{6}, &raw)
	if len(raw) != 3 || string(raw["short"]["errors"]) != `["Insufficient data or no feerate found which meets threshold"]` || raw["short"]["feerate"] != nil {
		t.Errorf("no data, raw: %s", mustJSON(t, raw))
	}

	feedEstimator(est, 100)
	var smart struct {
		FeeRate json.Number `json:"feerate"`
		Errors  []string    `json:"errors"`
		Blocks  int         `json:"blocks"`
	}
	f.call(t, "estimatesmartfee", []any{2, "CONSERVATIVE"}, &smart)
	if smart.FeeRate != "0.00030000" || smart.Blocks != 2 || smart.Errors != nil {
		t.Errorf("estimatesmartfee 2: %+v, want 0.00030000 QRY/kvB for 2 blocks", smart)
	}
	raw = nil
	f.call(t, "estimaterawfee", []any{2, 0.85}, &raw)
	short := raw["short"]
	if string(short["feerate"]) != "0.00030000" || string(short["scale"]) != "1" || short["pass"] == nil {
		t.Errorf("estimaterawfee 2: %s", mustJSON(t, raw))
	}
	// A target past a horizon's range leaves that horizon out, as Core.
	raw = nil
	f.call(t, "estimaterawfee", []any{100}, &raw)
	if _, has := raw["short"]; has || raw["long"] == nil {
		t.Errorf("estimaterawfee 100: %s", mustJSON(t, raw))
	}

	for _, c := range []struct {
		method string
		params []any
		msg    string
	}{
		{"estimatesmartfee", []any{0}, "Invalid conf_target, must be between 1 and 1008"},
		{"estimatesmartfee", []any{1009}, "Invalid conf_target"},
		{"estimatesmartfee", []any{6, "fast"}, "Invalid estimate_mode parameter"},
		{"estimaterawfee", []any{6, 1.5}, "Invalid threshold"},
	} {
		f.callErr(t, c.method, c.params, rpc.CodeInvalidParameter, c.msg)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
