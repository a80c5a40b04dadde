//go:build amd64 && !purego

package pow

import (
	"math/bits"

	"github.com/klauspost/cpuid/v2"
)

//go:generate go run ./internal/asmgen -out sha256d_amd64.s

// shaniState is the per-header input of scanSHANI4. The assembly reads its fields
// at fixed offsets, which internal/asmgen declares and TestSHANIStateLayout checks.
// Vectors are in SHA-NI register order: state as lanes f,e,b,a and h,g,d,c.
type shaniState struct {
	midABEF, midCDGH [4]uint32 // the midstate, added in after the header block
	preABEF, preCDGH [4]uint32 // the midstate advanced by rounds 0 and 1
	w012             [4]uint32 // message words 0..2 of the header block; lane 3 gets the nonce
	kw2              uint32    // K[2] + W[2], for round 2 (round 3 needs the nonce)
}

// scanSHANI4 hashes batches*4 nonces from nonce on, four interleaved at a time, and
// stops after the first batch in which some hash's top word (see topWord) is at most
// ttop. It returns the number of batches before that one (batches if none) and the
// mask of its lanes that passed (lane i is nonce+4*done+i).
//
//go:noescape
func scanSHANI4(st *shaniState, nonce, batches, ttop uint32) (done, mask uint32)

// hasSHANI reports whether the CPU runs scanSHANI4: the SHA extensions, plus SSSE3
// for PALIGNR and SSE4.1 for PBLENDW and PINSRD.
var hasSHANI = cpuid.CPU.Supports(cpuid.SHA, cpuid.SSSE3, cpuid.SSE4)

// archKernels lists the kernels this CPU can run besides the portable one, in the
// order to prefer them before any has been timed (see ChooseKernel).
func archKernels() []kernel {
	var ks []kernel
	if hasSHANI {
		ks = append(ks, kernel{name: "shani", scan: batched(4, runSHANI4)})
	}
	if hasAVX512 {
		ks = append(ks, kernel{name: "avx512", scan: batched(16, runAVX512x16)})
	}
	if hasSHANI && hasAVX512 {
		ks = append(ks, kernel{name: "hybrid", scan: batched(hybridLanes, runHybrid18)})
	}
	if hasAVX2 {
		ks = append(ks, kernel{name: "avx2", scan: batched(8, runAVX2x8)})
	}
	return ks
}

// batched wraps a kernel that hashes batches of lanes nonces, as the assembly
// ones do, in scanGeneric's contract. run gets the header's state and returns
// the batches done before the one with a candidate and that batch's mask of
// candidate lanes.
func batched(lanes uint32, run func(h *headerState, nonce, batches, ttop uint32) (done, mask uint32)) func(h *headerState, nonce, n, ttop uint32) uint32 {
	return func(h *headerState, nonce, n, ttop uint32) uint32 {
		done, mask := run(h, nonce, n/lanes, ttop)
		if mask != 0 {
			return lanes*done + uint32(bits.TrailingZeros32(mask))
		}
		// The last n%lanes nonces do not fill a batch: one more batch hashes
		// them, and lanes past them whose result is ignored, faster than the
		// portable code would.
		i := n - n%lanes
		if i == n {
			return n
		}
		_, mask = run(h, nonce+i, 1, ttop)
		if mask &= 1<<(n-i) - 1; mask != 0 {
			return i + uint32(bits.TrailingZeros32(mask))
		}
		return n
	}
}

// runSHANI4 runs scanSHANI4 on h. The per-header setup is redone per call, which
// costs far less than one batch of hashes; so in the other run functions.
func runSHANI4(h *headerState, nonce, batches, ttop uint32) (uint32, uint32) {
	var st shaniState
	st.init(h)
	return scanSHANI4(&st, nonce, batches, ttop)
}

func toABEF(s *[8]uint32) (x, y [4]uint32) {
	return [4]uint32{s[5], s[4], s[1], s[0]}, [4]uint32{s[7], s[6], s[3], s[2]}
}

func (st *shaniState) init(h *headerState) {
	st.midABEF, st.midCDGH = toABEF(&h.mid)
	pre := h.mid
	round(&pre, sha256K[0]+h.tail[0])
	round(&pre, sha256K[1]+h.tail[1])
	st.preABEF, st.preCDGH = toABEF(&pre)
	st.w012 = [4]uint32{h.tail[0], h.tail[1], h.tail[2], 0}
	st.kw2 = sha256K[2] + h.tail[2]
}
