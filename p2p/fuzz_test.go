package p2p

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// Every sync message decoder must refuse what it cannot read without
// panicking, and read back exactly the bytes an accepted message encodes to,
// so each message has one encoding. Seeds live in testdata/fuzz.

func FuzzReadFrame(f *testing.F) {
	f.Add(frame(msgStatus, []byte{0}))
	f.Add([]byte{0x80, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		typ, payload, err := readFrame(r, msgStatus, msgGetHeaders, msgHeaders, msgGetBlocks, msgBlock, msgNotFound)
		if err != nil {
			if !isMisbehaviour(err) && !errors.Is(err, io.EOF) {
				t.Fatalf("error is neither a protocol violation nor EOF: %v", err)
			}
			return
		}
		var enc bytes.Buffer
		if err := writeFrame(&enc, typ, payload); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, enc.Bytes()) {
			t.Fatalf("frame re-encodes to %x, read from %x", enc.Bytes(), data)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []syncVersion{syncV1, syncV2} {
			m, err := decodeStatus(data, v)
			if err != nil {
				checkProtocolError(t, err)
				continue
			}
			enc := m.encode(v)
			if v == syncV1 && len(data) > len(enc) {
				// Services on version 1, as nodes built before it sent them.
				enc = m.encode(syncV2)
			}
			if !bytes.Equal(enc, data) {
				t.Fatalf("version %d status re-encodes to %x, read from %x", v, enc, data)
			}
		}
	})
}

func FuzzDecodeGetHeaders(f *testing.F) {
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeGetHeaders(data)
		if err != nil {
			checkProtocolError(t, err)
			return
		}
		if enc := m.encode(); !bytes.Equal(enc, data) {
			t.Fatalf("getheaders re-encodes to %x, read from %x", enc, data)
		}
	})
}

func FuzzDecodeHeaders(f *testing.F) {
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := decodeHeaders(data)
		if err != nil {
			checkProtocolError(t, err)
			return
		}
		if enc := encodeHeaders(hs); !bytes.Equal(enc, data) {
			t.Fatalf("headers re-encode to %x, read from %x", enc, data)
		}
	})
}

func FuzzDecodeGetBlocks(f *testing.F) {
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		hashes, err := decodeGetBlocks(data)
		if err != nil {
			checkProtocolError(t, err)
			return
		}
		if enc := encodeGetBlocks(hashes); !bytes.Equal(enc, data) {
			t.Fatalf("getblocks re-encodes to %x, read from %x", enc, data)
		}
	})
}

func FuzzDecodeNotFound(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := decodeNotFound(data)
		if err != nil {
			checkProtocolError(t, err)
			return
		}
		if !bytes.Equal(h[:], data) {
			t.Fatalf("notfound re-encodes to %x, read from %x", h, data)
		}
	})
}

func FuzzDecodeBlockMsg(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBlockMsg(data)
		if err != nil {
			checkProtocolError(t, err)
			return
		}
		if enc := b.Encode(); !bytes.Equal(enc, data) {
			t.Fatalf("block re-encodes to %x, read from %x", enc, data)
		}
	})
}

// The gossip topic's transaction message: an announcement nonce, then the
// transaction, which must re-encode to exactly what came.
func FuzzDecodeTxMessage(f *testing.F) {
	f.Add([]byte{})
	f.Add(txMessage(&chain.Tx{Version: 1, Inputs: []chain.TxIn{{Witness: [][]byte{{1}, {2}}}}, Outputs: []chain.TxOut{{Value: 5}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := decodeTxMessage(data)
		if err != nil {
			return
		}
		if enc := tx.Encode(); !bytes.Equal(enc, data[txAnnounceLen:]) {
			t.Fatalf("transaction re-encodes to %x, read from %x", enc, data[txAnnounceLen:])
		}
	})
}

func checkProtocolError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, errProtocol) {
		t.Fatalf("decoding error is not a protocol violation: %v", err)
	}
}
