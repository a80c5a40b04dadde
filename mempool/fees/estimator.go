// Package fees estimates the fee rate a transaction needs to confirm within a
// number of blocks, as Bitcoin Core's policy/fees.cpp does: it watches how
// many blocks the mempool's transactions take to confirm, by fee-rate bucket,
// in three horizons whose moving averages decay with every block, and answers
// with the lowest bucket range in which enough of them confirmed in time. With
// too little data it answers nothing, never a made-up number. Its history is
// kept across restarts in fee_estimates.dat.
package fees

import (
	"math"
	"sync"

	"github.com/quarrychain/quarry/chain"
)

// Core's parameters (policy/fees.h).
const (
	shortBlockPeriods = 12
	shortScale        = 1
	shortDecay        = .962
	medBlockPeriods   = 24
	medScale          = 2
	medDecay          = .9952
	longBlockPeriods  = 42
	longScale         = 24
	longDecay         = .99931

	halfSuccessPct   = .6
	successPct       = .85
	doubleSuccessPct = .95

	// sufficientFeeTxs and sufficientTxsShort are the transactions per block
	// a bucket range needs (divided by 1-decay: over the decay's window).
	sufficientFeeTxs   = 0.1
	sufficientTxsShort = 0.5

	minBucketFeeRate = 1000     // base units per 1,000 bytes: the default relay minimum
	maxBucketFeeRate = 1e7      // 10,000 per byte
	feeSpacing       = 1.05     // each bucket 5% above the last
	infFeeRate       = 1e99     // the last bucket's bound
	oldestHistory    = 6 * 1008 // blocks after which a saved history is too old to use
)

// MaxTarget is the furthest confirmation target estimated, in blocks.
const MaxTarget = longBlockPeriods * longScale

// Horizon selects one of the three histories.
type Horizon int

// The horizons, as estimaterawfee names them.
const (
	Short Horizon = iota
	Medium
	Long
)

func (h Horizon) String() string { return [...]string{"short", "medium", "long"}[h] }

// tracked is a mempool transaction being watched.
type tracked struct {
	height int32
	bucket int
	rate   float64
}

// Estimator is safe for concurrent use.
type Estimator struct {
	mu      sync.Mutex
	buckets []float64
	stats   [3]*confirmStats // by Horizon
	txs     map[chain.Hash]tracked
	// bestSeen is the highest block processed; firstRecorded the first at
	// which a confirmation was counted. historicalFirst and historicalBest
	// are the span of a history loaded from the file.
	bestSeen, firstRecorded         int32
	historicalFirst, historicalBest int32
}

// bucketBounds are the upper bounds of the fee-rate buckets.
func bucketBounds() []float64 {
	var b []float64
	for r := float64(minBucketFeeRate); r <= maxBucketFeeRate; r *= feeSpacing {
		b = append(b, r)
	}
	return append(b, infFeeRate)
}

// New returns an estimator with no history.
func New() *Estimator {
	b := bucketBounds()
	return &Estimator{buckets: b, txs: make(map[chain.Hash]tracked), stats: [3]*confirmStats{
		newConfirmStats(b, shortBlockPeriods, shortScale, shortDecay),
		newConfirmStats(b, medBlockPeriods, medScale, medDecay),
		newConfirmStats(b, longBlockPeriods, longScale, longDecay),
	}}
}

// feeRatePerKB is the fee rate as the estimator counts it.
func feeRatePerKB(fee uint64, size int) float64 {
	return float64(fee) * 1000 / float64(size)
}

// TxAdded watches a transaction that entered the mempool when the best block
// was height. valid is false for one the estimate must not count: one back
// from a disconnected block, or one spending another mempool transaction
// (whose fee pays for its parent too), as Core.
func (e *Estimator) TxAdded(txid chain.Hash, height int32, fee uint64, size int, valid bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.txs[txid]; ok || height != e.bestSeen || !valid || size <= 0 {
		// Before the estimator has seen the block the transaction was
		// accepted on, its wait cannot be counted.
		return
	}
	rate := feeRatePerKB(fee, size)
	var b int
	for _, s := range e.stats {
		b = s.newTx(height, rate)
	}
	e.txs[txid] = tracked{height: height, bucket: b, rate: rate}
}

// TxRemoved stops watching a transaction that left the mempool other than
// in a block (replaced, evicted, expired, conflicting): a failure to confirm
// for the periods it waited.
func (e *Estimator) TxRemoved(txid chain.Hash) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.removeLocked(txid, false)
}

func (e *Estimator) removeLocked(txid chain.Hash, inBlock bool) (tracked, bool) {
	t, ok := e.txs[txid]
	if !ok {
		return t, false
	}
	for _, s := range e.stats {
		s.removeTx(t.height, e.bestSeen, t.bucket, inBlock)
	}
	delete(e.txs, txid)
	return t, true
}

// BlockConnected counts the watched transactions among txids, those of a new
// best block at height. A block at or below the best seen (a reorganisation)
// is ignored, as Core.
func (e *Estimator) BlockConnected(height int32, txids []chain.Hash) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if height <= e.bestSeen {
		return
	}
	e.bestSeen = height
	for _, s := range e.stats {
		s.clearCurrent(height)
		s.updateMovingAverages()
	}
	counted := 0
	for _, id := range txids {
		t, ok := e.removeLocked(id, true)
		if !ok {
			continue
		}
		blocks := int(height - t.height)
		if blocks <= 0 {
			continue
		}
		for _, s := range e.stats {
			s.record(blocks, t.rate)
		}
		counted++
	}
	if e.firstRecorded == 0 && counted > 0 {
		e.firstRecorded = height
	}
}

// maxUsableEstimate bounds targets by how much history there is: half the
// blocks seen (or loaded), as Core.
func (e *Estimator) maxUsableEstimate() int {
	span := 0
	if e.firstRecorded != 0 {
		span = int(e.bestSeen - e.firstRecorded)
	}
	historical := 0
	if e.historicalFirst != 0 && int(e.bestSeen-e.historicalBest) <= oldestHistory {
		historical = int(e.historicalBest - e.historicalFirst)
	}
	return min(e.stats[Long].maxConfirms(), max(span, historical)/2)
}

func (e *Estimator) combined(target int, threshold float64, checkShorter bool, result *Result) float64 {
	short, med, long := e.stats[Short], e.stats[Medium], e.stats[Long]
	est := -1.0
	if target < 1 || target > long.maxConfirms() {
		return est
	}
	switch {
	case target <= short.maxConfirms():
		est = short.estimateMedianVal(target, sufficientTxsShort, threshold, e.bestSeen, result)
	case target <= med.maxConfirms():
		est = med.estimateMedianVal(target, sufficientFeeTxs, threshold, e.bestSeen, result)
	default:
		est = long.estimateMedianVal(target, sufficientFeeTxs, threshold, e.bestSeen, result)
	}
	if !checkShorter {
		return est
	}
	// A shorter horizon's answer for its own longest target also answers
	// this one, and is the fresher: take it when lower.
	for _, h := range []struct {
		s          *confirmStats
		sufficient float64
	}{{med, sufficientFeeTxs}, {short, sufficientTxsShort}} {
		if target <= h.s.maxConfirms() {
			continue
		}
		var temp Result
		if v := h.s.estimateMedianVal(h.s.maxConfirms(), h.sufficient, threshold, e.bestSeen, &temp); v > 0 && (est == -1 || v < est) {
			est = v
			if result != nil {
				*result = temp
			}
		}
	}
	return est
}

func (e *Estimator) conservative(doubleTarget int, result *Result) float64 {
	est := -1.0
	if doubleTarget <= e.stats[Short].maxConfirms() {
		est = e.stats[Medium].estimateMedianVal(doubleTarget, sufficientFeeTxs, doubleSuccessPct, e.bestSeen, result)
	}
	if doubleTarget <= e.stats[Medium].maxConfirms() {
		var temp Result
		if v := e.stats[Long].estimateMedianVal(doubleTarget, sufficientFeeTxs, doubleSuccessPct, e.bestSeen, &temp); v > est {
			est = v
			if result != nil {
				*result = temp
			}
		}
	}
	return est
}

// EstimateSmartFee returns the fee rate (base units per 1,000 bytes) that
// should confirm within target blocks, and the target it answers for (lower
// when there is too little history for target; Core's "blocks", given with
// its errors too); ok is false when there is too little data. conservative also asks the longer horizons, as Core's
// "conservative" mode, and gives a rate less prone to dip.
func (e *Estimator) EstimateSmartFee(target int, conservative bool) (rate float64, answered int, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if target <= 0 || target > e.stats[Long].maxConfirms() {
		return 0, 0, false
	}
	target = max(target, 2) // nothing is known to confirm in the next block
	target = min(target, e.maxUsableEstimate())
	if target <= 1 {
		return 0, target, false
	}
	median := e.combined(target/2, halfSuccessPct, true, nil)
	median = max(median, e.combined(target, successPct, true, nil))
	median = max(median, e.combined(2*target, doubleSuccessPct, !conservative, nil))
	if conservative || median == -1 {
		median = max(median, e.conservative(2*target, nil))
	}
	if median < 0 {
		return 0, target, false
	}
	return median, target, true
}

// EstimateRawFee answers for one horizon and success threshold, with the
// bucket ranges behind the answer; rate is -1 when no range passes.
func (e *Estimator) EstimateRawFee(target int, threshold float64, h Horizon) (rate float64, result Result) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats[h]
	sufficient := sufficientFeeTxs
	if h == Short {
		sufficient = sufficientTxsShort
	}
	if target <= 0 || target > s.maxConfirms() || threshold > 1 {
		return -1, Result{Decay: s.decay, Scale: s.scale}
	}
	return s.estimateMedianVal(target, sufficient, threshold, e.bestSeen, &result), result
}

// HighestTarget is the longest target horizon h tracks.
func (e *Estimator) HighestTarget(h Horizon) int {
	// Under the lock: a load replaces the horizons.
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats[h].maxConfirms()
}

// finite reports whether every value is a finite, non-negative number: what
// a loaded file must hold.
func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return false
		}
	}
	return true
}
