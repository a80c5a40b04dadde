package p2p

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// Once its tip is recent the node has left initial block download for good:
// a peer announcing a header with more work and withholding its body does
// not put it back (it would stop serving block templates and, past 50,000
// such headers, stop syncing headers).
func TestInitialBlockDownloadLatchesOff(t *testing.T) {
	tn := newTestNode(t, nil)
	base := mainBlocks(2)
	tn.process(base[0])
	if err := tn.chain.AcceptHeaders([]chain.Header{base[1].Header}); err != nil {
		t.Fatal(err)
	}
	if !tn.node.IsInitialBlockDownload() {
		t.Fatal("not in IBD with an old tip and a header ahead of it")
	}
	tn.process(base[1])
	var recent, withheld *chain.Block
	withGen(func(g *chaintest.Generator) {
		recent = g.BuildBlock(base[1].Hash(), func(b *chain.Block) { b.Header.Time = uint32(time.Now().Unix()) })
		withheld = g.NextBlock(recent.Hash())
	})
	tn.process(recent)
	if tn.node.IsInitialBlockDownload() {
		t.Fatal("in IBD at a recent tip with nothing ahead")
	}
	if err := tn.chain.AcceptHeaders([]chain.Header{withheld.Header}); err != nil {
		t.Fatal(err)
	}
	if tn.chain.BestHeaderHeight() != tn.chain.Best().Height+1 {
		t.Fatalf("best header %d, tip %d: the withheld block's header was not taken", tn.chain.BestHeaderHeight(), tn.chain.Best().Height)
	}
	if tn.node.IsInitialBlockDownload() {
		t.Fatal("a header whose body is withheld put a node with a recent tip back into IBD")
	}
}

// A misbehaving peer's ban costs no disk write: peer ids are free, and with
// every ban saved an attacker returning under new identities made each ban
// rewrite and fsync a longer file. Only an operator's bans are saved.
func TestAutomaticBansStayInMemory(t *testing.T) {
	tn := newTestNode(t, nil)
	banFile := filepath.Join(tn.dir, "banlist.json")
	var offenders []peer.ID
	for range 20 {
		p := randomPeer(t)
		tn.node.misbehaved(p, "sent junk")
		offenders = append(offenders, p)
	}
	for _, p := range offenders {
		if !tn.node.IsBanned(p) {
			t.Fatalf("misbehaving peer %s not banned", p)
		}
	}
	if len(tn.node.ListBanned()) != len(offenders) {
		t.Fatalf("%d bans listed, want the %d automatic ones", len(tn.node.ListBanned()), len(offenders))
	}
	if _, err := os.Stat(banFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("automatic bans were written to disk: %v", err)
	}
	operator := randomPeer(t)
	if err := tn.node.SetBan(operator.String(), time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(banFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), operator.String()) || strings.Contains(string(raw), offenders[0].String()) {
		t.Fatalf("ban file holds other than the operator's ban:\n%s", raw)
	}
}

// Automatic bans are bounded: past maxDiscouraged the oldest is forgotten,
// and lifting one frees nothing a later ban needs.
func TestAutomaticBansBounded(t *testing.T) {
	g, err := newGater("", testLogger())
	if err != nil {
		t.Fatal(err)
	}
	id := func(i int) peer.ID { return peer.ID(fmt.Sprintf("offender-%d", i)) }
	const extra = 10
	for i := range maxDiscouraged + extra {
		g.discourage(id(i), "junk", time.Hour)
	}
	if len(g.discouraged) != maxDiscouraged {
		t.Fatalf("%d automatic bans held, want at most %d", len(g.discouraged), maxDiscouraged)
	}
	for i := range extra {
		if g.isBanned(id(i)) {
			t.Fatalf("ban %d, among the oldest, was kept", i)
		}
	}
	last := id(maxDiscouraged + extra - 1)
	if !g.isBanned(last) || !g.isBanned(id(extra)) {
		t.Fatal("a recent automatic ban was dropped")
	}
	// Lifted and set again, a ban takes a new slot; its old one, reached
	// later, must not take it away.
	if ok, err := g.unban(Ban{Peer: id(extra + 5)}); !ok || err != nil {
		t.Fatalf("unban: %v %v", ok, err)
	}
	g.discourage(id(extra+5), "again", time.Hour)
	for i := range maxDiscouraged - 1 {
		g.discourage(id(1_000_000+i), "junk", time.Hour)
	}
	if !g.isBanned(id(extra + 5)) {
		t.Fatal("a renewed ban was evicted through its old slot")
	}
}
