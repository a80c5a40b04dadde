//go:build amd64 && !purego

package pow

import (
	"testing"
	"unsafe"
)

// TestVecStateLayout checks the offsets at which the assembly reads vecState (the
// vs* constants of internal/asmgen).
func TestVecStateLayout(t *testing.T) {
	var st vecState
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"pre", unsafe.Offsetof(st.pre), 0},
		{"mid", unsafe.Offsetof(st.mid), 32},
		{"kw", unsafe.Offsetof(st.kw), 64},
		{"u", unsafe.Offsetof(st.u), 136},
	} {
		if c.got != c.want {
			t.Errorf("vecState.%s at offset %d, the assembly reads it at %d", c.name, c.got, c.want)
		}
	}
}

func TestScanAVX512x16(t *testing.T) {
	if !hasAVX512 {
		t.Skip("CPU without AVX-512 F and BW")
	}
	checkBatchKernel(t, 16, runAVX512x16)
}

func TestScanAVX2x8(t *testing.T) {
	if !hasAVX2 {
		t.Skip("CPU without AVX2")
	}
	checkBatchKernel(t, 8, runAVX2x8)
}

func TestScanHybrid18(t *testing.T) {
	if !hasSHANI || !hasAVX512 {
		t.Skip("CPU without SHA-NI and AVX-512")
	}
	checkBatchKernel(t, hybridLanes, runHybrid18)
}

// TestHybridStateLayout checks where the assembly reads hybridState's halves
// (hsVec in internal/asmgen).
func TestHybridStateLayout(t *testing.T) {
	var st hybridState
	if got := unsafe.Offsetof(st.vec); got != 96 {
		t.Errorf("hybridState.vec at offset %d, the assembly reads it at 96", got)
	}
}
