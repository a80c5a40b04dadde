package p2p

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

func TestPeerAPI(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, nil)
	b := newTestNode(t, nil)
	a.process(mainBlocks(3)...)

	for _, addr := range a.node.LocalAddrs() {
		info, err := parsePeerAddr(addr)
		if err != nil || info.ID != a.node.ID() {
			t.Errorf("local address %s: %v", addr, err)
		}
	}
	if err := a.node.AddPeer(b.addr()); err != nil {
		t.Fatal(err)
	}
	if err := a.node.AddPeer(b.addr()); !errors.Is(err, ErrAlreadyAdded) {
		t.Errorf("second add: %v, want ErrAlreadyAdded", err)
	}
	waitFor(t, 10*time.Second, "handshake", func() bool { return a.ready(b) && b.ready(a) })
	waitFor(t, 10*time.Second, "b synced", func() bool { return b.chain.Best().Height == 3 })

	waitFor(t, 10*time.Second, "peer info", func() bool {
		pa, pb := a.node.Peers(), b.node.Peers()
		return len(pa) == 1 && len(pb) == 1 && pa[0].Height == 3 && pb[0].Height == 3 && pa[0].BytesRecv > 0 && pb[0].BytesSent > 0
	})
	pa, pb := a.node.Peers()[0], b.node.Peers()[0]
	if pa.ID != b.node.ID().String() || !strings.HasSuffix(pa.Addr, "/p2p/"+pa.ID) || pa.Inbound || !pa.Persistent {
		t.Errorf("a's view of b: %+v", pa)
	}
	if !pb.Inbound || pb.Persistent || pb.Tip != a.chain.Best().Hash {
		t.Errorf("b's view of a: %+v", pb)
	}
	if pa.PingRTT <= 0 || pa.ConnectedAt.IsZero() || time.Since(pa.ConnectedAt) > time.Minute {
		t.Errorf("ping %v, connected at %v", pa.PingRTT, pa.ConnectedAt)
	}
	if a.node.ConnectionCount() != 1 {
		t.Errorf("connection count %d", a.node.ConnectionCount())
	}

	// A kept peer comes back after a disconnect.
	if err := a.node.DisconnectNode(b.node.ID().String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "redial", func() bool { return a.connectedTo(b) && a.ready(b) })

	if err := a.node.RemovePeer(b.addr()); err != nil {
		t.Fatal(err)
	}
	if err := a.node.RemovePeer(b.addr()); !errors.Is(err, ErrNotAdded) {
		t.Errorf("second remove: %v, want ErrNotAdded", err)
	}
	if err := b.node.DisconnectNode(a.addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "disconnect", func() bool {
		return a.node.host.Network().Connectedness(b.node.ID()) != network.Connected && a.node.ConnectionCount() == 0
	})
	if err := a.node.DisconnectNode(b.node.ID().String()); !errors.Is(err, ErrNotConnected) {
		t.Errorf("disconnecting a peer not connected: %v", err)
	}
	if err := a.node.DialOnce(b.addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "onetry connection", func() bool { return a.connectedTo(b) })

	for _, bad := range []string{"/ip4/127.0.0.1/tcp/1", "garbage"} {
		for name, f := range map[string]func(string) error{"AddPeer": a.node.AddPeer, "RemovePeer": a.node.RemovePeer, "DialOnce": a.node.DialOnce} {
			if err := f(bad); err == nil {
				t.Errorf("%s(%q) succeeded", name, bad)
			}
		}
	}
	if err := a.node.Unban(b.node.ID().String()); !errors.Is(err, ErrNotBanned) {
		t.Errorf("unban of a peer not banned: %v", err)
	}
	if err := a.node.Start(); err == nil {
		t.Error("second Start succeeded")
	}
}
