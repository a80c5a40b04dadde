package p2p

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/quarrychain/quarry/chain/atomicfile"
)

// DefaultBanDuration is how long a misbehaving peer is refused.
const DefaultBanDuration = 24 * time.Hour

// Ban is a peer refused until a time, and why.
type Ban struct {
	Peer    peer.ID   `json:"peer"`
	Created time.Time `json:"created"`
	Until   time.Time `json:"until"`
	Reason  string    `json:"reason"`
}

// banFile is the JSON form of the ban list on disk.
type banFile struct {
	Bans []Ban `json:"bans"`
}

// gater refuses connections to and from banned peers, and from peers of
// another network or genesis. It is the host's connmgr.ConnectionGater, so a
// banned peer is refused at dial time and right after the handshake that
// reveals its identity, before any protocol runs.
type gater struct {
	path string // "" keeps bans in memory only
	log  *slog.Logger
	now  func() time.Time

	// saveMu orders writers so the file ends with the latest list.
	saveMu sync.Mutex

	mu   sync.Mutex
	bans map[peer.ID]Ban
	// foreign peers are on another network; they are refused like banned ones
	// but not listed or saved, since they did nothing wrong.
	foreign map[peer.ID]time.Time
}

func newGater(path string, log *slog.Logger) (*gater, error) {
	g := &gater{path: path, log: log, now: time.Now, bans: make(map[peer.ID]Ban), foreign: make(map[peer.ID]time.Time)}
	if path == "" {
		return g, nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ban list: %w", err)
	}
	var f banFile
	if err := json.Unmarshal(raw, &f); err != nil {
		// Losing bans is better than refusing to start: they only keep out
		// peers that misbehaved once, and will again if they try.
		log.Warn("ban list is unreadable, starting with none", "file", path, "err", err)
		return g, nil
	}
	now := g.now()
	for _, b := range f.Bans {
		if b.Peer.Validate() == nil && b.Until.After(now) {
			g.bans[b.Peer] = b
		}
	}
	return g, nil
}

// ban refuses p until now+d and saves the list.
func (g *gater) ban(p peer.ID, d time.Duration, reason string) error {
	now := g.now()
	g.mu.Lock()
	g.bans[p] = Ban{Peer: p, Created: now, Until: now.Add(d), Reason: reason}
	g.mu.Unlock()
	return g.save()
}

func (g *gater) unban(p peer.ID) (bool, error) {
	g.mu.Lock()
	_, ok := g.bans[p]
	delete(g.bans, p)
	g.mu.Unlock()
	if !ok {
		return false, nil
	}
	return true, g.save()
}

func (g *gater) clear() error {
	g.mu.Lock()
	clear(g.bans)
	g.mu.Unlock()
	return g.save()
}

// list returns the bans in force, soonest to end first.
func (g *gater) list() []Ban {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked()
	out := make([]Ban, 0, len(g.bans))
	for _, b := range g.bans {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Ban) int {
		if c := a.Until.Compare(b.Until); c != 0 {
			return c
		}
		return strings.Compare(string(a.Peer), string(b.Peer))
	})
	return out
}

func (g *gater) expireLocked() {
	now := g.now()
	for p, b := range g.bans {
		if !b.Until.After(now) {
			delete(g.bans, p)
		}
	}
	for p, until := range g.foreign {
		if !until.After(now) {
			delete(g.foreign, p)
		}
	}
}

// refuseForeign keeps a peer of another network out for d.
func (g *gater) refuseForeign(p peer.ID, d time.Duration) {
	g.mu.Lock()
	g.foreign[p] = g.now().Add(d)
	g.mu.Unlock()
}

// refused reports whether p may not connect, and why.
func (g *gater) refused(p peer.ID) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if b, ok := g.bans[p]; ok && b.Until.After(now) {
		return b.Reason, true
	}
	if until, ok := g.foreign[p]; ok && until.After(now) {
		return "another network", true
	}
	return "", false
}

func (g *gater) isBanned(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.bans[p]
	return ok && b.Until.After(g.now())
}

// save writes the list atomically: a crash leaves the old file or the new one.
func (g *gater) save() error {
	if g.path == "" {
		return nil
	}
	g.saveMu.Lock()
	defer g.saveMu.Unlock()
	g.mu.Lock()
	g.expireLocked()
	f := banFile{Bans: make([]Ban, 0, len(g.bans))}
	for _, b := range g.bans {
		f.Bans = append(f.Bans, b)
	}
	g.mu.Unlock()
	slices.SortFunc(f.Bans, func(a, b Ban) int { return strings.Compare(string(a.Peer), string(b.Peer)) })
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode ban list: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(g.path), 0o700); err != nil {
		return fmt.Errorf("save ban list: %w", err)
	}
	if err := atomicfile.Write(g.path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("save ban list: %w", err)
	}
	return nil
}

// InterceptPeerDial refuses to dial a refused peer.
func (g *gater) InterceptPeerDial(p peer.ID) bool {
	_, refused := g.refused(p)
	return !refused
}

// InterceptAddrDial allows every address; peers are judged by identity.
func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept allows every inbound connection: the peer's identity is not
// known until the security handshake.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses a connection once the handshake shows it is from or
// to a refused peer.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	_, refused := g.refused(p)
	return !refused
}

// InterceptUpgraded allows every connection that got this far.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
