package methods

import (
	"context"
	"math"
	"strings"

	"github.com/quarrychain/quarry/rpc"

	"github.com/quarrychain/quarry/mempool/fees"
)

// Core's messages when an estimate has too little data.
const (
	errNoFeeRate          = "Insufficient data or no feerate found"
	errNoFeeRateThreshold = "Insufficient data or no feerate found which meets threshold"
)

var confTargetParam = rpc.Param{Name: "conf_target", Type: rpc.TypeNumber, Required: true, Description: "Confirmation target in blocks (1 - 1008)"}

func checkConfTarget(target int64) error {
	if target < 1 || target > fees.MaxTarget {
		return rpc.Errorf(rpc.CodeInvalidParameter, "Invalid conf_target, must be between 1 and %d", fees.MaxTarget)
	}
	return nil
}

// EstimateSmartFeeResult is estimatesmartfee's result, as Core's.
type EstimateSmartFeeResult struct {
	FeeRate *rpc.Amount `json:"feerate,omitempty"` // QRY per 1,000 bytes
	Errors  []string    `json:"errors,omitempty"`
	Blocks  int         `json:"blocks"`
}

func (m *mempoolMethods) estimatesmartfee() rpc.Method {
	return rpc.Method{
		Name:     "estimatesmartfee",
		Category: "util",
		Summary:  "Estimates the fee rate needed for a transaction to begin confirmation within conf_target blocks if possible, and returns the number of blocks for which the estimate is valid.",
		Params: []rpc.Param{
			confTargetParam,
			{Name: "estimate_mode", Type: rpc.TypeString, Default: `"economical"`,
				Description: `"economical" answers faster to a falling fee market; "conservative" also weighs a longer history, and is less likely to be too low`},
		},
		Result: `{
  "feerate" : n,     (numeric, optional) estimate fee rate in QRY/kvB (only present if no errors were encountered);
                     never below the rate the mempool takes now
  "errors" : [ "str" ],  (json array, optional) errors encountered during processing: too little data gives
                     "Insufficient data or no feerate found", never a made-up number
  "blocks" : n       (numeric) block number where estimate was found: may be higher than conf_target
                     when there is too little history for it
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			target := p.Int("conf_target")
			mode := strings.ToLower(p.String("estimate_mode"))
			if err := p.Err(); err != nil {
				return nil, err
			}
			if err := checkConfTarget(target); err != nil {
				return nil, err
			}
			if mode != "unset" && mode != "economical" && mode != "conservative" {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"")
			}
			rate, answered, ok := m.Fees.EstimateSmartFee(int(target), mode == "conservative")
			if !ok {
				return EstimateSmartFeeResult{Errors: []string{errNoFeeRate}, Blocks: answered}, nil
			}
			perKB := max(ratePerKB(rate), uint64(m.Pool.Info().MinFeeRate))
			a := rpc.Amount(perKB)
			return EstimateSmartFeeResult{FeeRate: &a, Blocks: answered}, nil
		},
	}
}

// RawFeeBucket is one range of estimaterawfee's buckets, fee rates in base
// units per 1,000 bytes as Core gives them in satoshis.
type RawFeeBucket struct {
	StartRange     float64 `json:"startrange"`
	EndRange       float64 `json:"endrange"`
	WithinTarget   float64 `json:"withintarget"`
	TotalConfirmed float64 `json:"totalconfirmed"`
	InMempool      float64 `json:"inmempool"`
	LeftMempool    float64 `json:"leftmempool"`
}

// RawFeeHorizon is estimaterawfee's answer for one horizon.
type RawFeeHorizon struct {
	FeeRate *rpc.Amount   `json:"feerate,omitempty"` // QRY per 1,000 bytes
	Decay   float64       `json:"decay"`
	Scale   int           `json:"scale"`
	Pass    *RawFeeBucket `json:"pass,omitempty"`
	Fail    *RawFeeBucket `json:"fail,omitempty"`
	Errors  []string      `json:"errors,omitempty"`
}

func rawBucket(b fees.Bucket) *RawFeeBucket {
	return &RawFeeBucket{StartRange: math.Round(b.Start), EndRange: math.Round(b.End),
		WithinTarget: round2(b.WithinTarget), TotalConfirmed: round2(b.TotalConfirmed),
		InMempool: round2(b.InMempool), LeftMempool: round2(b.LeftMempool)}
}

// ratePerKB rounds an estimate up to whole base units per 1,000 bytes, after
// dropping the rounding error of the decayed sums it was averaged from.
func ratePerKB(rate float64) uint64 { return uint64(math.Ceil(math.Round(rate*1e6) / 1e6)) }

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func (m *mempoolMethods) estimaterawfee() rpc.Method {
	return rpc.Method{
		Name:     "estimaterawfee",
		Category: "util",
		Summary:  "WARNING: This interface is unstable and may disappear or change! Estimates the fee rate for conf_target blocks in each horizon the estimator tracks, with the data behind each answer.",
		Params: []rpc.Param{
			confTargetParam,
			{Name: "threshold", Type: rpc.TypeNumber, Default: "0.95", Description: "The proportion of transactions in a given fee rate range that must have been confirmed within conf_target in order to consider those fee rates high enough to proceed with"},
		},
		Result: `{                   Results are returned for any horizon which tracks blocks up to the confirmation target
  "short|medium|long" : {    (json object, optional) estimate for the horizon
    "feerate" : n,       (numeric, optional) estimate fee rate in QRY/kvB
    "decay" : n,         (numeric) exponential decay (per block) for historical moving average of confirmation data
    "scale" : n,         (numeric) the resolution of confirmation targets at this time horizon
    "pass" : {           (json object, optional) information about the lowest range of fee rates to succeed in meeting the threshold
      "startrange" : n,      (numeric) start of fee rate range, base units per 1,000 bytes
      "endrange" : n,        (numeric) end of fee rate range
      "withintarget" : n,    (numeric) number of txs over history horizon in the fee rate range that were confirmed within target
      "totalconfirmed" : n,  (numeric) number of txs over history horizon in the fee rate range that were confirmed at any point
      "inmempool" : n,       (numeric) current number of txs in mempool in the fee rate range unconfirmed for at least target blocks
      "leftmempool" : n      (numeric) number of txs over history horizon in the fee rate range that left mempool unconfirmed after target
    },
    "fail" : { ... },    (json object, optional) information about the highest range of fee rates to fail to meet the threshold
    "errors" : [ "str" ] (json array, optional) errors encountered during processing
  }
}`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			target := p.Int("conf_target")
			threshold := p.Float("threshold")
			if err := p.Err(); err != nil {
				return nil, err
			}
			if err := checkConfTarget(target); err != nil {
				return nil, err
			}
			if threshold < 0 || threshold > 1 {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Invalid threshold")
			}
			out := map[string]RawFeeHorizon{}
			for _, h := range []fees.Horizon{fees.Short, fees.Medium, fees.Long} {
				if int(target) > m.Fees.HighestTarget(h) {
					continue
				}
				rate, res := m.Fees.EstimateRawFee(int(target), threshold, h)
				r := RawFeeHorizon{Decay: res.Decay, Scale: res.Scale}
				if rate > 0 {
					a := rpc.Amount(ratePerKB(rate))
					r.FeeRate, r.Pass = &a, rawBucket(res.Pass)
				} else {
					r.Errors = []string{errNoFeeRateThreshold}
				}
				if res.Fail.End > 0 {
					r.Fail = rawBucket(res.Fail)
				}
				out[h.String()] = r
			}
			return out, nil
		},
	}
}
