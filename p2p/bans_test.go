package p2p

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
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
	if err := g.ban(long, time.Hour, "sent junk"); err != nil {
		t.Fatal(err)
	}
	if err := g.ban(short, time.Millisecond, "brief"); err != nil {
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
	if ok, err := g2.unban(long); !ok || err != nil {
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

func TestIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regtest", "p2p.key")
	k1, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Type() != crypto.Ed25519 {
		t.Errorf("key type %v, want Ed25519", k1.Type())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Error("identity changed on reload")
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(path); err == nil {
		t.Error("a damaged key file loads")
	}
}

func TestSeenSetBounded(t *testing.T) {
	s := newSeenSet(3)
	for _, id := range []string{"a", "b", "c", "d"} {
		s.add(id, 1)
	}
	if _, ok := s.get("a"); ok {
		t.Error("oldest id kept past the bound")
	}
	for _, id := range []string{"b", "c", "d"} {
		if _, ok := s.get(id); !ok {
			t.Errorf("id %s forgotten", id)
		}
	}
	if len(s.m) != 3 {
		t.Errorf("set holds %d ids, bound 3", len(s.m))
	}
}
