package chain

import (
	"bytes"
	"testing"
)

// Whatever decodes must re-encode to the same bytes: the encoding has exactly one
// form, so hashes of decoded data are hashes of what was received.
func FuzzDecodeTx(f *testing.F) {
	f.Add(spendTx(f, testKey(1), 1, 2, 10_000).Encode())
	f.Add(NewCoinbase(5, 1, []byte("free"), 50*Coin, [20]byte{}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := DecodeTx(b)
		if err != nil {
			return
		}
		if enc := tx.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, enc)
		}
		_ = CheckTxSanity(tx)
	})
}

func FuzzDecodeBlock(f *testing.F) {
	f.Add(RegtestParams.GenesisBlock.Encode())
	f.Add(testBlock(f, spendTx(f, testKey(1), 1, 2, 10_000)).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		blk, err := DecodeBlock(b)
		if err != nil {
			return
		}
		if enc := blk.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, enc)
		}
		_, _ = CheckBlockSanity(blk, RegtestParams)
	})
}

func FuzzDecodeHeader(f *testing.F) {
	g := RegtestParams.GenesisBlock.Header.Encode()
	f.Add(g[:])
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		if enc := h.Encode(); !bytes.Equal(enc[:], b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
