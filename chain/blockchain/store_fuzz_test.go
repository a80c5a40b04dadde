package blockchain

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// The records below are read back from the store: a damaged database must give
// an error, never a panic, and a record that decodes encodes to the same bytes,
// so nothing is lost or changed by reading it.

func FuzzDecodeUtxo(f *testing.F) {
	f.Add(encodeUtxo(&chain.UtxoEntry{Value: 5_000_000_000, PubKeyHash: [chain.PubKeyHashSize]byte{1, 2, 3}, Height: 7, Coinbase: true}))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, utxoRecordSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeUtxo(b)
		if err != nil {
			return
		}
		if got := encodeUtxo(&e); !bytes.Equal(got, b) {
			t.Fatalf("utxo record %x re-encodes as %x", b, got)
		}
	})
}

func FuzzDecodeUndo(f *testing.F) {
	f.Add(encodeUndo(nil))
	f.Add(encodeUndo([]chain.UtxoEntry{{Value: 1, Height: 2}, {Value: 3, Height: 4, Coinbase: true}}))
	f.Add([]byte{0xfd, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		spent, err := decodeUndo(b)
		if err != nil {
			return
		}
		if got := encodeUndo(spent); !bytes.Equal(got, b) {
			t.Fatalf("undo record %x re-encodes as %x", b, got)
		}
	})
}

func FuzzDecodeHeaderRecord(f *testing.F) {
	f.Add(encodeHeaderRecord(&blockNode{header: chain.RegtestParams.GenesisBlock.Header, height: 3,
		status: statusValid | statusHaveData, chainWork: big.NewInt(123_456)}))
	f.Add(make([]byte, headerRecordLen))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeHeaderRecord(b)
		if err != nil {
			return
		}
		n := &blockNode{header: rec.header, height: rec.height, status: rec.status, chainWork: rec.chainWork}
		if got := encodeHeaderRecord(n); !bytes.Equal(got, b) {
			t.Fatalf("header record %x re-encodes as %x", b, got)
		}
	})
}
