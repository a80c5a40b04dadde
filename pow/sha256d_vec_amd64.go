//go:build amd64 && !purego

package pow

import (
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

//go:generate go run ./internal/asmgen -kernel vector -out sha256d_vec_amd64.s

// vecState is the per-header input of the vector kernels: everything about the
// header's double SHA-256 that is the same in every lane. The assembly reads it at
// fixed offsets, which internal/asmgen declares and TestVecStateLayout checks.
type vecState struct {
	pre [8]uint32  // the midstate advanced by rounds 0..2, which precede the nonce word
	mid [8]uint32  // the midstate, added in after the header block
	kw  [18]uint32 // K[i]+W[i] for rounds 4..17, whose message words no nonce changes
	// u[i] is the part of schedule word i (18..63) that the nonce does not change:
	// the sum of its terms σ1(W[i-2]), W[i-7], σ0(W[i-15]), W[i-16] made of such
	// words. The kernels add the nonce-dependent terms per lane.
	u [64]uint32
}

// nonceDependent reports whether the header block's message word i differs
// between nonces: the nonce itself, W[3], and every schedule word from W[18] on
// (W[16] and W[17] are made of words 0..2 and padding only).
func nonceDependent(i int) bool { return i == 3 || i >= 18 }

func (v *vecState) init(h *headerState) {
	v.pre, v.mid = h.pre3, h.mid
	w := [64]uint32{0: h.tail[0], 1: h.tail[1], 2: h.tail[2], 4: padBit, 15: headerBits}
	part := func(j int, f func(uint32) uint32) uint32 {
		if nonceDependent(j) {
			return 0
		}
		if f != nil {
			return f(w[j])
		}
		return w[j]
	}
	for i := 16; i < 64; i++ {
		u := part(i-2, sigma1) + part(i-7, nil) + part(i-15, sigma0) + part(i-16, nil)
		if nonceDependent(i) {
			v.u[i] = u
		} else {
			w[i] = u
		}
	}
	for i := 4; i < len(v.kw); i++ {
		v.kw[i] = sha256K[i] + w[i]
	}
}

// scanAVX512x16 and scanAVX2x8 hash batches*16 (batches*8) nonces from nonce on,
// one per vector lane, and stop after the first batch in which some hash's top
// word (see topWord) is at most ttop. They return the number of batches before
// that one (batches if none) and the mask of its lanes that passed (lane i is
// nonce+lanes*done+i).
//
//go:noescape
func scanAVX512x16(st *vecState, nonce, batches, ttop uint32) (done, mask uint32)

//go:noescape
func scanAVX2x8(st *vecState, nonce, batches, ttop uint32) (done, mask uint32)

// hasAVX512 reports whether the CPU runs scanAVX512x16: AVX-512 F for the
// arithmetic, rotates and ternary logic, BW for the 512-bit byte shuffle.
var hasAVX512 = cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW)

// hasAVX2 reports whether the CPU runs scanAVX2x8.
var hasAVX2 = cpuid.CPU.Supports(cpuid.AVX2)

func runAVX512x16(h *headerState, nonce, batches, ttop uint32) (uint32, uint32) {
	var st vecState
	st.init(h)
	return scanAVX512x16(&st, nonce, batches, ttop)
}

func runAVX2x8(h *headerState, nonce, batches, ttop uint32) (uint32, uint32) {
	var st vecState
	st.init(h)
	return scanAVX2x8(&st, nonce, batches, ttop)
}

// hybridState is the input of scanHybrid18: its SHA-NI half's and its AVX-512
// half's. TestHybridStateLayout checks the offset internal/asmgen declares.
type hybridState struct {
	sha shaniState
	_   [96 - unsafe.Sizeof(shaniState{})]byte
	vec vecState
}

// hybridLanes is how many nonces scanHybrid18 hashes per batch: lanes 0 and 1
// with SHA-NI, 2..17 with AVX-512.
const hybridLanes = 18

// scanHybrid18 is scanAVX512x16's contract for batches of 18 nonces, two
// hashed with SHA-NI and sixteen with AVX-512, their instructions interleaved
// so that both units work at once.
//
//go:noescape
func scanHybrid18(st *hybridState, nonce, batches, ttop uint32) (done, mask uint32)

func runHybrid18(h *headerState, nonce, batches, ttop uint32) (uint32, uint32) {
	var st hybridState
	st.sha.init(h)
	st.vec.init(h)
	return scanHybrid18(&st, nonce, batches, ttop)
}
