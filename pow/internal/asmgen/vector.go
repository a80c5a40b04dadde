package main

import (
	"fmt"
	"math/bits"
)

// The vector kernels hash one nonce per 32-bit lane: 16 with AVX-512, 8 with
// AVX2. Every lane runs the same rounds, so the code is the plain SHA-256 round
// and schedule, written once here for both instruction sets. What makes them fast
// is what is left out: words that are the same in every lane (the header's tail,
// the padding) are folded into per-header or compile-time constants, and only the
// parts of the message schedule that depend on the nonce are computed per lane.

// vecISA is one vector instruction set the generator writes a kernel for.
type vecISA struct {
	fn      string // Go name of the TEXT symbol
	lanes   int
	width   int    // bytes per vector
	reg     string // register prefix: Z or Y
	avx512  bool   // rotates, ternary logic and embedded broadcast
	wBase   int    // first register of the message window; -1: on the stack
	state   int    // first of the 8 state registers
	tmpBase int    // first of 8 scratch registers
}

var (
	avx512ISA = vecISA{fn: "scanAVX512x16", lanes: 16, width: 64, reg: "Z", avx512: true, wBase: 8, tmpBase: 24}
	avx2ISA   = vecISA{fn: "scanAVX2x8", lanes: 8, width: 32, reg: "Y", wBase: -1, tmpBase: 8}
	// The hybrid kernel's AVX-512 half leaves Z0..Z15 to SHA-NI (their low
	// halves are X0..X15), so its message window is on the stack.
	hybridISA = vecISA{lanes: 16, width: 64, reg: "Z", avx512: true, wBase: -1, state: 16, tmpBase: 24}
)

// Offsets in the read-only table vconsts<>. The scalars are broadcast to every
// lane where they are used; the two vectors are read whole (AVX2 reads their
// first 32 bytes).
const (
	vK        = 0   // K[0..63]
	vIV       = 256 // the initial state
	vOuterKW  = 288 // K[i]+W[i] of the outer block's padding rounds 8..15, indexed by i
	vOuterU   = 352 // the nonce-independent part of outer schedule word i, 16..63, indexed by i
	vLanes    = 640 // 0, 1, ..., 15: each lane's offset from the batch's first nonce
	vBswap    = 704 // VPSHUFB mask that byte-swaps each 32-bit lane
	vConstLen = 768
)

// Offsets in pow.vecState; TestVecStateLayout in pow checks them.
const (
	vsPre = 0   // the midstate advanced by rounds 0..2 of the header block
	vsMid = 32  // the midstate
	vsKW  = 64  // K[i]+W[i] for header rounds 4..17, whose W is the same in every lane, indexed by i
	vsU   = 136 // the nonce-independent part of header schedule word i, 18..63, indexed by i
)

// Stack scratch of the vector kernels: the batch's first nonce and the target's
// top word, for broadcasting, and the message window if it is not in registers.
const (
	vsNonce = 0
	vsTtop  = 4
	vsW     = 64
	vFrame  = vsW + 16*32 + 32 // the AVX2 window, plus room to align
)

// block describes one of the two compressions for the generator: which message
// words differ between lanes, and what the others are where that is known when
// generating.
type block struct {
	name string
	// vector reports whether word i is computed per lane.
	vector func(i int) bool
	// known returns word i's value if it is the same in every header.
	known func(i int) (uint32, bool)
	// uniform returns the operand holding a lane-independent value: K[i]+W[i]
	// for round i (kw) or the nonce-independent part of schedule word i.
	uniform func(i int, kw bool) string
}

func vecBlocks(st int) (header, outer block) {
	// Header block: W[0..2] end the merkle root and carry time and bits, W[3] is
	// the nonce, W[4..15] padding; W[16] and W[17] depend on neither the nonce
	// nor anything after it.
	header = block{
		name:   "header",
		vector: func(i int) bool { return i == 3 || i >= 18 },
		known: func(i int) (uint32, bool) {
			switch {
			case i == 4:
				return padBit, true
			case i == 15:
				return 80 * 8, true
			case i > 4 && i < 15:
				return 0, true
			}
			return 0, false
		},
		uniform: func(i int, kw bool) string {
			if kw {
				return fmt.Sprintf("%d(DI)", st+vsKW+4*i)
			}
			return fmt.Sprintf("%d(DI)", st+vsU+4*i)
		},
	}
	outer = block{
		name:   "outer",
		vector: func(i int) bool { return i < 8 || i >= 16 },
		known: func(i int) (uint32, bool) {
			switch {
			case i == 8:
				return padBit, true
			case i == 15:
				return 32 * 8, true
			case i > 8 && i < 15:
				return 0, true
			}
			return 0, false
		},
		uniform: func(i int, kw bool) string {
			if kw {
				return fmt.Sprintf("vconsts<>+%d(SB)", vOuterKW+4*(i-8))
			}
			return fmt.Sprintf("vconsts<>+%d(SB)", vOuterU+4*(i-16))
		},
	}
	return header, outer
}

// nonVectorTerms returns the terms of schedule word i (σ1(W[i-2]), W[i-7],
// σ0(W[i-15]), W[i-16]) that are the same in every lane, and whether all of those
// are known, with their sum.
func nonVectorTerms(b block, i int) (some, allKnown bool, sum uint32) {
	allKnown = true
	for _, t := range []struct {
		j int
		f func(uint32) uint32
	}{{i - 2, sigma1}, {i - 7, nil}, {i - 15, sigma0}, {i - 16, nil}} {
		if b.vector(t.j) {
			continue
		}
		v, ok := b.known(t.j)
		if !ok {
			some, allKnown = true, false
			continue
		}
		if t.f != nil {
			v = t.f(v)
		}
		if v != 0 {
			some = true
		}
		sum += v
	}
	return some, allKnown, sum
}

func sigma0(x uint32) uint32 {
	return bits.RotateLeft32(x, -7) ^ bits.RotateLeft32(x, -18) ^ x>>3
}

func sigma1(x uint32) uint32 {
	return bits.RotateLeft32(x, -17) ^ bits.RotateLeft32(x, -19) ^ x>>10
}

// vgen emits one vector kernel.
type vgen struct {
	*gen
	isa     vecISA
	st      int        // offset of the vecState from DI
	scratch int        // offset of the stack scratch from SI
	state   [8]string  // a..h
	w       [16]string // where message word i%16 is: a register or a stack slot
}

func (v *vgen) r(i int) string { return fmt.Sprintf("%s%d", v.isa.reg, i) }
func (v *vgen) tmp(i int) string {
	return v.r(v.isa.tmpBase + i)
}
func (v *vgen) cnst(off int) string { return fmt.Sprintf("vconsts<>+%d(SB)", off) }
func isMem(op string) bool          { return op[len(op)-1] == ')' }

// addBcst emits dst = x + the 32-bit value at mem in every lane.
func (v *vgen) addBcst(dst, x, mem string) {
	if v.isa.avx512 {
		v.op("VPADDD.BCST %s, %s, %s", mem, x, dst)
		return
	}
	// AVX2 has no embedded broadcast; tmp(7) is reserved for it.
	v.op("VPBROADCASTD %s, %s", mem, v.tmp(7))
	v.op("VPADDD %s, %s, %s", v.tmp(7), x, dst)
}

func (v *vgen) mov(src, dst string) {
	switch {
	case !v.isa.avx512:
		v.op("VMOVDQU %s, %s", src, dst)
	case isMem(src) || isMem(dst):
		v.op("VMOVDQU32 %s, %s", src, dst)
	default:
		v.op("VMOVDQA32 %s, %s", src, dst)
	}
}

func (v *vgen) stField(off int) string { return fmt.Sprintf("%d(DI)", v.st+off) }
func (v *vgen) stack(off int) string   { return fmt.Sprintf("%d(SI)", v.scratch+off) }

// sigma emits dst = ror(x,r1) ^ ror(x,r2) ^ (ror or shr)(x,r3), using t1 and t2
// as scratch (AVX2 needs only t1).
func (v *vgen) sigma(dst, x, t1, t2 string, r1, r2, r3 int, shift bool) {
	if v.isa.avx512 {
		third := "VPRORD"
		if shift {
			third = "VPSRLD"
		}
		v.op("VPRORD $%d, %s, %s", r1, x, dst)
		v.op("VPRORD $%d, %s, %s", r2, x, t1)
		v.op("%s $%d, %s, %s", third, r3, x, t2)
		v.op("VPTERNLOGD $0x96, %s, %s, %s", t2, t1, dst)
		return
	}
	v.op("VPSRLD $%d, %s, %s", r1, x, dst)
	v.op("VPSLLD $%d, %s, %s", 32-r1, x, t1)
	v.op("VPXOR %s, %s, %s", t1, dst, dst)
	v.op("VPSRLD $%d, %s, %s", r2, x, t1)
	v.op("VPXOR %s, %s, %s", t1, dst, dst)
	v.op("VPSLLD $%d, %s, %s", 32-r2, x, t1)
	v.op("VPXOR %s, %s, %s", t1, dst, dst)
	v.op("VPSRLD $%d, %s, %s", r3, x, t1)
	v.op("VPXOR %s, %s, %s", t1, dst, dst)
	if !shift {
		v.op("VPSLLD $%d, %s, %s", 32-r3, x, t1)
		v.op("VPXOR %s, %s, %s", t1, dst, dst)
	}
}

// schedule computes message word i into its window slot and returns the register
// holding it. Scratch: tmp(4..7).
func (v *vgen) schedule(b block, i int) string {
	var terms []string // registers first, then memory operands
	var mem []string
	// AVX2 loads a word into a register its sigma does not write or use as scratch.
	load := func(j int, into string) string {
		x := v.w[j&15]
		if isMem(x) {
			v.mov(x, into)
			return into
		}
		return x
	}
	if b.vector(i - 2) {
		v.sigma(v.tmp(4), load(i-2, v.tmp(5)), v.tmp(6), v.tmp(7), 17, 19, 10, true)
		terms = append(terms, v.tmp(4))
	}
	if b.vector(i - 15) {
		v.sigma(v.tmp(5), load(i-15, v.tmp(7)), v.tmp(6), v.tmp(7), 7, 18, 3, true)
		terms = append(terms, v.tmp(5))
	}
	for _, j := range []int{i - 16, i - 7} {
		if !b.vector(j) {
			continue
		}
		if x := v.w[j&15]; isMem(x) {
			mem = append(mem, x)
		} else {
			terms = append(terms, x)
		}
	}
	terms = append(terms, mem...)

	dst := v.w[i&15]
	if isMem(dst) {
		dst = v.tmp(4) // the sum is stored to the slot at the end
	}
	// dst may be W[i-16]'s register, a term itself: start from it.
	for k, t := range terms {
		if t == dst {
			terms[0], terms[k] = terms[k], terms[0]
		}
	}
	switch {
	case len(terms) == 0:
		panic(fmt.Sprintf("%s word %d: no lane-dependent term", b.name, i))
	case isMem(terms[0]):
		v.mov(terms[0], dst)
	case len(terms) == 1:
		if terms[0] != dst {
			v.mov(terms[0], dst)
		}
	default:
		v.op("VPADDD %s, %s, %s", terms[1], terms[0], dst)
		terms = terms[1:]
	}
	for _, t := range terms[1:] {
		v.op("VPADDD %s, %s, %s", t, dst, dst)
	}
	if some, _, _ := nonVectorTerms(b, i); some {
		v.addBcst(dst, dst, b.uniform(i, false))
	}
	if slot := v.w[i&15]; isMem(slot) {
		v.mov(dst, slot)
	}
	return dst
}

// round emits SHA-256 round i of block b. If needA is false the new a is not
// computed: nothing reads it before the kernel stops. Scratch: tmp(0..3), and
// tmp(7) for AVX2 broadcasts.
func (v *vgen) round(b block, i int, w string, needA bool) {
	a, bb, c, d, e, f, g, h := v.state[0], v.state[1], v.state[2], v.state[3], v.state[4], v.state[5], v.state[6], v.state[7]
	t0, t1, t2, t3 := v.tmp(0), v.tmp(1), v.tmp(2), v.tmp(3)
	v.line("\t// %s round %d", b.name, i)
	if w == "" {
		v.addBcst(h, h, b.uniform(i, true))
	} else {
		v.op("VPADDD %s, %s, %s", w, h, h)
		v.addBcst(h, h, v.cnst(vK+4*i))
	}
	// ch(e,f,g) = e ? f : g
	if v.isa.avx512 {
		v.mov(e, t2)
		v.op("VPTERNLOGD $0xca, %s, %s, %s", g, f, t2)
	} else {
		v.op("VPXOR %s, %s, %s", g, f, t2)
		v.op("VPAND %s, %s, %s", e, t2, t2)
		v.op("VPXOR %s, %s, %s", g, t2, t2)
	}
	v.op("VPADDD %s, %s, %s", t2, h, h)
	v.sigma(t0, e, t1, t3, 6, 11, 25, false)
	v.op("VPADDD %s, %s, %s", t0, h, h)
	// h is T1; d becomes the new e.
	v.op("VPADDD %s, %s, %s", h, d, d)
	if needA {
		v.sigma(t0, a, t1, t3, 2, 13, 22, false)
		// maj(a,b,c)
		if v.isa.avx512 {
			v.mov(a, t2)
			v.op("VPTERNLOGD $0xe8, %s, %s, %s", c, bb, t2)
		} else {
			v.op("VPXOR %s, %s, %s", bb, a, t2)
			v.op("VPXOR %s, %s, %s", c, bb, t1)
			v.op("VPAND %s, %s, %s", t1, t2, t2)
			v.op("VPXOR %s, %s, %s", bb, t2, t2)
		}
		v.op("VPADDD %s, %s, %s", t0, h, h)
		v.op("VPADDD %s, %s, %s", t2, h, h)
	}
	v.state = [8]string{h, a, bb, c, d, e, f, g}
}

// rounds emits rounds from..last of block b, computing the schedule as it goes.
// If final, the kernel stops after round last, and needs only its e.
func (v *vgen) rounds(b block, from, last int, final bool) {
	for i := from; i <= last; i++ {
		var w string
		switch {
		case i >= 16 && b.vector(i):
			w = v.schedule(b, i)
		case b.vector(i):
			w = v.w[i]
		}
		v.round(b, i, w, !final || i+3 <= last)
	}
}

func (v *vgen) broadcastState(off func(i int) string) {
	for i := range 8 {
		v.state[i] = v.r(v.isa.state + i)
		v.op("VPBROADCASTD %s, %s", off(i), v.state[i])
	}
}

func (v *vgen) kernel() {
	isa := v.isa
	v.line("")
	v.line("// func %s(st *vecState, nonce, batches, ttop uint32) (done, mask uint32)", isa.fn)
	v.line("TEXT ·%s(SB), 0, $%d-32", isa.fn, vFrame)
	v.op("MOVQ st+0(FP), DI")
	v.op("MOVL nonce+8(FP), DX")
	v.op("MOVL batches+12(FP), CX")
	v.op("LEAQ 31(SP), SI")
	v.op("ANDQ $-32, SI")
	v.prologue()
	v.op("XORL R13, R13")
	v.op("TESTL CX, CX")
	v.op("JZ exit")
	v.line("")
	v.line("loop:")
	v.body(0)
	v.check("R13")
	v.op("TESTL R13, R13")
	v.op("JNZ exit")
	v.loopEnd(isa.lanes, true)
}

// prologue puts the target's top word on the stack, for broadcasting.
func (v *vgen) prologue() {
	v.op("MOVL ttop+16(FP), R9")
	v.op("MOVL R9, %s", v.stack(vsTtop))
}

// body emits the double hash of the batch's lanes, whose first nonce is DX +
// first, up to the outer block's round 60.
func (v *vgen) body(first int) {
	isa := v.isa
	header, outer := vecBlocks(v.st)
	for i := range v.w {
		if isa.wBase >= 0 {
			v.w[i] = v.r(isa.wBase + i)
		} else {
			v.w[i] = v.stack(vsW + isa.width*i)
		}
	}
	v.line("\t// W[3]: each lane's nonce, byte-swapped.")
	w3 := v.w[3]
	if isMem(w3) {
		w3 = v.tmp(0)
	}
	v.op("MOVL DX, %s", v.stack(vsNonce))
	if first != 0 {
		v.op("ADDL $%d, %s", first, v.stack(vsNonce))
	}
	v.op("VPBROADCASTD %s, %s", v.stack(vsNonce), w3)
	v.op("VPADDD %s, %s, %s", v.cnst(vLanes), w3, w3)
	v.op("VPSHUFB %s, %s, %s", v.cnst(vBswap), w3, w3)
	if w3 != v.w[3] {
		v.mov(w3, v.w[3])
	}
	v.broadcastState(func(i int) string { return v.stField(vsPre + 4*i) })
	v.rounds(header, 3, 63, false)
	v.line("\t// Add the midstate: the first hash is the outer block's W[0..7].")
	var free []string
	for i := range 8 {
		v.addBcst(v.state[i], v.state[i], v.stField(vsMid+4*i))
		if isa.wBase >= 0 {
			// The state register becomes message word i; word i's register
			// (free: the header's schedule is done) takes the state.
			free = append(free, v.w[i])
			v.w[i] = v.state[i]
		} else {
			v.mov(v.state[i], v.w[i])
		}
	}
	for i := range 8 {
		if isa.wBase >= 0 {
			v.state[i] = free[i]
		}
		v.op("VPBROADCASTD %s, %s", v.cnst(vIV+4*i), v.state[i])
	}
	// The hash's last word H7 = IV[7] + h after round 63 = IV[7] + e after round 60.
	v.rounds(outer, 0, 60, true)
}

// check sets bit i of mask for each lane i whose top word, the byte-swapped
// H7, is at most ttop.
func (v *vgen) check(mask string) {
	v.line("\t// Lanes whose top word, the byte-swapped H7, is at most ttop.")
	x := v.tmp(0)
	v.addBcst(x, v.state[4], v.cnst(vIV+4*7))
	v.op("VPSHUFB %s, %s, %s", v.cnst(vBswap), x, x)
	v.op("VPBROADCASTD %s, %s", v.stack(vsTtop), v.tmp(1))
	if v.isa.avx512 {
		v.op("VPCMPUD $2, %s, %s, K1", v.tmp(1), x)
		v.op("KMOVW K1, %s", mask)
	} else {
		// No unsigned compare in AVX2: x <= t exactly when max(x, t) == t.
		v.op("VPMAXUD %s, %s, %s", v.tmp(1), x, x)
		v.op("VPCMPEQD %s, %s, %s", v.tmp(1), x, x)
		v.op("VMOVMSKPS %s, %s", x, mask)
	}
}

// vecConstTable emits vconsts<>.
func (g *gen) vecConstTable() {
	word := func(off int, x uint32) { g.line("DATA vconsts<>+%d(SB)/4, $0x%08x", off, x) }
	for i, x := range k {
		word(vK+4*i, x)
	}
	for i, x := range iv {
		word(vIV+4*i, x)
	}
	_, outer := vecBlocks(0)
	for i := 8; i < 16; i++ {
		w, _ := outer.known(i)
		word(vOuterKW+4*(i-8), k[i]+w)
	}
	for i := 16; i < 64; i++ {
		some, allKnown, sum := nonVectorTerms(outer, i)
		if some && !allKnown {
			panic(fmt.Sprintf("outer word %d: unknown lane-independent terms", i))
		}
		word(vOuterU+4*(i-16), sum)
	}
	for i := range 16 {
		word(vLanes+4*i, uint32(i))
	}
	for i := range 16 {
		b := uint32(4*(i%4) + 3)
		word(vBswap+4*i, b|(b-1)<<8|(b-2)<<16|(b-3)<<24)
	}
	g.line("GLOBL vconsts<>(SB), RODATA|NOPTR, $%d", vConstLen)
}

// generateVector returns the vector kernels' assembly, pow/sha256d_vec_amd64.s.
func generateVector() []byte {
	g := newFile()
	g.vecConstTable()
	g.line("")
	g.shaniConstTable() // for the hybrid kernel
	for _, isa := range []vecISA{avx512ISA, avx2ISA} {
		(&vgen{gen: g, isa: isa}).kernel()
	}
	g.hybridKernel()
	return g.buf.Bytes()
}
