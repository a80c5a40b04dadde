package pow

import (
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"testing"
)

// refHash is the block hash computed the obvious way.
func refHash(header [80]byte, nonce uint32) [32]byte {
	binary.LittleEndian.PutUint32(header[76:], nonce)
	first := sha256.Sum256(header[:])
	return sha256.Sum256(first[:])
}

func randHeader(rng *rand.Rand) [80]byte {
	var h [80]byte
	for i := range h {
		h[i] = byte(rng.Uint32())
	}
	return h
}

func testRand(t testing.TB) *rand.Rand {
	seed := uint64(rand.Uint32())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}

func TestHeaderHash(t *testing.T) {
	rng := testRand(t)
	for range 200 {
		header := randHeader(rng)
		hs := newHeaderState(&header)
		for _, nonce := range []uint32{0, 1, 0xffffffff, rng.Uint32(), rng.Uint32()} {
			if got, want := hs.hash(nonce), refHash(header, nonce); got != want {
				t.Fatalf("header %x nonce %#x: hash %x, want %x", header, nonce, got, want)
			}
		}
	}
}

// TestKernels checks every kernel the CPU runs against crypto/sha256: for random
// headers and runs of nonces, each must return exactly the first nonce whose hash's
// top word is at most ttop, for thresholds at, just below and above the top words
// of nonces in every lane of a batch, and for no candidate at all.
func TestKernels(t *testing.T) {
	rng := testRand(t)
	headers := 50
	if testing.Short() {
		headers = 10
	}
	for _, k := range kernels() {
		t.Run(k.name, func(t *testing.T) {
			for range headers {
				header := randHeader(rng)
				hs := newHeaderState(&header)
				start := rng.Uint32()
				if rng.IntN(4) == 0 {
					start = 0xffffffff - uint32(rng.IntN(40)) // wrapping nonces
				}
				n := 1 + uint32(rng.IntN(40))
				tops := make([]uint32, n)
				minTop := ^uint32(0)
				for i := range tops {
					h := refHash(header, start+uint32(i))
					tops[i] = binary.LittleEndian.Uint32(h[28:])
					minTop = min(minTop, tops[i])
				}
				want := func(ttop uint32) uint32 {
					for i, top := range tops {
						if top <= ttop {
							return uint32(i)
						}
					}
					return n
				}
				thresholds := []uint32{0xffffffff, minTop}
				if minTop > 0 {
					thresholds = append(thresholds, minTop-1, 0)
				}
				for range 4 {
					top := tops[rng.IntN(len(tops))]
					thresholds = append(thresholds, top, top+1, top-1)
				}
				for _, ttop := range thresholds {
					if got := k.scan(hs, start, n, ttop); got != want(ttop) {
						t.Fatalf("header %x, nonces %#x+%d, ttop %#x: index %d, want %d (top words %x)",
							header, start, n, ttop, got, want(ttop), tops)
					}
				}
			}
		})
	}
}

func TestMeetsTarget(t *testing.T) {
	rng := testRand(t)
	one := big.NewInt(1)
	top := new(big.Int).Lsh(one, 224)
	max256 := new(big.Int).Sub(new(big.Int).Lsh(one, 256), one)
	for range 1000 {
		var hash [32]byte
		for i := range hash {
			hash[i] = byte(rng.Uint32())
		}
		// Small and large extremes too, so that borrows cross every word.
		switch rng.IntN(8) {
		case 0:
			hash = [32]byte{}
		case 1:
			hash = [32]byte{0: byte(rng.Uint32())}
		case 2:
			for i := range hash {
				hash[i] = 0xff
			}
		}
		h := HashToBig(&hash)
		for _, d := range []*big.Int{new(big.Int), one, new(big.Int).Neg(one), top, new(big.Int).Neg(top)} {
			tg := new(big.Int).Add(h, d)
			if tg.Sign() < 0 || tg.Cmp(max256) > 0 {
				continue
			}
			target := TargetBytes(tg)
			if got, want := meetsTarget(&hash, &target), HashMeetsTarget(&hash, tg); got != want {
				t.Fatalf("hash %x target %x: meets %v, want %v", hash, target, got, want)
			}
		}
	}
}
