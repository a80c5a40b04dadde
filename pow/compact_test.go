package pow

import (
	"errors"
	"math/big"
	"testing"
)

func mustHex(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("bad hex %q", s)
	}
	return n
}

// Cases from Bitcoin Core's arith_uint256 SetCompact/GetCompact tests.
func TestCompactRoundTrip(t *testing.T) {
	cases := []struct {
		bits         uint32
		value        string
		negative     bool
		overflow     bool
		reencodeBits uint32
	}{
		{0x00000000, "0", false, false, 0},
		{0x00123456, "0", false, false, 0},
		{0x01003456, "0", false, false, 0},
		{0x02000056, "0", false, false, 0},
		{0x03000000, "0", false, false, 0},
		{0x04000000, "0", false, false, 0},
		{0x00923456, "0", false, false, 0},
		{0x01803456, "0", false, false, 0},
		{0x02800056, "0", false, false, 0},
		{0x03800000, "0", false, false, 0},
		{0x04800000, "0", false, false, 0},
		{0x01123456, "12", false, false, 0x01120000},
		{0x02123456, "1234", false, false, 0x02123400},
		{0x03123456, "123456", false, false, 0x03123456},
		{0x04123456, "12345600", false, false, 0x04123456},
		{0x05009234, "92340000", false, false, 0x05009234},
		{0x20123456, "1234560000000000000000000000000000000000000000000000000000000000", false, false, 0x20123456},
		{0x01fedcba, "7e", true, false, 0x017e0000},
		{0x04923456, "12345600", true, false, 0x04123456},
	}
	for _, c := range cases {
		n, neg, over := CompactToBig(c.bits)
		if n.Cmp(mustHex(t, c.value)) != 0 || neg != c.negative || over != c.overflow {
			t.Errorf("CompactToBig(%#08x) = %x neg=%v over=%v, want %s neg=%v over=%v",
				c.bits, n, neg, over, c.value, c.negative, c.overflow)
		}
		if got := BigToCompact(n); got != c.reencodeBits {
			t.Errorf("BigToCompact(%x) = %#08x, want %#08x", n, got, c.reencodeBits)
		}
	}
	if _, _, over := CompactToBig(0xff123456); !over {
		t.Error("0xff123456 should overflow")
	}
	if got := BigToCompact(big.NewInt(0x80)); got != 0x02008000 {
		t.Errorf("BigToCompact(0x80) = %#08x, want 0x02008000", got)
	}
}

func TestTargetRejects(t *testing.T) {
	limit := mustHex(t, "00000000ffff0000000000000000000000000000000000000000000000000000")
	for _, bits := range []uint32{0x00000000, 0x04923456, 0xff123456, 0x1d01ffff, 0x01003456} {
		if _, err := Target(bits, limit); !errors.Is(err, ErrBadBits) {
			t.Errorf("Target(%#08x) err = %v, want ErrBadBits", bits, err)
		}
	}
	if _, err := Target(0x1d00ffff, limit); err != nil {
		t.Errorf("Target(0x1d00ffff) = %v", err)
	}
}

func TestWork(t *testing.T) {
	// Bitcoin's genesis bits carry 0x100010001 expected hashes.
	if got := WorkFromBits(0x1d00ffff); got.Cmp(mustHex(t, "100010001")) != 0 {
		t.Errorf("work of 0x1d00ffff = %x", got)
	}
	// Regtest's pow limit: almost every other hash meets it.
	if got := WorkFromBits(0x207fffff); got.Int64() != 2 {
		t.Errorf("work of 0x207fffff = %v, want 2", got)
	}
	if got := WorkFromBits(0x04923456); got.Sign() != 0 {
		t.Errorf("work of negative bits = %v, want 0", got)
	}
}

func TestCheckProofOfWork(t *testing.T) {
	limit := mustHex(t, "7fffff0000000000000000000000000000000000000000000000000000000000")
	var low, high [32]byte
	low[31] = 0x10  // 0x10 << 248: below the target
	high[31] = 0x80 // 0x80 << 248: above it
	if err := CheckProofOfWork(&low, 0x207fffff, limit); err != nil {
		t.Errorf("low hash: %v", err)
	}
	if err := CheckProofOfWork(&high, 0x207fffff, limit); !errors.Is(err, ErrHashAboveTarget) {
		t.Errorf("high hash: err = %v, want ErrHashAboveTarget", err)
	}
	target, _ := Target(0x207fffff, limit)
	exact := TargetBytes(target)
	if !HashMeetsTarget(&exact, target) {
		t.Error("a hash equal to the target must meet it")
	}
}
