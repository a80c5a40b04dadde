package fees

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/quarrychain/quarry/chain/atomicfile"
)

// The file fee_estimates.dat, little-endian throughout:
//
//	magic "QFEE" | version u32 (1) | first height u32 | best height u32 |
//	bucket count u32 | bucket bounds f64... |
//	per horizon (short, medium, long): decay f64 | scale u32 | periods u32 |
//	    feerate sums f64[buckets] | counts f64[buckets] |
//	    confirmed f64[periods][buckets] | failed f64[periods][buckets] |
//	SHA-256 of everything before it [32]
//
// The heights are the span of blocks the history covers. Only the decayed
// averages are kept: the transactions still waiting are counted again as
// they are accepted after the restart.

const (
	fileMagic   = "QFEE"
	fileVersion = 1
)

// ErrDamagedFile is wrapped by every failure to decode a fee estimates file.
var ErrDamagedFile = errors.New("damaged fee estimates file")

// Encode returns the estimator's history in the file's format.
func (e *Estimator) Encode() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	first, best := e.historicalFirst, e.historicalBest
	span := 0
	if e.firstRecorded != 0 {
		span = int(e.bestSeen - e.firstRecorded)
	}
	if span > int(e.historicalBest-e.historicalFirst)/2 {
		first, best = e.firstRecorded, e.bestSeen
	}
	var b []byte
	b = append(b, fileMagic...)
	b = binary.LittleEndian.AppendUint32(b, fileVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(first))
	b = binary.LittleEndian.AppendUint32(b, uint32(best))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(e.buckets)))
	b = appendFloats(b, e.buckets)
	for _, s := range e.stats {
		s.settle()
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.decay))
		b = binary.LittleEndian.AppendUint32(b, uint32(s.scale))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s.confAvg)))
		b = appendFloats(b, s.feerateAvg)
		b = appendFloats(b, s.txCtAvg)
		for _, row := range s.confAvg {
			b = appendFloats(b, row)
		}
		for _, row := range s.failAvg {
			b = appendFloats(b, row)
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func appendFloats(b []byte, vs []float64) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// reader reads the file's fields, remembering the first failure.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) floats(dst []float64) {
	for i := range dst {
		if r.err != nil || len(r.b) < 8 {
			r.fail("truncated")
			return
		}
		dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
		r.b = r.b[8:]
		if !finite(dst[i]) {
			r.fail("a value is negative or not a number")
			return
		}
	}
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrDamagedFile, msg)
	}
}

// Decode replaces the estimator's history with the one b holds. A file
// made with other buckets or horizons is refused as Core refuses one, and on
// any error the estimator is left as it was.
func (e *Estimator) Decode(b []byte) error {
	if len(b) < len(fileMagic)+sha256.Size || string(b[:len(fileMagic)]) != fileMagic {
		return fmt.Errorf("%w: not a fee estimates file", ErrDamagedFile)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return fmt.Errorf("%w: checksum mismatch", ErrDamagedFile)
	}
	r := &reader{b: body[len(fileMagic):]}
	if v := r.u32(); r.err == nil && v != fileVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrDamagedFile, v, fileVersion)
	}
	first, best := int32(r.u32()), int32(r.u32())
	fresh := New()
	if n := r.u32(); r.err == nil && int(n) != len(fresh.buckets) {
		return fmt.Errorf("%w: %d buckets, this build has %d", ErrDamagedFile, n, len(fresh.buckets))
	}
	bounds := make([]float64, len(fresh.buckets))
	r.floats(bounds)
	if r.err == nil && !equalFloats(bounds, fresh.buckets) {
		r.fail("other bucket bounds than this build's")
	}
	for _, s := range fresh.stats {
		decay := make([]float64, 1)
		r.floats(decay)
		scale, periods := r.u32(), r.u32()
		if r.err == nil && (decay[0] != s.decay || int(scale) != s.scale || int(periods) != len(s.confAvg)) {
			r.fail("other horizons than this build's")
		}
		r.floats(s.feerateAvg)
		r.floats(s.txCtAvg)
		for _, row := range s.confAvg {
			r.floats(row)
		}
		for _, row := range s.failAvg {
			r.floats(row)
		}
	}
	switch {
	case r.err != nil:
		return r.err
	case len(r.b) != 0:
		return fmt.Errorf("%w: %d bytes after the last field", ErrDamagedFile, len(r.b))
	case first < 0 || best < first:
		return fmt.Errorf("%w: history from height %d to %d", ErrDamagedFile, first, best)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats = fresh.stats
	e.historicalFirst, e.historicalBest = first, best
	// What was waiting was counted in the old stats' unconfirmed slots,
	// which the file does not keep: watch those transactions no more.
	clear(e.txs)
	return nil
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Save writes the history to path atomically (temp file, fsync, rename).
func (e *Estimator) Save(path string) error {
	if err := atomicfile.Write(path, e.Encode(), 0o600); err != nil {
		return fmt.Errorf("saving fee estimates: %w", err)
	}
	return nil
}

// Load reads a history Save wrote; a missing file is fs.ErrNotExist.
func (e *Estimator) Load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := e.Decode(b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
