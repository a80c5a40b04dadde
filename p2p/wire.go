package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/quarrychain/quarry/chain"
)

// Sync protocol messages travel in frames: a uvarint length, then a type byte
// and the payload, the length covering both. The type byte comes before any
// payload is read, so a frame of a type the reader does not expect, or longer
// than that type may be, is refused before its bytes are taken in.

// msgType identifies a sync protocol message.
type msgType byte

// Message types. Requests are status, getheaders and getblocks; status is
// answered by status, getheaders by headers, and getblocks by one block or
// notfound frame per requested hash, in the order asked.
const (
	msgStatus     msgType = 1
	msgGetHeaders msgType = 2
	msgHeaders    msgType = 3
	msgGetBlocks  msgType = 4
	msgBlock      msgType = 5
	msgNotFound   msgType = 6
)

// syncVersion is a version of the sync protocol, the last element of its
// protocol ID (/quarry/<network>/sync/<version>). The versions differ only in
// the status message: version 2's carries the sender's services.
type syncVersion int

const (
	syncV1 syncVersion = 1
	syncV2 syncVersion = 2
)

// SyncProtocolVersion is the newest version of the sync protocol the node
// speaks; it serves the older ones too, for nodes built before.
const SyncProtocolVersion = int(syncV2)

// Protocol limits.
const (
	// MaxHeadersPerMsg is the most headers one headers message carries, as in Bitcoin.
	MaxHeadersPerMsg = 2000
	// MaxBlocksPerRequest is the most blocks one getblocks message asks for: with
	// blocks of up to 1 MB (chain.MaxBlockSize), 16 keeps one answer at 16 MB
	// in the worst case.
	MaxBlocksPerRequest = 16
	// maxLocatorHashes bounds a block locator. A locator of a chain of 2^31 blocks
	// has about 41 entries; 101 is Bitcoin's bound.
	maxLocatorHashes = 101
	// maxNetworkName bounds the network name in a status message.
	maxNetworkName = 32
	// maxWorkBytes bounds the cumulative work: it is a sum of at most 2^31
	// values below 2^256, so it fits in 33 bytes.
	maxWorkBytes = 33
)

// maxPayload is the largest payload each message type may have.
func maxPayload(t msgType) (int, bool) {
	switch t {
	case msgStatus:
		return uvarintLen(maxNetworkName) + maxNetworkName + 2*chain.HashSize + 4 + uvarintLen(maxWorkBytes) + maxWorkBytes + 8, true
	case msgGetHeaders:
		return uvarintLen(maxLocatorHashes) + (maxLocatorHashes+1)*chain.HashSize, true
	case msgHeaders:
		return uvarintLen(MaxHeadersPerMsg) + MaxHeadersPerMsg*chain.HeaderSize, true
	case msgGetBlocks:
		return uvarintLen(MaxBlocksPerRequest) + MaxBlocksPerRequest*chain.HashSize, true
	case msgBlock:
		return chain.MaxBlockSize, true
	case msgNotFound:
		return chain.HashSize, true
	}
	return 0, false
}

func (t msgType) String() string {
	switch t {
	case msgStatus:
		return "status"
	case msgGetHeaders:
		return "getheaders"
	case msgHeaders:
		return "headers"
	case msgGetBlocks:
		return "getblocks"
	case msgBlock:
		return "block"
	case msgNotFound:
		return "notfound"
	}
	return fmt.Sprintf("unknown(%d)", byte(t))
}

// errProtocol marks a peer breaking the sync protocol: a malformed, oversized or
// unexpected message. Such a peer is banned; an I/O failure is not its fault
// for sure and only ends the exchange.
var errProtocol = errors.New("sync protocol violation")

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// writeFrame writes one message.
func writeFrame(w io.Writer, t msgType, payload []byte) error {
	buf := make([]byte, 0, binary.MaxVarintLen64+1+len(payload))
	buf = binary.AppendUvarint(buf, uint64(len(payload)+1))
	buf = append(buf, byte(t))
	buf = append(buf, payload...)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one message of one of the types allowed. A frame of another
// type, of a length over its type's limit, or with a non-minimal length is a
// protocol error; so is a stream that ends inside a frame.
func readFrame(r *bufio.Reader, allowed ...msgType) (msgType, []byte, error) {
	return readFrameAdmit(r, nil, allowed...)
}

// readFrameAdmit is readFrame calling admit, if not nil, with the type and
// payload length of a frame that passes the checks before the payload is
// read: a reader holding payloads in memory waits there for room, and an
// error from admit ends the read.
func readFrameAdmit(r *bufio.Reader, admit func(t msgType, size int) error, allowed ...msgType) (msgType, []byte, error) {
	n, err := readUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 0, nil, protocolErrorf("empty frame")
	}
	tb, err := r.ReadByte()
	if err != nil {
		return 0, nil, truncated(err)
	}
	t := msgType(tb)
	limit, known := maxPayload(t)
	if !known {
		return 0, nil, protocolErrorf("unknown message type %d", tb)
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == t
	}
	if !ok {
		return 0, nil, protocolErrorf("unexpected %s message", t)
	}
	if n-1 > uint64(limit) {
		return 0, nil, protocolErrorf("%s message of %d bytes is over the %d-byte limit", t, n-1, limit)
	}
	if admit != nil {
		if err := admit(t, int(n-1)); err != nil {
			return 0, nil, err
		}
	}
	payload := make([]byte, n-1)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, truncated(err)
	}
	return t, payload, nil
}

// readUvarint reads a frame length, refusing encodings longer than needed so
// that every frame has one encoding. A clean end of stream before the first
// byte is io.EOF.
func readUvarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if i == 0 {
				return 0, err
			}
			return 0, truncated(err)
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, protocolErrorf("frame length overflows 64 bits")
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if b == 0 && i > 0 {
				return 0, protocolErrorf("frame length is not minimally encoded")
			}
			return v, nil
		}
	}
	return 0, protocolErrorf("frame length overflows 64 bits")
}

// truncated turns an end of stream inside a frame into a protocol error; other
// read errors (deadlines, resets) pass through.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return protocolErrorf("stream ends inside a frame")
	}
	return err
}

// statusMsg is what a node says of itself when a connection opens and when a
// peer asks again: which network it is on, how far its chain goes, and which
// blocks it serves (as Bitcoin's version message carries its services).
type statusMsg struct {
	Network  string
	Genesis  chain.Hash
	Tip      chain.Hash
	Height   int32
	Work     *big.Int
	Services ServiceFlags
}

// encode writes the status as version v of the sync protocol has it: version
// 1 ends after the chain work.
func (m *statusMsg) encode(v syncVersion) []byte {
	work := m.Work.Bytes()
	b := binary.AppendUvarint(nil, uint64(len(m.Network)))
	b = append(b, m.Network...)
	b = append(b, m.Genesis[:]...)
	b = append(b, m.Tip[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(m.Height))
	b = binary.AppendUvarint(b, uint64(len(work)))
	b = append(b, work...)
	if v < syncV2 {
		return b
	}
	return binary.LittleEndian.AppendUint64(b, uint64(m.Services))
}

// decodeStatus reads a status of version v of the sync protocol. A version 1
// status has no services: its sender was built before pruning and serves
// every block, so it is a full node. Nodes built between the services and
// version 2 add them on version 1 too (they read a status without them):
// they are taken at their word, pruned or not, rather than banned.
func decodeStatus(b []byte, v syncVersion) (statusMsg, error) {
	d := decoder{buf: b}
	var m statusMsg
	m.Network = string(d.bytes("network name", maxNetworkName))
	m.Genesis = d.hash("genesis hash")
	m.Tip = d.hash("tip hash")
	m.Height = int32(d.uint32("height"))
	work := d.bytes("chain work", maxWorkBytes)
	if d.err == nil && len(work) > 0 && work[0] == 0 {
		d.fail("chain work has a leading zero byte")
	}
	m.Services = NodeNetwork
	if v >= syncV2 || (d.err == nil && len(d.buf) > 0) {
		m.Services = ServiceFlags(d.uint64("services"))
	}
	if d.err == nil && m.Height < 0 {
		d.fail("negative height %d", m.Height)
	}
	m.Work = new(big.Int).SetBytes(work)
	return m, d.finish()
}

// getHeadersMsg asks for the main-chain headers after the first locator hash
// the peer knows, up to stop (zero for as many as fit in one message).
type getHeadersMsg struct {
	Locator []chain.Hash
	Stop    chain.Hash
}

func (m *getHeadersMsg) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(len(m.Locator)))
	for _, h := range m.Locator {
		b = append(b, h[:]...)
	}
	return append(b, m.Stop[:]...)
}

func decodeGetHeaders(b []byte) (getHeadersMsg, error) {
	d := decoder{buf: b}
	var m getHeadersMsg
	n := d.count("locator length", 1, maxLocatorHashes, chain.HashSize)
	for i := 0; i < n; i++ {
		m.Locator = append(m.Locator, d.hash("locator hash"))
	}
	m.Stop = d.hash("stop hash")
	return m, d.finish()
}

func encodeHeaders(hs []chain.Header) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 3+len(hs)*chain.HeaderSize), uint64(len(hs)))
	for i := range hs {
		enc := hs[i].Encode()
		b = append(b, enc[:]...)
	}
	return b
}

// decodeHeaders reads a headers message and checks that the headers form one
// chain, each extending the one before.
func decodeHeaders(b []byte) ([]chain.Header, error) {
	d := decoder{buf: b}
	n := d.count("header count", 0, MaxHeadersPerMsg, chain.HeaderSize)
	hs := make([]chain.Header, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		raw := d.next(chain.HeaderSize, "header")
		if raw == nil {
			break
		}
		h, err := chain.DecodeHeader(raw)
		if err != nil {
			return nil, protocolErrorf("header %d: %v", i, err)
		}
		if i > 0 && h.PrevBlock != hs[i-1].Hash() {
			return nil, protocolErrorf("header %d does not extend header %d", i, i-1)
		}
		hs = append(hs, h)
	}
	return hs, d.finish()
}

func encodeGetBlocks(hashes []chain.Hash) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 1+len(hashes)*chain.HashSize), uint64(len(hashes)))
	for _, h := range hashes {
		b = append(b, h[:]...)
	}
	return b
}

func decodeGetBlocks(b []byte) ([]chain.Hash, error) {
	d := decoder{buf: b}
	n := d.count("block count", 1, MaxBlocksPerRequest, chain.HashSize)
	hashes := make([]chain.Hash, 0, n)
	for i := 0; i < n; i++ {
		hashes = append(hashes, d.hash("block hash"))
	}
	return hashes, d.finish()
}

func decodeNotFound(b []byte) (chain.Hash, error) {
	d := decoder{buf: b}
	h := d.hash("block hash")
	return h, d.finish()
}

// blockMsgHash is the hash of the block in a block message, read from its
// header alone.
func blockMsgHash(b []byte) (chain.Hash, error) {
	if len(b) < chain.HeaderSize {
		return chain.Hash{}, protocolErrorf("block of %d bytes is shorter than its header", len(b))
	}
	return chain.DoubleSHA256(b[:chain.HeaderSize]), nil
}

// decodeBlockMsg reads a block message: the block's consensus encoding.
func decodeBlockMsg(b []byte) (*chain.Block, error) {
	blk, err := chain.DecodeBlock(b)
	if err != nil {
		return nil, protocolErrorf("block: %v", err)
	}
	return blk, nil
}

// decoder reads message payloads; the first error sticks and is a protocol error.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = protocolErrorf(format, args...)
	}
}

func (d *decoder) next(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.buf) {
		d.fail("%s needs %d bytes, %d left", what, n, len(d.buf))
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("%s is not a valid uvarint", what)
		return 0
	}
	if n != uvarintLen(v) {
		d.fail("%s is not minimally encoded", what)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a count between lo and hi of items of size bytes each that must
// fit in what remains.
func (d *decoder) count(what string, lo, hi, size int) int {
	v := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if v < uint64(lo) || v > uint64(hi) {
		d.fail("%s %d is outside [%d, %d]", what, v, lo, hi)
		return 0
	}
	if v*uint64(size) > uint64(len(d.buf)) {
		d.fail("%s %d does not fit in the %d bytes left", what, v, len(d.buf))
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(what string, max int) []byte {
	n := d.uvarint(what + " length")
	if d.err == nil && n > uint64(max) {
		d.fail("%s of %d bytes is over the %d-byte limit", what, n, max)
	}
	if d.err != nil {
		return nil
	}
	return d.next(int(n), what)
}

func (d *decoder) hash(what string) (h chain.Hash) {
	copy(h[:], d.next(chain.HashSize, what))
	return h
}

func (d *decoder) uint32(what string) uint32 {
	if b := d.next(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) uint64(what string) uint64 {
	if b := d.next(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d bytes after the end of the message", len(d.buf))
	}
	return d.err
}
