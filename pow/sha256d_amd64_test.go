//go:build amd64 && !purego

package pow

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// TestSHANIStateLayout checks the offsets at which the assembly reads shaniState
// (the st* constants of internal/asmgen).
func TestSHANIStateLayout(t *testing.T) {
	var st shaniState
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"midABEF", unsafe.Offsetof(st.midABEF), 0},
		{"midCDGH", unsafe.Offsetof(st.midCDGH), 16},
		{"preABEF", unsafe.Offsetof(st.preABEF), 32},
		{"preCDGH", unsafe.Offsetof(st.preCDGH), 48},
		{"w012", unsafe.Offsetof(st.w012), 64},
		{"kw2", unsafe.Offsetof(st.kw2), 80},
	} {
		if c.got != c.want {
			t.Errorf("shaniState.%s at offset %d, the assembly reads it at %d", c.name, c.got, c.want)
		}
	}
}

// TestScanSHANI4 checks the assembly's own contract against crypto/sha256 (see
// checkBatchKernel).
func TestScanSHANI4(t *testing.T) {
	if !hasSHANI {
		t.Skip("CPU without SHA-NI")
	}
	checkBatchKernel(t, 4, runSHANI4)
}

// checkBatchKernel checks a kernel that hashes batches of lanes nonces against
// crypto/sha256, for random headers and first nonces (some wrapping past
// 0xffffffff within a batch): the number of batches before the first that has a
// candidate, the mask of all its lanes that pass (often several for large
// thresholds), thresholds at, just above and just below the top word of a nonce
// in every lane, and zero batches.
func checkBatchKernel(t *testing.T, lanes uint32, scan func(hs *headerState, nonce, batches, ttop uint32) (done, mask uint32)) {
	t.Helper()
	rng := testRand(t)
	const batches = 8
	for h := range 20 {
		header := randHeader(rng)
		hs := newHeaderState(&header)
		if done, mask := scan(hs, 0, 0, ^uint32(0)); done != 0 || mask != 0 {
			t.Fatalf("0 batches: done %d mask %#x", done, mask)
		}
		first := rng.Uint32()
		if h%4 == 0 {
			first = -(lanes*uint32(rng.IntN(batches)) + uint32(rng.IntN(int(lanes)))) // wraps
		}
		tops := make([]uint32, lanes*batches)
		for i := range tops {
			hash := refHash(header, first+uint32(i))
			tops[i] = binary.LittleEndian.Uint32(hash[28:])
		}
		thresholds := []uint32{^uint32(0), 0x7fffffff, 0x3fffffff, 0}
		for lane := range lanes {
			top := tops[lanes*uint32(rng.IntN(batches))+lane]
			thresholds = append(thresholds, top, top+1, top-1)
		}
		for _, ttop := range thresholds {
			wantDone, wantMask := uint32(batches), uint32(0)
			for b := uint32(0); b < batches && wantMask == 0; b++ {
				for l := range lanes {
					if tops[lanes*b+l] <= ttop {
						wantDone, wantMask = b, wantMask|1<<l
					}
				}
			}
			if done, mask := scan(hs, first, batches, ttop); done != wantDone || mask != wantMask {
				t.Fatalf("header %x, nonces from %#x, ttop %#x: done %d mask %#x, want %d %#x",
					header, first, ttop, done, mask, wantDone, wantMask)
			}
		}
	}
}
