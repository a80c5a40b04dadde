//go:build arm64 && !purego

#include "textflag.h"

// The nonce loop with the ARMv8 SHA-2 instructions, two nonces interleaved so that
// one's rounds run while the other's wait for their results. Unlike x86's SHA-NI,
// these keep the state as a,b,c,d and e,f,g,h, which is also the order of the
// next block's message words, so the first hash feeds the second unchanged.
//
// Registers: V16..V31 hold K; stream A uses V0..V7 and stream B V8..V15, as
// abcd, efgh, a copy of abcd, K+W and the four message vectors of the window.
// R0: *headerState, R1: first nonce of the batch, R2: batches left, R3: ttop,
// R4, R10, R11: the header padding, outer padding and IV, R5: &h.tail, R9: IV[7].

// Four rounds of one stream with K+W from kreg + m0, scheduling the vector four
// groups ahead into m0 (SHA256SU0/SU1 compute W[t] from W[t-16..t-1]).
#define QUAD_SCHED(kreg, m0, m1, m2, m3, abcd, efgh, tmp, wk) \
	VADD	kreg.S4, m0.S4, wk.S4 \
	SHA256SU0	m1.S4, m0.S4 \
	SHA256SU1	m3.S4, m2.S4, m0.S4 \
	VMOV	abcd.B16, tmp.B16 \
	SHA256H	wk.S4, efgh, abcd \
	SHA256H2	wk.S4, tmp, efgh

// Four rounds without scheduling: the last four groups.
#define QUAD(kreg, m0, abcd, efgh, tmp, wk) \
	VADD	kreg.S4, m0.S4, wk.S4 \
	VMOV	abcd.B16, tmp.B16 \
	SHA256H	wk.S4, efgh, abcd \
	SHA256H2	wk.S4, tmp, efgh

// Both streams through all 64 rounds of one block.
#define BLOCK \
	QUAD_SCHED(V16, V4, V5, V6, V7, V0, V1, V2, V3) \
	QUAD_SCHED(V16, V12, V13, V14, V15, V8, V9, V10, V11) \
	QUAD_SCHED(V17, V5, V6, V7, V4, V0, V1, V2, V3) \
	QUAD_SCHED(V17, V13, V14, V15, V12, V8, V9, V10, V11) \
	QUAD_SCHED(V18, V6, V7, V4, V5, V0, V1, V2, V3) \
	QUAD_SCHED(V18, V14, V15, V12, V13, V8, V9, V10, V11) \
	QUAD_SCHED(V19, V7, V4, V5, V6, V0, V1, V2, V3) \
	QUAD_SCHED(V19, V15, V12, V13, V14, V8, V9, V10, V11) \
	QUAD_SCHED(V20, V4, V5, V6, V7, V0, V1, V2, V3) \
	QUAD_SCHED(V20, V12, V13, V14, V15, V8, V9, V10, V11) \
	QUAD_SCHED(V21, V5, V6, V7, V4, V0, V1, V2, V3) \
	QUAD_SCHED(V21, V13, V14, V15, V12, V8, V9, V10, V11) \
	QUAD_SCHED(V22, V6, V7, V4, V5, V0, V1, V2, V3) \
	QUAD_SCHED(V22, V14, V15, V12, V13, V8, V9, V10, V11) \
	QUAD_SCHED(V23, V7, V4, V5, V6, V0, V1, V2, V3) \
	QUAD_SCHED(V23, V15, V12, V13, V14, V8, V9, V10, V11) \
	QUAD_SCHED(V24, V4, V5, V6, V7, V0, V1, V2, V3) \
	QUAD_SCHED(V24, V12, V13, V14, V15, V8, V9, V10, V11) \
	QUAD_SCHED(V25, V5, V6, V7, V4, V0, V1, V2, V3) \
	QUAD_SCHED(V25, V13, V14, V15, V12, V8, V9, V10, V11) \
	QUAD_SCHED(V26, V6, V7, V4, V5, V0, V1, V2, V3) \
	QUAD_SCHED(V26, V14, V15, V12, V13, V8, V9, V10, V11) \
	QUAD_SCHED(V27, V7, V4, V5, V6, V0, V1, V2, V3) \
	QUAD_SCHED(V27, V15, V12, V13, V14, V8, V9, V10, V11) \
	QUAD(V28, V4, V0, V1, V2, V3) \
	QUAD(V28, V12, V8, V9, V10, V11) \
	QUAD(V29, V5, V0, V1, V2, V3) \
	QUAD(V29, V13, V8, V9, V10, V11) \
	QUAD(V30, V6, V0, V1, V2, V3) \
	QUAD(V30, V14, V8, V9, V10, V11) \
	QUAD(V31, V7, V0, V1, V2, V3) \
	QUAD(V31, V15, V8, V9, V10, V11)

// The header block's padding (words 4..15: 3 vectors), then the outer block's
// (words 8..15: 2 vectors), then the initial state.
DATA pads<>+0(SB)/4, $0x80000000
DATA pads<>+44(SB)/4, $0x00000280
DATA pads<>+48(SB)/4, $0x80000000
DATA pads<>+76(SB)/4, $0x00000100
DATA pads<>+80(SB)/4, $0x6a09e667
DATA pads<>+84(SB)/4, $0xbb67ae85
DATA pads<>+88(SB)/4, $0x3c6ef372
DATA pads<>+92(SB)/4, $0xa54ff53a
DATA pads<>+96(SB)/4, $0x510e527f
DATA pads<>+100(SB)/4, $0x9b05688c
DATA pads<>+104(SB)/4, $0x1f83d9ab
DATA pads<>+108(SB)/4, $0x5be0cd19
GLOBL pads<>(SB), RODATA|NOPTR, $112

// func scanSHA2x2(h *headerState, nonce, batches, ttop uint32) (done, mask uint32)
TEXT ·scanSHA2x2(SB), NOSPLIT, $0-32
	MOVD	h+0(FP), R0
	MOVWU	nonce+8(FP), R1
	MOVWU	batches+12(FP), R2
	MOVWU	ttop+16(FP), R3
	MOVD	$·sha256K(SB), R4
	VLD1.P	64(R4), [V16.S4, V17.S4, V18.S4, V19.S4]
	VLD1.P	64(R4), [V20.S4, V21.S4, V22.S4, V23.S4]
	VLD1.P	64(R4), [V24.S4, V25.S4, V26.S4, V27.S4]
	VLD1	(R4), [V28.S4, V29.S4, V30.S4, V31.S4]
	MOVD	$pads<>(SB), R4
	ADD	$32, R0, R5
	ADD	$48, R4, R10
	ADD	$80, R4, R11
	MOVW	$0x5be0cd19, R9
	MOVW	ZR, R8
	CBZW	R2, exit

loop:
	// Header block: the midstate, and message words tail[0..2], nonce, padding.
	VLD1	(R0), [V0.S4, V1.S4]
	VLD1	(R0), [V8.S4, V9.S4]
	VLD1	(R5), [V4.S4]
	VLD1	(R5), [V12.S4]
	VLD1	(R4), [V5.S4, V6.S4, V7.S4]
	VLD1	(R4), [V13.S4, V14.S4, V15.S4]
	REVW	R1, R6
	VMOV	R6, V4.S[3]
	ADDW	$1, R1, R6
	REVW	R6, R6
	VMOV	R6, V12.S[3]
	BLOCK

	// Add the midstate: the first hashes are the outer blocks' words 0..7.
	VLD1	(R0), [V2.S4, V3.S4]
	VADD	V2.S4, V0.S4, V4.S4
	VADD	V3.S4, V1.S4, V5.S4
	VADD	V2.S4, V8.S4, V12.S4
	VADD	V3.S4, V9.S4, V13.S4
	VLD1	(R10), [V6.S4, V7.S4]
	VLD1	(R10), [V14.S4, V15.S4]
	VLD1	(R11), [V0.S4, V1.S4]
	VLD1	(R11), [V8.S4, V9.S4]
	BLOCK

	// H7 = IV[7] + h; its byte swap is the top word. R8 gets bit i for each
	// stream i whose top word is at most ttop.
	VMOV	V1.S[3], R6
	ADDW	R9, R6, R6
	REVW	R6, R6
	CMPW	R3, R6
	CSETW	LS, R8
	VMOV	V9.S[3], R6
	ADDW	R9, R6, R6
	REVW	R6, R6
	CMPW	R3, R6
	CSETW	LS, R7
	ORRW	R7<<1, R8, R8
	CBNZW	R8, exit
	ADDW	$2, R1, R1
	SUBW	$1, R2, R2
	CBNZW	R2, loop

exit:
	// R2 batches were left, counting the one that stopped the loop.
	MOVWU	batches+12(FP), R6
	SUBW	R2, R6, R6
	MOVW	R6, done+24(FP)
	MOVW	R8, mask+28(FP)
	RET
