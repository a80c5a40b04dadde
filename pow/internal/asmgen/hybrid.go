package main

import (
	"bytes"
	"fmt"
	"strings"
)

// The hybrid kernel hashes two nonces with SHA-NI and sixteen with AVX-512 in
// one instruction stream, their instructions interleaved, so that the CPU's
// out-of-order core can keep the SHA unit and the vector units busy at once.
// Whether that beats either alone depends on how the CPU shares its execution
// ports between them; pow times it against the others (ChooseKernel).

// Layout: the hybridState holds a shaniState at 0 and a vecState at hsVec; the
// stack scratch holds the SHA-NI part's at 0 and the AVX-512 part's at hsScratch.
const (
	hsVec       = 96
	hsScratch   = 384
	hybridSHA   = 2 // SHA-NI streams: on an AMD EPYC (Zen 5) 2 beat 1 and 4
	hybridLanes = hybridSHA + 16
	hybridFrame = hsScratch + vsW + 16*64 + 64 // the AVX-512 window, plus room to align to 64
)

// interleave merges two instruction sequences, spreading the shorter evenly
// through the longer, each in its own order.
func interleave(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// Take from a while its share done is behind b's.
		if j == len(b) || (i < len(a) && i*len(b) <= j*len(a)) {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}

// vexEncode rewrites the SHA-NI part's SSE instructions (all but the SHA ones,
// which have no other encoding) in their VEX forms. A legacy SSE instruction
// keeps the upper bits of its register, which the AVX-512 part's use of the
// wide registers makes a dependency the CPU must merge; a VEX one zeroes them.
func vexEncode(code []string) []string {
	out := make([]string, len(code))
	for i, l := range code {
		f := strings.Fields(strings.ReplaceAll(l, ",", " "))
		if len(f) == 0 || strings.HasPrefix(f[0], "//") {
			out[i] = l
			continue
		}
		switch f[0] {
		case "MOVOA", "MOVOU":
			l = "\tVMOVDQU " + f[1] + ", " + f[2]
		case "PADDD":
			l = fmt.Sprintf("\tVPADDD %s, %s, %s", f[1], f[2], f[2])
		case "PSHUFD":
			l = fmt.Sprintf("\tVPSHUFD %s, %s, %s", f[1], f[2], f[3])
		case "PALIGNR", "PBLENDW", "PINSRD":
			l = fmt.Sprintf("\tV%s %s, %s, %s, %s", f[0], f[1], f[2], f[3], f[3])
		case "MOVQ":
			if strings.HasPrefix(f[1], "X") || strings.HasPrefix(f[2], "X") {
				l = "\tVMOVQ " + f[1] + ", " + f[2]
			}
		}
		out[i] = l
	}
	return out
}

func lines(b *bytes.Buffer) []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// hybridKernel emits scanHybrid18 into g: lanes 0 and 1 are the SHA-NI
// streams (nonces DX and DX+1), lanes 2..17 the AVX-512 ones.
func (g *gen) hybridKernel() {
	g.line("")
	g.line("// func scanHybrid18(st *hybridState, nonce, batches, ttop uint32) (done, mask uint32)")
	g.line("TEXT ·scanHybrid18(SB), 0, $%d-32", hybridFrame)
	g.op("MOVQ st+0(FP), DI")
	g.op("MOVL nonce+8(FP), DX")
	g.op("MOVL batches+12(FP), CX")
	g.op("LEAQ 63(SP), SI")
	g.op("ANDQ $-64, SI")
	vec := &vgen{gen: g, isa: hybridISA, st: hsVec, scratch: hsScratch}
	g.shaniPrologue(0)
	vec.prologue() // sets R9 to ttop, as the SHA-NI check wants it
	g.op("XORL R13, R13")
	g.op("TESTL CX, CX")
	g.op("JZ exit")
	g.line("")
	g.line("loop:")
	// The two bodies are written apart, then merged.
	sha := &gen{}
	ss := sha.shaniBody(hybridSHA)
	vec.gen = &gen{}
	vec.body(hybridSHA)
	for _, l := range interleave(vexEncode(lines(&sha.buf)), lines(&vec.buf)) {
		g.line("%s", l)
	}
	vec.gen = g
	g.check(ss)
	vec.check("AX")
	g.op("SHLL $%d, AX", hybridSHA)
	g.op("ORL AX, R13")
	g.op("JNZ exit")
	g.loopEnd(hybridLanes, true)
}
