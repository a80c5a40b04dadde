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

// TestScanSHANI4 checks the assembly's own contract against crypto/sha256: the
// number of batches before the first that has a candidate, the mask of all its
// lanes that pass (often several for large thresholds), and zero batches.
func TestScanSHANI4(t *testing.T) {
	if !hasSHANI {
		t.Skip("CPU without SHA-NI")
	}
	rng := testRand(t)
	header := randHeader(rng)
	hs := newHeaderState(&header)
	var st shaniState
	st.init(hs)
	if done, mask := scanSHANI4(&st, 0, 0, ^uint32(0)); done != 0 || mask != 0 {
		t.Errorf("0 batches: done %d mask %#x", done, mask)
	}
	const batches = 64
	first := rng.Uint32()
	var tops [4 * batches]uint32
	for i := range tops {
		h := refHash(header, first+uint32(i))
		tops[i] = binary.LittleEndian.Uint32(h[28:])
	}
	thresholds := []uint32{^uint32(0), 0x7fffffff, 0x3fffffff, 0}
	for range 20 {
		thresholds = append(thresholds, tops[rng.IntN(len(tops))])
	}
	for _, ttop := range thresholds {
		wantDone, wantMask := uint32(batches), uint32(0)
		for b := uint32(0); b < batches && wantMask == 0; b++ {
			for l := range uint32(4) {
				if tops[4*b+l] <= ttop {
					wantDone, wantMask = b, wantMask|1<<l
				}
			}
		}
		if done, mask := scanSHANI4(&st, first, batches, ttop); done != wantDone || mask != wantMask {
			t.Errorf("ttop %#x: done %d mask %#x, want %d %#x", ttop, done, mask, wantDone, wantMask)
		}
	}
}
