//go:build arm64 && !purego

package pow

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// TestHeaderStateLayoutARM64 checks the offsets at which scanSHA2x2 reads
// headerState.
func TestHeaderStateLayoutARM64(t *testing.T) {
	var h headerState
	if unsafe.Offsetof(h.mid) != 0 || unsafe.Offsetof(h.tail) != 32 {
		t.Fatalf("headerState.mid at %d, tail at %d; the assembly reads them at 0 and 32",
			unsafe.Offsetof(h.mid), unsafe.Offsetof(h.tail))
	}
}

// TestScanSHA2x2 checks the assembly's own contract against crypto/sha256: the
// number of batches before the first that has a candidate, the mask of all its
// lanes that pass, and zero batches.
func TestScanSHA2x2(t *testing.T) {
	if len(archKernels()) == 0 {
		t.Skip("CPU without the SHA-2 instructions")
	}
	rng := testRand(t)
	header := randHeader(rng)
	hs := newHeaderState(&header)
	if done, mask := scanSHA2x2(hs, 0, 0, ^uint32(0)); done != 0 || mask != 0 {
		t.Errorf("0 batches: done %d mask %#x", done, mask)
	}
	const batches = 64
	first := rng.Uint32()
	var tops [2 * batches]uint32
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
			for l := range uint32(2) {
				if tops[2*b+l] <= ttop {
					wantDone, wantMask = b, wantMask|1<<l
				}
			}
		}
		if done, mask := scanSHA2x2(hs, first, batches, ttop); done != wantDone || mask != wantMask {
			t.Errorf("ttop %#x: done %d mask %#x, want %d %#x", ttop, done, mask, wantDone, wantMask)
		}
	}
}
