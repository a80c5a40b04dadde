package p2p

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestFrameRoundTrip(t *testing.T) {
	blocks := mainBlocks(2)
	st := statusMsg{Network: "regtest", Genesis: chain.RegtestParams.GenesisHash, Tip: blocks[1].Hash(), Height: 2, Work: big.NewInt(4),
		Services: NodeNetwork | NodeNetworkLimited}
	var buf bytes.Buffer
	for _, f := range []struct {
		t msgType
		p []byte
	}{{msgStatus, st.encode(syncV2)}, {msgHeaders, encodeHeaders([]chain.Header{blocks[0].Header, blocks[1].Header})}, {msgBlock, blocks[0].Encode()}} {
		if err := writeFrame(&buf, f.t, f.p); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	typ, payload, err := readFrame(r, msgStatus)
	if err != nil || typ != msgStatus {
		t.Fatalf("status frame: %v %v", typ, err)
	}
	got, err := decodeStatus(payload, syncV2)
	if err != nil || got.Network != st.Network || got.Tip != st.Tip || got.Height != 2 || got.Work.Cmp(st.Work) != 0 || got.Services != st.Services {
		t.Fatalf("status %+v, %v", got, err)
	}
	_, payload, err = readFrame(r, msgHeaders)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := decodeHeaders(payload)
	if err != nil || len(hs) != 2 || hs[1].Hash() != blocks[1].Hash() {
		t.Fatalf("headers %v, %v", hs, err)
	}
	_, payload, err = readFrame(r, msgBlock)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := decodeBlockMsg(payload); err != nil || b.Hash() != blocks[0].Hash() {
		t.Fatalf("block: %v", err)
	}
	if _, _, err := readFrame(r, msgBlock); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestReadFrameRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"empty frame", []byte{0}, "empty frame"},
		{"unknown type", []byte{1, 0x42}, "unknown message type"},
		{"unexpected type", frame(msgHeaders, []byte{0}), "unexpected headers"},
		{"over the type's limit", append([]byte{0xff, 0x7f}, byte(msgStatus)), "over the"},
		{"non-minimal length", []byte{0x82, 0x00, byte(msgStatus), 0}, "not minimally encoded"},
		{"length overflow", bytes.Repeat([]byte{0xff}, 11), "overflows"},
		{"truncated payload", []byte{10, byte(msgStatus), 1, 2}, "inside a frame"},
		{"truncated length", []byte{0x80}, "inside a frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readFrame(bufio.NewReader(bytes.NewReader(tc.raw)), msgStatus, msgGetBlocks)
			if !errors.Is(err, errProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a protocol error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDecodersRefuse(t *testing.T) {
	blocks := mainBlocks(3)
	h := blocks[0].Hash()
	st := statusMsg{Network: "regtest", Work: big.NewInt(1)}
	for _, tc := range []struct {
		name   string
		decode func() error
	}{
		{"status trailing bytes", func() error { _, err := decodeStatus(append(st.encode(syncV2), 0), syncV2); return err }},
		{"version 2 status without services", func() error { _, err := decodeStatus(st.encode(syncV1), syncV2); return err }},
		{"status long name", func() error {
			_, err := decodeStatus((&statusMsg{Network: strings.Repeat("x", 33), Work: big.NewInt(1)}).encode(syncV2), syncV2)
			return err
		}},
		{"status work leading zero", func() error {
			b := st.encode(syncV1)
			b = append(b[:len(b)-2], 2, 0, 1)
			_, err := decodeStatus(b, syncV1)
			return err
		}},
		{"status services truncated", func() error {
			b := st.encode(syncV2)
			_, err := decodeStatus(b[:len(b)-3], syncV2)
			return err
		}},
		{"status negative height", func() error {
			_, err := decodeStatus((&statusMsg{Height: -1, Work: big.NewInt(1)}).encode(syncV2), syncV2)
			return err
		}},
		{"empty locator", func() error { _, err := decodeGetHeaders((&getHeadersMsg{}).encode()); return err }},
		{"locator too long", func() error {
			_, err := decodeGetHeaders((&getHeadersMsg{Locator: make([]chain.Hash, maxLocatorHashes+1)}).encode())
			return err
		}},
		{"headers not a chain", func() error {
			_, err := decodeHeaders(encodeHeaders([]chain.Header{blocks[0].Header, blocks[2].Header}))
			return err
		}},
		{"headers count lies", func() error { _, err := decodeHeaders([]byte{2}); return err }},
		{"too many headers", func() error {
			_, err := decodeHeaders(encodeHeaders(make([]chain.Header, MaxHeadersPerMsg+1)))
			return err
		}},
		{"too many blocks asked", func() error {
			_, err := decodeGetBlocks(encodeGetBlocks(make([]chain.Hash, MaxBlocksPerRequest+1)))
			return err
		}},
		{"short notfound", func() error { _, err := decodeNotFound(h[:31]); return err }},
		{"garbage block", func() error { _, err := decodeBlockMsg([]byte("junk")); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.decode(); !errors.Is(err, errProtocol) {
				t.Fatalf("error %v, want a protocol violation", err)
			}
		})
	}
}

func TestServiceNames(t *testing.T) {
	for _, tc := range []struct {
		s    ServiceFlags
		want string
	}{
		{0, ""},
		{NodeNetworkLimited, "NETWORK_LIMITED"},
		{NodeNetwork | NodeNetworkLimited | 1<<3, "NETWORK,UNKNOWN[2^3],NETWORK_LIMITED"},
	} {
		if got := strings.Join(tc.s.Names(), ","); got != tc.want {
			t.Errorf("%#x: %q, want %q", uint64(tc.s), got, tc.want)
		}
	}
}

// Version 1 of the sync protocol, which nodes built before the services
// speak, has the status without them: it is version 2's less its last 8
// bytes, and reads as a full node's.
func TestStatusVersion1(t *testing.T) {
	st := statusMsg{Network: "regtest", Genesis: chain.RegtestParams.GenesisHash, Height: 7, Work: big.NewInt(300), Services: NodeNetworkLimited}
	v1, v2 := st.encode(syncV1), st.encode(syncV2)
	if !bytes.Equal(v1, v2[:len(v2)-8]) {
		t.Fatalf("version 1 status %x, want version 2's %x less its services", v1, v2)
	}
	got, err := decodeStatus(v1, syncV1)
	if err != nil {
		t.Fatalf("version 1 status refused: %v", err)
	}
	if got.Services != NodeNetwork || got.Height != 7 || got.Work.Cmp(st.Work) != 0 || got.Network != "regtest" {
		t.Fatalf("decoded %+v, want height 7, work 300 and services NETWORK", got)
	}
	// Nodes built between the services and version 2 send them on
	// version 1.
	if got, err := decodeStatus(v2, syncV1); err != nil || got.Services != NodeNetworkLimited {
		t.Fatalf("version 1 status with services: %v, %v; want NETWORK_LIMITED", got.Services.Names(), err)
	}
}
