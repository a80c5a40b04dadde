package fees

import "math"

// confirmStats tracks, for one horizon, how many blocks transactions took to
// confirm, by fee-rate bucket, as Core's TxConfirmStats: moving averages
// that decay each block, counted in periods of scale blocks.
type confirmStats struct {
	buckets []float64 // upper bounds, base units per 1,000 bytes
	decay   float64
	scale   int
	// txCtAvg[b] is the decayed count of transactions confirmed in bucket b,
	// feerateAvg[b] the decayed sum of their fee rates.
	txCtAvg    []float64
	feerateAvg []float64
	// confAvg[p][b] counts those of bucket b confirmed within p+1 periods;
	// failAvg[p][b] those that left the mempool unconfirmed after p+1.
	confAvg [][]float64
	failAvg [][]float64
	// pendingDecays counts the blocks whose decay the averages above do not
	// show yet. Decaying is deferred until an average is read or counted
	// into, so that a run of blocks that confirm nothing the estimator
	// watched (all of initial sync) costs one multiplication per average
	// instead of one per block.
	pendingDecays int
	// unconfTxs[h % maxConfirms][b] counts transactions of bucket b that
	// entered at height h and are still unconfirmed; oldUnconfTxs those that
	// entered more than maxConfirms blocks ago.
	unconfTxs    [][]float64
	oldUnconfTxs []float64
	// unconfTotal[b] sums unconfTxs[*][b], so an estimate counts the
	// transactions waiting longer than its target from the few that wait
	// less, not from all maxConfirms slots.
	unconfTotal []float64
}

func newConfirmStats(buckets []float64, periods, scale int, decay float64) *confirmStats {
	s := &confirmStats{buckets: buckets, decay: decay, scale: scale,
		txCtAvg: make([]float64, len(buckets)), feerateAvg: make([]float64, len(buckets)),
		confAvg: grid(periods, len(buckets)), failAvg: grid(periods, len(buckets)),
		unconfTxs: grid(periods*scale, len(buckets)), oldUnconfTxs: make([]float64, len(buckets)),
		unconfTotal: make([]float64, len(buckets))}
	return s
}

func grid(rows, cols int) [][]float64 {
	g := make([][]float64, rows)
	for i := range g {
		g[i] = make([]float64, cols)
	}
	return g
}

// maxConfirms is the longest confirmation time the horizon tracks, in blocks.
func (s *confirmStats) maxConfirms() int { return s.scale * len(s.confAvg) }

// bucketIndex is the first bucket whose bound is at least rate.
func bucketIndex(buckets []float64, rate float64) int {
	lo, hi := 0, len(buckets)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if buckets[mid] >= rate {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// clearCurrent moves the transactions that entered maxConfirms blocks before
// height to the old ones: their slot is reused for height's.
func (s *confirmStats) clearCurrent(height int32) {
	slot := s.unconfTxs[int(height)%len(s.unconfTxs)]
	for b := range slot {
		s.oldUnconfTxs[b] += slot[b]
		s.unconfTotal[b] -= slot[b]
		slot[b] = 0
	}
}

// record counts a transaction of rate confirmed after blocksToConfirm blocks.
func (s *confirmStats) record(blocksToConfirm int, rate float64) {
	if blocksToConfirm < 1 {
		return
	}
	periods := (blocksToConfirm + s.scale - 1) / s.scale
	b := bucketIndex(s.buckets, rate)
	s.settle()
	for p := periods; p <= len(s.confAvg); p++ {
		s.confAvg[p-1][b]++
	}
	s.txCtAvg[b]++
	s.feerateAvg[b] += rate
}

// updateMovingAverages decays every average once, for a new block.
func (s *confirmStats) updateMovingAverages() { s.pendingDecays++ }

// settle applies the pending decays, as one factor. It goes row by row, each
// row contiguous in memory.
func (s *confirmStats) settle() {
	if s.pendingDecays == 0 {
		return
	}
	f := math.Pow(s.decay, float64(s.pendingDecays))
	s.pendingDecays = 0
	for p := range s.confAvg {
		scaleAll(s.confAvg[p], f)
		scaleAll(s.failAvg[p], f)
	}
	scaleAll(s.feerateAvg, f)
	scaleAll(s.txCtAvg, f)
}

func scaleAll(xs []float64, f float64) {
	for i := range xs {
		xs[i] *= f
	}
}

// newTx counts a transaction entering the mempool at height.
func (s *confirmStats) newTx(height int32, rate float64) int {
	b := bucketIndex(s.buckets, rate)
	s.unconfTxs[int(height)%len(s.unconfTxs)][b]++
	s.unconfTotal[b]++
	return b
}

// removeTx uncounts a transaction of bucket b that entered at entryHeight,
// now that the best height is best; one leaving unconfirmed after at least a
// period counts as a failure for the periods it waited.
func (s *confirmStats) removeTx(entryHeight, best int32, b int, inBlock bool) {
	blocksAgo := int(best - entryHeight)
	if best == 0 {
		blocksAgo = 0
	}
	if blocksAgo < 0 {
		return
	}
	if blocksAgo >= len(s.unconfTxs) {
		s.oldUnconfTxs[b] = max(s.oldUnconfTxs[b]-1, 0)
	} else {
		slot := s.unconfTxs[int(entryHeight)%len(s.unconfTxs)]
		if slot[b] > 0 {
			slot[b]--
			s.unconfTotal[b]--
		}
	}
	if !inBlock && blocksAgo >= s.scale {
		s.settle()
		periodsAgo := blocksAgo / s.scale
		for p := 0; p < periodsAgo && p < len(s.failAvg); p++ {
			s.failAvg[p][b]++
		}
	}
}

// Bucket is a range of fee-rate buckets and what happened to their
// transactions, as estimaterawfee reports it.
type Bucket struct {
	// Start and End bound the range's fee rates (base units per 1,000 bytes).
	Start, End float64
	// WithinTarget were confirmed within the target, TotalConfirmed at all
	// (decayed counts); InMempool still wait; LeftMempool left unconfirmed.
	WithinTarget, TotalConfirmed, InMempool, LeftMempool float64
}

// Result is what one estimate found: the last range that passed and the
// first that failed the success threshold.
type Result struct {
	Pass, Fail Bucket
	Decay      float64
	Scale      int
}

// estimateMedianVal walks the buckets from the highest fee rate down,
// grouping buckets until each group holds enough data, and returns the
// median fee rate of the lowest group in which at least successBreakPoint of
// the transactions confirmed within confTarget blocks, or -1: Core's
// EstimateMedianVal.
func (s *confirmStats) estimateMedianVal(confTarget int, sufficientTxVal, successBreakPoint float64, height int32, result *Result) float64 {
	s.settle()
	var nConf, totalNum, extraNum, failNum float64
	periodTarget := (confTarget + s.scale - 1) / s.scale
	maxBucket := len(s.buckets) - 1
	curNear, bestNear, curFar, bestFar := maxBucket, maxBucket, maxBucket, maxBucket
	foundAnswer, newRange, passing := false, true, true
	var pass, fail Bucket
	bins := len(s.unconfTxs)
	bound := func(i int) float64 {
		if i == 0 {
			return 0
		}
		return s.buckets[i-1]
	}
	for b := maxBucket; b >= 0; b-- {
		if newRange {
			curNear, newRange = b, false
		}
		curFar = b
		nConf += s.confAvg[periodTarget-1][b]
		totalNum += s.txCtAvg[b]
		failNum += s.failAvg[periodTarget-1][b]
		// Those waiting at least confTarget blocks: all but the ones that
		// entered in the last confTarget blocks.
		if confTarget < bins {
			extraNum += s.unconfTotal[b]
			for c := range confTarget {
				extraNum -= s.unconfTxs[((int(height)-c)%bins+bins)%bins][b]
			}
		}
		extraNum += s.oldUnconfTxs[b]
		// Only a group with enough transactions, counting their decay,
		// says anything.
		if totalNum < sufficientTxVal/(1-s.decay) {
			continue
		}
		if nConf/(totalNum+failNum+extraNum) < successBreakPoint {
			if passing {
				lo, hi := min(curNear, curFar), max(curNear, curFar)
				fail = Bucket{Start: bound(lo), End: s.buckets[hi], WithinTarget: nConf, TotalConfirmed: totalNum,
					InMempool: extraNum, LeftMempool: failNum}
				passing = false
			}
			continue
		}
		fail = Bucket{}
		foundAnswer, passing = true, true
		pass = Bucket{WithinTarget: nConf, TotalConfirmed: totalNum, InMempool: extraNum, LeftMempool: failNum}
		nConf, totalNum, failNum, extraNum = 0, 0, 0, 0
		bestNear, bestFar = curNear, curFar
		newRange = true
	}
	median := -1.0
	lo, hi := min(bestNear, bestFar), max(bestNear, bestFar)
	var txSum float64
	for b := lo; b <= hi; b++ {
		txSum += s.txCtAvg[b]
	}
	if foundAnswer && txSum != 0 {
		txSum /= 2
		for b := lo; b <= hi; b++ {
			if s.txCtAvg[b] < txSum {
				txSum -= s.txCtAvg[b]
				continue
			}
			median = s.feerateAvg[b] / s.txCtAvg[b]
			break
		}
		pass.Start, pass.End = bound(lo), s.buckets[hi]
	}
	// Passing down to a last group too thin to judge: report it as failed.
	if passing && !newRange {
		lo, hi := min(curNear, curFar), max(curNear, curFar)
		fail = Bucket{Start: bound(lo), End: s.buckets[hi], WithinTarget: nConf, TotalConfirmed: totalNum,
			InMempool: extraNum, LeftMempool: failNum}
	}
	if result != nil {
		*result = Result{Pass: pass, Fail: fail, Decay: s.decay, Scale: s.scale}
	}
	return median
}
