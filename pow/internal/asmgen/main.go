// Command asmgen writes pow's amd64 nonce-scanning kernels: the SHA-NI one,
// pow/sha256d_amd64.s (-kernel shani), and the AVX-512, AVX2 and hybrid
// (SHA-NI and AVX-512 at once) ones, pow/sha256d_vec_amd64.s (-kernel vector;
// see vector.go and hybrid.go).
//
// The SHA-NI kernel hashes four nonces at a time with their instructions interleaved: one
// SHA-NI round chain is bound by the latency of SHA256RNDS2, so a single stream
// leaves the unit idle most of the time, while four independent streams keep it
// busy. Writing the four streams out by hand would be some 1,500 lines that are easy
// to get subtly wrong; this program emits them from one description of a stream.
//
// Run it through go generate in pow (see sha256d_amd64.go); the generated file is
// committed, and a test checks that it matches this program's output.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("out", "", "file to write (default: standard output)")
	kernel := flag.String("kernel", "shani", "kernels to write: shani or vector")
	flag.Parse()
	var src []byte
	switch *kernel {
	case "shani":
		src = generate()
	case "vector":
		src = generateVector()
	default:
		fmt.Fprintf(os.Stderr, "asmgen: unknown -kernel %q\n", *kernel)
		os.Exit(2)
	}
	if *out == "" {
		os.Stdout.Write(src)
		return
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "asmgen:", err)
		os.Exit(1)
	}
}

var iv = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

var k = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

const (
	streams = 4
	padBit  = 0x80000000

	// Offsets in the read-only table consts<>. Every entry is 16 bytes, and the
	// linker aligns a symbol of 32 bytes or more to 32, so all are aligned as the
	// SSE memory operands require.
	cK       = 0   // K[0..63]
	cIVABEF  = 256 // the initial state in SHA-NI register order
	cIVCDGH  = 272 //
	cKW1     = 288 // K+W for rounds 4..15 of the header's second block, all padding: 3 entries
	cW1      = 336 // that block's constant message words 4..15: 3 entries
	cKW2     = 384 // K+W for rounds 8..15 of the outer hash, all padding: 2 entries
	cW2      = 416 // the outer block's constant message words 8..15: 2 entries
	constLen = 448

	// Offsets in the 16-byte-aligned scratch area on the stack. The message
	// schedule does not fit in registers next to four states, so it lives here.
	sW       = 0   // W[stream][4] message vectors, 16 entries
	sMidABEF = 256 // copies of shaniState's fields, aligned for memory operands
	sMidCDGH = 272
	sPreABEF = 288
	sPreCDGH = 304
	sW012    = 320
	frame    = 352 // 336 bytes plus room to align

	// Offsets in pow.shaniState; TestSHANIStateLayout in pow checks them.
	stMidABEF = 0
	stMidCDGH = 16
	stPreABEF = 32
	stPreCDGH = 48
	stW012    = 64
	stKW2     = 80
)

// Register plan. X0 is SHA256RNDS2's implicit K+W operand; X1..X8 hold the four
// states; X9..X12 hold each stream's newest message vector, which the next schedule
// step needs twice; X13..X15 are scratch. DI points to the shaniState, SI to the
// aligned scratch, DX is the batch's first nonce, CX counts batches left, R8 holds
// K[2]+W[2], R9 the target's top word, R12 is scratch and R13 collects the mask.
var (
	stateRegs = [streams][2]string{{"X1", "X2"}, {"X3", "X4"}, {"X5", "X6"}, {"X7", "X8"}}
	lastRegs  = [streams]string{"X9", "X10", "X11", "X12"}
	nonceRegs = [streams]string{"AX", "BX", "R10", "R11"} // byte-swapped nonce of each stream
)

const (
	regT = "X13"
	regU = "X14"
	regV = "X15"
)

// stream tracks one interleaved hash while code is emitted for it.
type stream struct {
	abef, cdgh string    // registers holding the state; SHA256RNDS2 swaps their roles
	last       string    // register with the newest message vector
	nonce      string    // register with the byte-swapped nonce
	loc        [4]string // where each of the 4 message vectors of the window is
	scratch    int       // offset of this stream's 4 message slots in the scratch area
}

type gen struct{ buf bytes.Buffer }

func (g *gen) line(format string, args ...any) { fmt.Fprintf(&g.buf, format+"\n", args...) }
func (g *gen) op(format string, args ...any)   { g.line("\t"+format, args...) }

// loopEnd closes a kernel's batch loop, whose batches hash lanes nonces, and
// returns how many batches ran before the one that stopped it and that batch's
// mask, which is in R13. A kernel that used the upper halves of vector
// registers clears them (vzeroupper) before returning to SSE code.
func (g *gen) loopEnd(lanes int, vzeroupper bool) {
	g.op("ADDL $%d, DX", lanes)
	g.op("DECL CX")
	g.op("JNZ loop")
	g.line("")
	g.line("exit:")
	if vzeroupper {
		g.op("VZEROUPPER")
	}
	g.line("\t// CX batches were left, counting the one that stopped the loop.")
	g.op("MOVL batches+12(FP), AX")
	g.op("SUBL CX, AX")
	g.op("MOVL AX, done+24(FP)")
	g.op("MOVL R13, mask+28(FP)")
	g.op("RET")
}

func cnst(off int) string { return fmt.Sprintf("consts<>+%d(SB)", off) }
func scr(off int) string  { return fmt.Sprintf("%d(SI)", off) }

// rnds2 runs two rounds on s with the K+W pair in X0's low half. The new a,b,e,f
// land in the register that held c,d,g,h, and the old a,b,e,f are the new c,d,g,h,
// so the two registers swap roles instead of moving data.
func (g *gen) rnds2(s *stream) {
	g.op("SHA256RNDS2 X0, %s, %s", s.abef, s.cdgh)
	s.abef, s.cdgh = s.cdgh, s.abef
}

// quad runs four rounds on s with K+W in X0.
func (g *gen) quad(s *stream) {
	g.rnds2(s)
	g.op("PSHUFD $0x0e, X0, X0")
	g.rnds2(s)
}

// schedule computes message vector grp (words 4*grp..4*grp+3) of s into regT from
// the window of the previous four, as the SHA-NI message instructions define it:
// W[t] = msg2(msg1(W[t-4], W[t-3]) + alignr(W[t-1], W[t-2]), W[t-1]). If the header
// block's first vector is still to be built, build it from the header words and
// the stream's nonce.
func (g *gen) schedule(s *stream, grp int, buildFirst bool) {
	j := grp & 3
	if buildFirst {
		g.op("MOVOA %s, %s", scr(sW012), regT)
		g.op("PINSRD $3, %s, %s", s.nonce, regT)
	} else {
		g.op("MOVOA %s, %s", s.loc[j], regT)
	}
	g.op("SHA256MSG1 %s, %s", s.loc[(j+1)&3], regT)
	prev := s.last
	if grp == 4 { // the window's newest vector is an input, not yet in a register
		prev = s.loc[(j+3)&3]
	}
	g.op("MOVOA %s, %s", prev, regU)
	g.op("PALIGNR $4, %s, %s", s.loc[(j+2)&3], regU)
	g.op("PADDD %s, %s", regU, regT)
	g.op("SHA256MSG2 %s, %s", prev, regT)
	if grp+2 <= 15 { // later steps read it from memory
		s.loc[j] = scr(s.scratch + 16*j)
		g.op("MOVOA %s, %s", regT, s.loc[j])
	}
	if grp < 15 {
		g.op("MOVOA %s, %s", regT, s.last)
	}
}

// headerBlock emits the header's second block for all streams: rounds 2..63 from
// the precomputed state after rounds 0 and 1 (which see no nonce), then the
// midstate added in. It leaves each stream's first hash in its state registers.
func (g *gen) headerBlock(ss []*stream) {
	g.line("\t// Header block, rounds 2-3: W[3] is the nonce.")
	for _, s := range ss {
		s.loc = [4]string{"", cnst(cW1), cnst(cW1 + 16), cnst(cW1 + 32)}
		g.op("MOVOA %s, %s", scr(sPreABEF), s.abef)
		g.op("MOVOA %s, %s", scr(sPreCDGH), s.cdgh)
		g.op("MOVL %s, R12", s.nonce)
		g.op("ADDL $%#x, R12 // K[3]", int32(k[3]))
		g.op("SHLQ $32, R12")
		g.op("ORQ R8, R12")
		g.op("MOVQ R12, X0")
		g.rnds2(s)
	}
	for grp := 1; grp < 4; grp++ {
		g.line("\t// Header block, rounds %d-%d: padding, K+W precomputed.", 4*grp, 4*grp+3)
		for _, s := range ss {
			g.op("MOVOA %s, X0", cnst(cKW1+16*(grp-1)))
			g.quad(s)
		}
	}
	for grp := 4; grp < 16; grp++ {
		g.line("\t// Header block, rounds %d-%d.", 4*grp, 4*grp+3)
		for _, s := range ss {
			g.schedule(s, grp, grp == 4)
			g.op("MOVOA %s, X0", cnst(cK+16*grp))
			g.op("PADDD %s, X0", regT)
			g.quad(s)
		}
	}
	g.line("\t// Add the midstate: each stream now holds its first hash.")
	for _, s := range ss {
		g.op("PADDD %s, %s", scr(sMidABEF), s.abef)
		g.op("PADDD %s, %s", scr(sMidCDGH), s.cdgh)
	}
}

// outerBlock emits the outer hash for all streams, from the first hashes in their
// state registers, and stops after round 61: the hash's last word H7 = IV[7] + f
// after round 61 is known then, which is all the target check needs.
func (g *gen) outerBlock(ss []*stream) {
	g.line("\t// The first hash in a,b,c,d / e,f,g,h order is the outer block's W[0..7].")
	for _, s := range ss {
		g.op("PSHUFD $0x1b, %s, %s", s.abef, regT) // f,e,b,a -> a,b,e,f
		g.op("PSHUFD $0xb1, %s, %s", s.cdgh, regU) // h,g,d,c -> g,h,c,d
		g.op("MOVOA %s, %s", regT, regV)
		g.op("PBLENDW $0xf0, %s, %s", regU, regV) // a,b,c,d
		g.op("PALIGNR $8, %s, %s", regT, regU)    // e,f,g,h
		g.op("MOVOA %s, %s", regV, scr(s.scratch))
		g.op("MOVOA %s, %s", regU, scr(s.scratch+16))
		s.loc = [4]string{scr(s.scratch), scr(s.scratch + 16), cnst(cW2), cnst(cW2 + 16)}
	}
	for i, s := range ss {
		s.abef, s.cdgh = stateRegs[i][0], stateRegs[i][1]
		g.op("MOVOA %s, %s", cnst(cIVABEF), s.abef)
		g.op("MOVOA %s, %s", cnst(cIVCDGH), s.cdgh)
	}
	for grp := 0; grp < 2; grp++ {
		g.line("\t// Outer block, rounds %d-%d.", 4*grp, 4*grp+3)
		for _, s := range ss {
			g.op("MOVOA %s, X0", cnst(cK+16*grp))
			g.op("PADDD %s, X0", s.loc[grp])
			g.quad(s)
		}
	}
	for grp := 2; grp < 4; grp++ {
		g.line("\t// Outer block, rounds %d-%d: padding, K+W precomputed.", 4*grp, 4*grp+3)
		for _, s := range ss {
			g.op("MOVOA %s, X0", cnst(cKW2+16*(grp-2)))
			g.quad(s)
		}
	}
	for grp := 4; grp < 16; grp++ {
		g.line("\t// Outer block, rounds %d-%d.", 4*grp, min(4*grp+3, 61))
		for _, s := range ss {
			g.schedule(s, grp, false)
			g.op("MOVOA %s, X0", cnst(cK+16*grp))
			g.op("PADDD %s, X0", regT)
			if grp < 15 {
				g.quad(s)
			} else {
				g.rnds2(s)
			}
		}
	}
}

// check emits the target test: R13 gets bit i set for each stream i whose hash's
// top word, the byte-swapped H7, is at most the target's top word in R9.
func (g *gen) check(ss []*stream) {
	g.line("\t// H7 = IV[7] + f (lane 0 of a,b,e,f); collect the streams whose top word is > R9,")
	g.line("\t// one carry at a time, then invert.")
	g.op("XORL R13, R13")
	for i := len(ss) - 1; i >= 0; i-- {
		g.op("MOVQ %s, R12", ss[i].abef)
		g.op("ADDL $%#x, R12 // IV[7]", int32(iv[7]))
		g.op("BSWAPL R12")
		g.op("CMPL R9, R12")
		g.op("ADCL R13, R13")
	}
	g.op("NOTL R13")
	g.op("ANDL $%d, R13", 1<<len(ss)-1)
}

// abef returns the SHA-NI register layout of state s: lanes f,e,b,a and h,g,d,c.
func abef(s [8]uint32) (x, y [4]uint32) {
	return [4]uint32{s[5], s[4], s[1], s[0]}, [4]uint32{s[7], s[6], s[3], s[2]}
}

func (g *gen) data(off int, words [4]uint32) {
	for i, w := range words {
		g.line("DATA consts<>+%d(SB)/4, $0x%08x", off+4*i, w)
	}
}

// newFile starts a generated assembly file: the header and build constraint.
func newFile() *gen {
	g := &gen{}
	g.line("// Code generated by asmgen (pow/internal/asmgen). DO NOT EDIT.")
	g.line("")
	g.line("//go:build amd64 && !purego")
	g.line("")
	g.line("#include \"textflag.h\"")
	g.line("")
	return g
}

func generate() []byte {
	g := newFile()
	g.shaniConstTable()
	g.line("")
	g.line("// func scanSHANI4(st *shaniState, nonce, batches, ttop uint32) (done, mask uint32)")
	g.line("TEXT ·scanSHANI4(SB), 0, $%d-32", frame)
	g.op("MOVQ st+0(FP), DI")
	g.op("MOVL nonce+8(FP), DX")
	g.op("MOVL batches+12(FP), CX")
	g.op("MOVL ttop+16(FP), R9")
	g.op("LEAQ 15(SP), SI")
	g.op("ANDQ $-16, SI")
	g.shaniPrologue(0)
	g.op("XORL R13, R13")
	g.op("TESTL CX, CX")
	g.op("JZ exit")
	g.line("")
	g.line("loop:")
	ss := g.shaniBody(streams)
	g.check(ss)
	g.op("JNZ exit")
	g.loopEnd(streams, false)
	return g.buf.Bytes()
}

// shaniConstTable emits consts<>, the SHA-NI kernel's table.
func (g *gen) shaniConstTable() {
	for i := 0; i < 64; i += 4 {
		g.data(cK+4*i, [4]uint32(k[i:i+4]))
	}
	x, y := abef(iv)
	g.data(cIVABEF, x)
	g.data(cIVCDGH, y)
	// The assembler wants DATA in increasing offsets: all K+W entries of a block,
	// then its message words.
	blockConsts := func(kwOff, wOff int, pad [16]uint32, firstWord, entries int) {
		for i := range entries {
			var kw [4]uint32
			for j := range 4 {
				t := firstWord + 4*i + j
				kw[j] = k[t] + pad[t]
			}
			g.data(kwOff+16*i, kw)
		}
		for i := range entries {
			g.data(wOff+16*i, [4]uint32(pad[firstWord+4*i:]))
		}
	}
	blockConsts(cKW1, cW1, [16]uint32{4: padBit, 15: 80 * 8}, 4, 3)
	blockConsts(cKW2, cW2, [16]uint32{8: padBit, 15: 32 * 8}, 8, 2)
	g.line("GLOBL consts<>(SB), RODATA|NOPTR, $%d", constLen)
}

// shaniPrologue copies the shaniState at st(DI) to the aligned scratch at SI,
// and K[2]+W[2] to R8.
func (g *gen) shaniPrologue(st int) {
	for _, c := range [][2]int{{stMidABEF, sMidABEF}, {stMidCDGH, sMidCDGH}, {stPreABEF, sPreABEF}, {stPreCDGH, sPreCDGH}, {stW012, sW012}} {
		g.op("MOVOU %d(DI), X0", st+c[0])
		g.op("MOVOA X0, %s", scr(c[1]))
	}
	g.op("MOVL %d(DI), R8", st+stKW2)
}

// shaniBody emits the double hash of nonces DX..DX+n-1, one per stream (n at
// most streams), up to the outer block's round 61, and returns the streams.
func (g *gen) shaniBody(n int) []*stream {
	ss := make([]*stream, n)
	for i := range ss {
		ss[i] = &stream{
			abef: stateRegs[i][0], cdgh: stateRegs[i][1],
			last: lastRegs[i], nonce: nonceRegs[i], scratch: sW + 64*i,
		}
		if i == 0 {
			g.op("MOVL DX, %s", ss[i].nonce)
		} else {
			g.op("LEAL %d(DX), %s", i, ss[i].nonce)
		}
		g.op("BSWAPL %s", ss[i].nonce)
	}
	g.headerBlock(ss)
	g.outerBlock(ss)
	return ss
}
