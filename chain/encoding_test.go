package chain

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestCompactSizeCanonical(t *testing.T) {
	for _, n := range []uint64{0, 1, 0xfc, 0xfd, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<64 - 1} {
		enc := AppendCompactSize(nil, n)
		if len(enc) != CompactSizeLen(n) {
			t.Errorf("CompactSizeLen(%d) = %d, encoding has %d bytes", n, CompactSizeLen(n), len(enc))
		}
		r := reader{buf: enc}
		if got := r.compactSize("n"); got != n || r.finish("n") != nil {
			t.Errorf("round trip of %d gave %d, err %v", n, got, r.err)
		}
	}
	for _, enc := range []string{"fdfc00", "fe00ff0000", "feffff0000", "ff0000000000000000", "ffffffffff00000000"} {
		b, _ := hex.DecodeString(enc)
		r := reader{buf: b}
		r.compactSize("n")
		if !errors.Is(r.err, ErrNonCanonicalCount) {
			t.Errorf("%s: err = %v, want ErrNonCanonicalCount", enc, r.err)
		}
	}
}

func TestTxRoundTrip(t *testing.T) {
	tx := spendTx(t, testKey(1), 7, 3, 5000)
	enc := tx.Encode()
	if len(enc) != tx.SerializeSize() {
		t.Fatalf("SerializeSize %d, encoding %d", tx.SerializeSize(), len(enc))
	}
	dec, err := DecodeTx(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.Encode(), enc) || dec.TxID() != tx.TxID() || dec.WitnessHash() != tx.WitnessHash() {
		t.Fatal("decoded transaction differs")
	}
	// The txid ignores witnesses; the whole-transaction hash does not.
	dec.Inputs[0].Witness[1] = append([]byte(nil), dec.Inputs[0].Witness[1]...)
	dec.Inputs[0].Witness[1][5] ^= 1
	if dec.TxID() != tx.TxID() || dec.WitnessHash() == tx.WitnessHash() {
		t.Error("txid must not and witness hash must change with the witness")
	}
}

func TestDecodeRejects(t *testing.T) {
	tx := spendTx(t, testKey(1), 7, 1, 5000).Encode()
	block := testBlock(t).Encode()
	cases := []struct {
		name string
		tx   bool
		b    []byte
		want ErrorKind
	}{
		{"empty tx", true, nil, ErrShortRead},
		{"truncated tx", true, tx[:len(tx)-1], ErrShortRead},
		{"trailing byte tx", true, append(bytes.Clone(tx), 0), ErrTrailingBytes},
		{"huge input count", true, append([]byte{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x7f}, make([]byte, 100)...), ErrCountTooLarge},
		{"non-canonical input count", true, append([]byte{1, 0, 0, 0, 0xfd, 0x01, 0x00}, tx[5:]...), ErrNonCanonicalCount},
		{"oversized tx", true, make([]byte, MaxTxSize+1), ErrTooLarge},
		{"short header", false, block[:79], ErrShortRead},
		{"trailing byte block", false, append(bytes.Clone(block), 0), ErrTrailingBytes},
		{"huge tx count", false, append(bytes.Clone(block[:80]), 0xfe, 0xff, 0xff, 0xff, 0xff), ErrCountTooLarge},
		{"oversized block", false, make([]byte, MaxBlockSize+1), ErrTooLarge},
	}
	for _, c := range cases {
		var err error
		if c.tx {
			_, err = DecodeTx(c.b)
		} else {
			_, err = DecodeBlock(c.b)
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestBlockRoundTrip(t *testing.T) {
	b := testBlock(t, spendTx(t, testKey(1), 1, 2, 9000), spendTx(t, testKey(2), 2, 1, 9000))
	enc := b.Encode()
	dec, err := DecodeBlock(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dec.Encode(), enc) || dec.Hash() != b.Hash() {
		t.Fatal("decoded block differs")
	}
	// The decoded block must not alias the caller's buffer.
	clear(enc)
	if !bytes.Equal(dec.Encode(), b.Encode()) {
		t.Fatal("decoded block changed with the input buffer")
	}
}

func TestHashString(t *testing.T) {
	h := RegtestParams.GenesisHash
	parsed, err := ParseHash(h.String())
	if err != nil || parsed != h {
		t.Fatalf("ParseHash(String()) = %v, %v", parsed, err)
	}
	if _, err := ParseHash("zz"); err == nil {
		t.Error("short hash accepted")
	}
	if _, err := ParseHash(string(bytes.Repeat([]byte("g"), 64))); err == nil {
		t.Error("non-hex hash accepted")
	}
}

// Hash.Compare orders hashes as their printed forms order: the sort of
// txids an RPC answer lists, without printing each at every comparison.
func TestHashCompareOrdersAsString(t *testing.T) {
	hashes := []Hash{{}, {1}, {0, 1}, {31: 1}, {31: 1, 0: 2}, {31: 0xff}, {0xff}}
	for i := range 64 {
		hashes = append(hashes, DoubleSHA256([]byte{byte(i)}))
	}
	for _, a := range hashes {
		for _, b := range hashes {
			if got, want := a.Compare(b), strings.Compare(a.String(), b.String()); got != want {
				t.Fatalf("%s.Compare(%s) = %d, want %d", a, b, got, want)
			}
		}
	}
}
