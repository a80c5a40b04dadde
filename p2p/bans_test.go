package p2p

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func randomPeer(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestBanListPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regtest", "banlist.json")
	g, err := newGater(path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	long, short, foreign := randomPeer(t), randomPeer(t), randomPeer(t)
	if err := g.ban(Ban{Peer: long, Reason: "sent junk"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := g.ban(Ban{Peer: short, Reason: "brief"}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	g.refuseForeign(foreign, time.Hour)
	if g.InterceptPeerDial(long) || g.InterceptSecured(0, long, nil) || g.InterceptPeerDial(foreign) {
		t.Error("gater lets refused peers through")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ban list mode %v, want 0600", fi.Mode().Perm())
	}

	waitFor(t, time.Second, "short ban to expire", func() bool { return !g.isBanned(short) })
	g2, err := newGater(path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	bans := g2.list()
	if len(bans) != 1 || bans[0].Peer != long || bans[0].Reason != "sent junk" {
		t.Fatalf("reloaded bans %+v, want only %s", bans, long)
	}
	if !g2.InterceptPeerDial(foreign) {
		t.Error("a foreign peer's refusal was saved as a ban")
	}
	if ok, err := g2.unban(Ban{Peer: long}); !ok || err != nil {
		t.Fatalf("unban: %v %v", ok, err)
	}
	g3, err := newGater(path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if len(g3.list()) != 0 {
		t.Errorf("bans after unban: %v", g3.list())
	}
}

func TestBanListDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "banlist.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := newGater(path, testLogger())
	if err != nil {
		t.Fatalf("a damaged ban list stops the node: %v", err)
	}
	if len(g.list()) != 0 {
		t.Error("bans from a damaged file")
	}
}

func TestParseSubnet(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.168.0.6", "192.168.0.6/32"},
		{"192.168.0.6/24", "192.168.0.0/24"},
		{"::ffff:10.1.2.3", "10.1.2.3/32"},
		{"::ffff:10.1.2.3/120", "10.1.2.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:db8::1/32", "2001:db8::/32"},
	} {
		got, err := ParseSubnet(c.in)
		if err != nil || got.String() != c.want {
			t.Errorf("ParseSubnet(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "12D3KooWGiY8KRSviD9TRsJkgYzUtgbTn3L5C23VQTQ3k2iFaCgZ", "10.0.0.0/33", "host.example",
		"fe80::1%eth0", "fe80::1%eth0/64", "::ffff:1.2.3.4/90"} {
		if _, err := ParseSubnet(bad); err == nil {
			t.Errorf("ParseSubnet(%q) accepted", bad)
		}
	}
}

type connAddrs struct{ remote ma.Multiaddr }

func (c connAddrs) LocalMultiaddr() ma.Multiaddr  { return ma.StringCast("/ip4/127.0.0.1/tcp/1") }
func (c connAddrs) RemoteMultiaddr() ma.Multiaddr { return c.remote }

func TestSubnetBans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "banlist.json")
	g, err := newGater(path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	subnet, _ := ParseSubnet("10.1.0.0/16")
	if err := g.ban(Ban{Subnet: subnet, Reason: "operator"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	inside, outside := ma.StringCast("/ip4/10.1.200.7/tcp/8333"), ma.StringCast("/ip4/10.2.0.1/udp/8333/quic-v1")
	someone := randomPeer(t)
	if g.InterceptAccept(connAddrs{inside}) || g.InterceptAddrDial(someone, inside) || g.InterceptSecured(0, someone, connAddrs{inside}) {
		t.Error("gater lets an address of a banned subnet through")
	}
	if !g.InterceptAccept(connAddrs{outside}) || !g.InterceptAddrDial(someone, outside) || !g.InterceptSecured(0, someone, connAddrs{outside}) {
		t.Error("gater refuses an address outside the banned subnet")
	}
	if !g.InterceptAddrDial(someone, ma.StringCast("/dns4/example.com/tcp/1")) {
		t.Error("gater refuses an address without an IP")
	}

	g2, err := newGater(path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	bans := g2.list()
	if len(bans) != 1 || bans[0].Target() != "10.1.0.0/16" || bans[0].Peer != "" || bans[0].Reason != "operator" {
		t.Fatalf("reloaded bans %+v, want the subnet", bans)
	}
	if g2.InterceptAccept(connAddrs{inside}) {
		t.Error("subnet ban lost across reload")
	}
	if ok, err := g2.unban(Ban{Subnet: subnet}); !ok || err != nil {
		t.Fatalf("unban subnet: %v %v", ok, err)
	}
	if !g2.InterceptAccept(connAddrs{inside}) {
		t.Error("unbanned subnet still refused")
	}
}
