//go:build arm64 && !purego

package pow

import (
	"math/bits"

	"golang.org/x/sys/cpu"
)

// scanSHA2x2 hashes batches*2 nonces from nonce on, two interleaved at a time, with
// the ARMv8 SHA-2 instructions, and stops after the first batch in which some
// hash's top word (see topWord) is at most ttop. It returns the number of batches
// before that one (batches if none) and the mask of its lanes that passed (lane i
// is nonce+2*done+i). It reads h.mid at offset 0 and h.tail at 32, which
// TestHeaderStateLayoutARM64 checks.
//
//go:noescape
func scanSHA2x2(h *headerState, nonce, batches, ttop uint32) (done, mask uint32)

// archKernels lists the kernels this CPU can run besides the portable one, fastest first.
func archKernels() []kernel {
	if !cpu.ARM64.HasSHA2 {
		return nil
	}
	return []kernel{{name: "sha2", scan: scanSHA2}}
}

// scanSHA2 is the ARMv8 SHA-2 kernel, with scanGeneric's contract.
func scanSHA2(h *headerState, nonce, n, ttop uint32) uint32 {
	done, mask := scanSHA2x2(h, nonce, n/2, ttop)
	if mask != 0 {
		return 2*done + uint32(bits.TrailingZeros32(mask))
	}
	// An odd last nonce does not fill a batch.
	i := n &^ 1
	return i + h.scanGeneric(nonce+i, n-i, ttop)
}
