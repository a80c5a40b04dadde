//go:build linux

package testnet

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	bin "encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/p2p"
)

// The hostile-peer suite: a peer of our own, written as an attacker would
// write one (a bare libp2p host speaking the node's gossip topics and sync
// protocol with whatever bytes it likes), runs each attack against a real
// node process while an honest node mines next to it. For each attack it
// measures what the victim paid (CPU time and resident memory of its process,
// growth of its data directory (the honest blocks mined meanwhile included:
// 3 blocks, about 4 kB), and the delay added to a block's propagation
// from the miner) and checks the defence held.

// Sync protocol framing, written out again as an attacker must: a uvarint
// length covering a type byte and the payload.
const (
	syncStatus     = 1
	syncGetHeaders = 2
	syncHeaders    = 3
	syncGetBlocks  = 4
	syncNotFound   = 6
)

func syncFrame(t byte, payload []byte) []byte {
	b := bin.AppendUvarint(nil, uint64(len(payload)+1))
	return append(append(b, t), payload...)
}

func readSyncFrame(r *bufio.Reader) (byte, []byte, error) {
	n, err := bin.ReadUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 || n > 4<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return buf[0], buf[1:], nil
}

// syncProto is the newest sync protocol, whose status statusPayload writes.
var syncProto = protocol.ID(fmt.Sprintf("/quarry/%s/sync/%d", chain.RegtestParams.Name, p2p.SyncProtocolVersion))

func statusPayload(p *chain.Params, tip chain.Hash, height int32, work *big.Int) []byte {
	b := bin.AppendUvarint(nil, uint64(len(p.Name)))
	b = append(b, p.Name...)
	b = append(b, p.GenesisHash[:]...)
	b = append(b, tip[:]...)
	b = bin.LittleEndian.AppendUint32(b, uint32(height))
	w := work.Bytes()
	b = bin.AppendUvarint(b, uint64(len(w)))
	b = append(b, w...)
	return bin.LittleEndian.AppendUint64(b, uint64(p2p.NodeNetwork|p2p.NodeNetworkLimited)) // a full node's services
}

func headersPayload(hs []chain.Header) []byte {
	b := bin.AppendUvarint(nil, uint64(len(hs)))
	for i := range hs {
		enc := hs[i].Encode()
		b = append(b, enc[:]...)
	}
	return b
}

// hostile is one attacking identity: a libp2p host on loopback with
// gossipsub on the node's topics (unsigned, authorless, ids the SHA-256 of
// the message, as the node's) and a sync handler the attack chooses.
type hostile struct {
	host   host.Host
	blocks *pubsub.Topic
	txs    *pubsub.Topic
}

// syncHandler answers one sync request of type t; nil answers status
// requests with an honest-looking status at genesis and drops the rest.
type syncHandler func(s network.Stream, t byte, payload []byte)

func newHostile(t *testing.T, ctx context.Context, victim string, onSync syncHandler) (*hostile, error) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { h.Close() })
	params := chain.RegtestParams
	h.SetStreamHandler(syncProto, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(time.Minute))
		typ, payload, err := readSyncFrame(bufio.NewReader(s))
		if err != nil {
			_ = s.Reset()
			return
		}
		if onSync != nil {
			onSync(s, typ, payload)
			return
		}
		if typ == syncStatus {
			_, _ = s.Write(syncFrame(syncStatus, statusPayload(params, params.GenesisHash, 0, big.NewInt(2))))
		}
	})
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			sum := sha256.Sum256(m.Data)
			return string(sum[:])
		}),
		pubsub.WithMaxMessageSize(chain.MaxBlockSize+64<<10))
	if err != nil {
		return nil, err
	}
	hs := &hostile{host: h}
	if hs.blocks, err = ps.Join("/quarry/" + params.Name + "/blocks/1"); err != nil {
		return nil, err
	}
	if hs.txs, err = ps.Join("/quarry/" + params.Name + "/txs/1"); err != nil {
		return nil, err
	}
	addr, err := ma.NewMultiaddr(victim)
	if err != nil {
		return nil, err
	}
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		return nil, err
	}
	if err := h.Connect(ctx, *info); err != nil {
		return nil, err
	}
	return hs, nil
}

// waitGossip waits until the victim's subscriptions reached the attacker, so
// what it publishes goes to the victim.
func (hs *hostile) waitGossip(ctx context.Context) {
	for ctx.Err() == nil && len(hs.blocks.ListPeers()) == 0 {
		time.Sleep(20 * time.Millisecond)
	}
}

// publish sends data on topic even if ctx ends meanwhile: an identity that
// got to attack must have sent its message, or the check that every attacker
// was banned would blame the victim for a message never sent.
func (hs *hostile) publish(ctx context.Context, topic *pubsub.Topic, data []byte) {
	_ = topic.Publish(context.WithoutCancel(ctx), data)
}

// txMessage is the gossip form of a transaction: an 8-byte nonce, then it.
func txMessage(tx *chain.Tx) []byte {
	msg := make([]byte, 8, 8+tx.SerializeSize())
	rand.Read(msg)
	return tx.AppendEncoding(msg, true)
}

// syncRequest opens a sync stream to the victim and writes raw.
func (hs *hostile) syncRequest(ctx context.Context, victim peer.ID, raw []byte) (network.Stream, error) {
	s, err := hs.host.NewStream(ctx, victim, syncProto)
	if err != nil {
		return nil, err
	}
	_ = s.SetDeadline(time.Now().Add(15 * time.Second))
	_, err = s.Write(raw)
	return s, err
}

// usage is what the victim's process has used so far.
type usage struct {
	cpu  time.Duration
	rss  int64 // bytes
	disk int64 // bytes on disk under the data directory, logs left out
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times.
const clockTicks = 100

func measureUsage(t *testing.T, n *Node) usage {
	t.Helper()
	var u usage
	pid := n.PID()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	u.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			u.rss = kb << 10
		}
	}
	_ = filepath.WalkDir(n.DataDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".log") {
			return nil
		}
		// Blocks allocated, not sizes: Badger preallocates its files.
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				u.disk += st.Blocks * 512
			}
		}
		return nil
	})
	return u
}

// propagation mines one block on miner and returns how long the victim took
// to have it as its tip, from the call to generatetoaddress (so an RPC round
// trip and the mining are counted in, the same in every measurement).
func propagation(t *testing.T, ctx context.Context, miner, victim *Node) time.Duration {
	t.Helper()
	start := time.Now()
	hash := generate(t, ctx, miner, 1)[0]
	for ctx.Err() == nil {
		var best string
		if err := victim.Call(ctx, "getbestblockhash", nil, &best); err == nil && best == hash {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never got block %s", victim, hash)
	return 0
}

// medianPropagation measures propagation n times while the attack runs.
func medianPropagation(t *testing.T, ctx context.Context, miner, victim *Node, n int) time.Duration {
	t.Helper()
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = propagation(t, ctx, miner, victim)
	}
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			if ds[j] < ds[i] {
				ds[i], ds[j] = ds[j], ds[i]
			}
		}
	}
	return ds[len(ds)/2]
}

func listBanned(t *testing.T, ctx context.Context, n *Node) map[string]string {
	t.Helper()
	var bans []struct {
		Address string `json:"address"`
		Reason  string `json:"ban_reason"`
	}
	if err := n.Call(ctx, "listbanned", nil, &bans); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(bans))
	for _, b := range bans {
		out[b.Address] = b.Reason
	}
	return out
}

func chainTips(t *testing.T, ctx context.Context, n *Node) int {
	t.Helper()
	var tips []struct {
		Hash string `json:"hash"`
	}
	if err := n.Call(ctx, "getchaintips", nil, &tips); err != nil {
		t.Fatal(err)
	}
	return len(tips)
}

// headersOf fetches the victim's main-chain headers 1..to over RPC, as an
// attacker reads them from any node.
func headersOf(t *testing.T, ctx context.Context, n *Node, to int) []chain.Header {
	t.Helper()
	hs := make([]chain.Header, 0, to)
	for h := 1; h <= to; h++ {
		var hash, raw string
		if err := n.Call(ctx, "getblockhash", []any{h}, &hash); err != nil {
			t.Fatal(err)
		}
		if err := n.Call(ctx, "getblockheader", []any{hash, false}, &raw); err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(raw)
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := chain.DecodeHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, hdr)
	}
	return hs
}

// orphanTx spends an output nobody has, with a signature over nothing: all
// a node can check of it without the parent is its shape.
func orphanTx(key *secp256k1.PrivateKey) *chain.Tx {
	var prev chain.Hash
	rand.Read(prev[:])
	return &chain.Tx{Version: 1,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: prev}, Witness: [][]byte{key.PubKey().SerializeCompressed(), ecdsa.Sign(key, prev[:]).Serialize()}}},
		Outputs: []chain.TxOut{{Value: 1000}}}
}

// attack is one attack of the suite.
type attack struct {
	name, defence, follows string
	// run attacks until ctx ends; it may return earlier.
	run func(ctx context.Context)
	// check verifies the defence held, after the attack.
	check func()
}

// TestE2EHostilePeers runs every attack against node 1 of a line of three
// real nodes (node 0 mines, node 2 only listens), each for a few seconds
// while node 0 keeps mining, and reports what each cost the victim.
func TestE2EHostilePeers(t *testing.T) {
	skipE2E(t)
	tn := New(t, Options{Nodes: 3, Topology: Line})
	ctx := testCtx(t, 4*time.Minute)
	miner, victim, listener := tn.Node(0), tn.Node(1), tn.Node(2)
	const base = 200
	generate(t, ctx, miner, base)
	if _, err := tn.WaitForTip(ctx, base); err != nil {
		t.Fatal(err)
	}
	victimAddr, err := victim.Multiaddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victimID, err := peer.Decode(peerID(victimAddr))
	if err != nil {
		t.Fatal(err)
	}
	params := chain.RegtestParams
	known := headersOf(t, ctx, victim, 100)
	key, _ := secp256k1.GeneratePrivateKey()
	banFile := filepath.Join(victim.NetworkDir(), "banlist.json")
	hugeWork := new(big.Int).Lsh(big.NewInt(1), 200)

	// Each attack's identities are collected for its check.
	var mu sync.Mutex
	var ids []peer.ID
	// fresh makes a new attacking identity connected to the victim; nil once
	// the attack's time is up. Attacks run off the test goroutine, so they
	// report with Errorf, never Fatal.
	fresh := func(ctx context.Context, onSync syncHandler) *hostile {
		hs, err := newHostile(t, ctx, victimAddr, onSync)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("hostile peer: %v", err)
			}
			return nil
		}
		mu.Lock()
		ids = append(ids, hs.host.ID())
		mu.Unlock()
		return hs
	}
	// forget drops an identity whose attack's time ran out before it could
	// send anything.
	forget := func(hs *hostile) {
		mu.Lock()
		defer mu.Unlock()
		ids = slices.DeleteFunc(ids, func(id peer.ID) bool { return id == hs.host.ID() })
	}
	takeIDs := func() []peer.ID {
		mu.Lock()
		defer mu.Unlock()
		out := ids
		ids = nil
		return out
	}
	// mustBeBanned checks every identity of the attack was banned, giving
	// the last ones' messages a moment to arrive.
	mustBeBanned := func(what string) func() {
		return func() {
			attackers := takeIDs()
			var missing []peer.ID
			for range 50 {
				bans := listBanned(t, ctx, victim)
				missing = missing[:0]
				for _, id := range attackers {
					if _, ok := bans[id.String()]; !ok {
						missing = append(missing, id)
					}
				}
				if len(missing) == 0 {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Errorf("%s: %d of %d attackers not banned: %v", what, len(missing), len(attackers), missing)
		}
	}
	notBanned := func(what string) func() {
		return func() {
			bans := listBanned(t, ctx, victim)
			for _, id := range takeIDs() {
				if r, ok := bans[id.String()]; ok {
					t.Errorf("%s: attacker %s banned (%s) for what breaks no rule", what, id, r)
				}
			}
		}
	}
	oneTip := func(what string) func() {
		return func() {
			takeIDs()
			if n := chainTips(t, ctx, victim); n != 1 {
				t.Errorf("%s: victim lists %d chain tips, want only its active one", what, n)
			}
		}
	}
	// liarStatus claims a chain far heavier than any, at a new tip each time.
	liar := func(headers []chain.Header) syncHandler {
		return func(s network.Stream, typ byte, _ []byte) {
			switch typ {
			case syncStatus:
				var tip chain.Hash
				rand.Read(tip[:])
				_, _ = s.Write(syncFrame(syncStatus, statusPayload(params, tip, 1<<30, hugeWork)))
			case syncGetHeaders:
				_, _ = s.Write(syncFrame(syncHeaders, headersPayload(headers)))
			case syncGetBlocks:
				_ = s.Reset()
			}
		}
	}
	lowWork := chaintest.New(params).Chain(params.GenesisHash, 50)
	lowHeaders := make([]chain.Header, len(lowWork))
	for i, b := range lowWork {
		lowHeaders[i] = b.Header
	}

	attacks := []attack{
		{"orphan transactions", "held, never relayed (ValidationIgnore)", "Core: orphans are not relayed until their parents are known",
			func(ctx context.Context) {
				hs := fresh(ctx, nil)
				if hs == nil {
					return
				}
				hs.waitGossip(ctx)
				for ctx.Err() == nil {
					hs.publish(ctx, hs.txs, txMessage(orphanTx(key)))
					time.Sleep(2 * time.Millisecond)
				}
			}, notBanned("orphan transactions")},
		{"low-work blocks (40 x 50 from genesis)", "not stored: unrequested and below the tip's work", "Core AcceptBlock: unrequested blocks need the tip's work",
			func(ctx context.Context) {
				hs := fresh(ctx, nil)
				if hs == nil {
					return
				}
				hs.waitGossip(ctx)
				for range 40 {
					for _, b := range chaintest.New(params).Chain(params.GenesisHash, 50) {
						hs.publish(ctx, hs.blocks, b.Encode())
					}
				}
			}, oneTip("low-work blocks")},
		{"low-work headers, claimed work", "not stored (work threshold, presync); liar rests", "Core 24 headers presync, anti-DoS work threshold",
			func(ctx context.Context) {
				fresh(ctx, liar(lowHeaders))
				<-ctx.Done()
			}, oneTip("low-work headers")},
		{"useless known headers, claimed work", "header-sync peer rotated away from", "Core: headers sync timeout and peer rotation",
			func(ctx context.Context) {
				fresh(ctx, liar(known))
				<-ctx.Done()
			}, notBanned("useless headers")},
		{"garbage on the topics, new identity each time", "reject + ban in memory, no disk write", "libp2p gossipsub validator reject (P4 score); Core discouragement filter",
			func(ctx context.Context) {
				for ctx.Err() == nil {
					hs := fresh(ctx, nil)
					if hs == nil {
						return
					}
					hs.waitGossip(ctx)
					if len(hs.blocks.ListPeers()) == 0 {
						forget(hs)
						return
					}
					junk := make([]byte, 512)
					rand.Read(junk)
					hs.publish(ctx, hs.blocks, junk)
					hs.publish(ctx, hs.txs, junk[:100])
					time.Sleep(100 * time.Millisecond)
				}
			}, mustBeBanned("garbage")},
		{"invalid blocks (bad PoW; 1 MB under a bad header)", "header PoW checked before the body; reject + ban", "Core: invalid block = discourage",
			func(ctx context.Context) {
				b := chaintest.New(params).NextBlock(params.GenesisHash)
				for b.Header.Nonce = 0; chain.CheckProofOfWork(&b.Header, params) == nil; b.Header.Nonce++ {
				}
				hs := fresh(ctx, nil)
				if hs == nil {
					return
				}
				hs.waitGossip(ctx)
				hs.publish(ctx, hs.blocks, b.Encode())
				if hs = fresh(ctx, nil); hs == nil {
					return
				}
				hs.waitGossip(ctx)
				enc := b.Header.Encode()
				hs.publish(ctx, hs.blocks, append(enc[:], make([]byte, chain.MaxBlockSize-chain.HeaderSize)...))
				<-ctx.Done()
			}, mustBeBanned("invalid blocks")},
		{"protocol violations and oversize frames", "stream reset + ban before the payload is read", "libp2p resource manager limits; Core: oversized message = disconnect",
			func(ctx context.Context) {
				for _, raw := range [][]byte{
					syncFrame(0x7f, nil), // unknown type
					append(bin.AppendUvarint(nil, 10<<20), syncGetHeaders), // 10 MB frame
					syncFrame(syncHeaders, []byte{0}),                      // unsolicited
				} {
					hs := fresh(ctx, nil)
					if hs == nil {
						return
					}
					if s, err := hs.syncRequest(ctx, victimID, raw); err == nil {
						_, _ = bufio.NewReader(s).ReadByte()
						s.Close()
					}
				}
				<-ctx.Done()
			}, mustBeBanned("protocol violations")},
		{"slowloris sync streams (64)", "10 s request deadline; 8 inbound sync streams per peer", "libp2p resource manager; Core: header timeout",
			func(ctx context.Context) {
				hs := fresh(ctx, nil)
				if hs == nil {
					return
				}
				var streams []network.Stream
				for range 64 {
					s, err := hs.syncRequest(ctx, victimID, []byte{50})
					if err != nil {
						break
					}
					streams = append(streams, s)
				}
				<-ctx.Done()
				for _, s := range streams {
					s.Reset()
				}
			}, notBanned("slowloris")},
		{"connection flood (40 identities)", "per-peer resource limits; the connection manager trims past 96 (not reached by 40)", "libp2p connmgr + resource manager",
			func(ctx context.Context) {
				for range 40 {
					fresh(ctx, nil)
				}
				<-ctx.Done()
			}, notBanned("connection flood")},
		{"peer that never answers", "its requests time out (30 s), then it is dropped as stalled", "Core: stalling peer disconnect",
			func(ctx context.Context) {
				fresh(ctx, func(s network.Stream, _ byte, _ []byte) {
					<-ctx.Done()
					_ = s.Reset()
				})
				<-ctx.Done()
			}, notBanned("silent peer")},
	}

	baseline := medianPropagation(t, ctx, miner, victim, 3)
	banFileBefore, _ := os.Stat(banFile)
	t.Logf("baseline block propagation miner -> victim: %v", baseline.Round(100*time.Microsecond))
	var table strings.Builder
	fmt.Fprintf(&table, "\n| attack | defence | victim CPU | RSS change | disk change | propagation (baseline %v) | follows |\n|---|---|---|---|---|---|---|\n", baseline.Round(100*time.Microsecond))
	for _, a := range attacks {
		before := measureUsage(t, victim)
		actx, cancel := context.WithTimeout(ctx, 4*time.Second)
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.run(actx)
		}()
		time.Sleep(500 * time.Millisecond)
		prop := medianPropagation(t, ctx, miner, victim, 3)
		<-actx.Done()
		<-done
		cancel()
		after := measureUsage(t, victim)
		a.check()
		fmt.Fprintf(&table, "| %s | %s | %v | %+.1f MB | %+.1f kB | %v | %s |\n", a.name, a.defence,
			(after.cpu - before.cpu).Round(10*time.Millisecond), float64(after.rss-before.rss)/(1<<20),
			float64(after.disk-before.disk)/(1<<10), prop.Round(100*time.Microsecond), a.follows)
	}
	t.Log(table.String())

	// Automatic bans were never written: the ban file is as it was.
	if after, err := os.Stat(banFile); (banFileBefore == nil) != (err != nil) || (err == nil && after.ModTime() != banFileBefore.ModTime()) {
		t.Errorf("automatic bans were written to %s", banFile)
	}
	// The honest nodes still converge.
	hashes := generate(t, ctx, miner, 3)
	tip, err := tn.WaitForTip(ctx, 0, miner, victim, listener)
	if err != nil {
		t.Fatal(err)
	}
	if tip != hashes[len(hashes)-1] {
		t.Fatalf("nodes agree on %s, want %s", tip, hashes[len(hashes)-1])
	}
}
