package p2p

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
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
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/quarrychain/quarry/chain/atomicfile"
)

// DefaultBanDuration is how long a misbehaving peer is refused.
const DefaultBanDuration = 24 * time.Hour

// maxDiscouraged bounds the peers banned automatically for misbehaving. Peer
// ids cost nothing, so an attacker can earn a ban under every one it makes:
// the oldest is forgotten first, as Bitcoin Core's discouragement filter (a
// rolling Bloom filter of 50,000 addresses) forgets.
const maxDiscouraged = 10_000

// Ban is a peer, or every address of a subnet, refused until a time, and why.
// Exactly one of Peer and Subnet is set. Misbehaving peers are banned by
// identity: their address may be shared (every node of a local testnet is on
// 127.0.0.1), while an operator who knows better bans a subnet with setban,
// as with Bitcoin Core.
type Ban struct {
	Peer    peer.ID      `json:"peer,omitempty"`
	Subnet  netip.Prefix `json:"subnet,omitzero"`
	Created time.Time    `json:"created"`
	Until   time.Time    `json:"until"`
	Reason  string       `json:"reason"`
}

// Target is what the ban refuses: the peer id or the subnet.
func (b Ban) Target() string {
	if b.Subnet.IsValid() {
		return b.Subnet.String()
	}
	return b.Peer.String()
}

// ParseSubnet reads an IP address (a subnet of that one address) or a subnet
// in CIDR notation, as Bitcoin Core's setban takes them. An IPv4 address
// written as IPv6 (::ffff:a.b.c.d) is taken as IPv4.
func ParseSubnet(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if addr, err := netip.ParseAddr(s); err == nil {
		if addr.Zone() != "" {
			// ParseAddr takes "fe80::1%eth0/64" for a zone named "eth0/64".
			return netip.Prefix{}, fmt.Errorf("%q: a subnet has no interface zone", s)
		}
		p = netip.PrefixFrom(addr, addr.BitLen())
	} else if p, err = netip.ParsePrefix(s); err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a subnet", s)
	}
	addr := p.Addr()
	switch {
	case addr.Is4In6() && p.Bits() < 96:
		return netip.Prefix{}, fmt.Errorf("%q mixes IPv4 and IPv6 addresses", s)
	case addr.Is4In6():
		p = netip.PrefixFrom(addr.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// parseBanTarget reads what setban takes: an IP address or subnet, or a peer id.
func parseBanTarget(s string) (Ban, error) {
	if subnet, err := ParseSubnet(s); err == nil {
		return Ban{Subnet: subnet}, nil
	}
	if p, err := peer.Decode(s); err == nil {
		return Ban{Peer: p}, nil
	}
	return Ban{}, fmt.Errorf("%q is neither a peer id nor an IP address or subnet", s)
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

	mu      sync.Mutex
	bans    map[peer.ID]Ban // set by an operator; saved
	subnets map[netip.Prefix]Ban
	// discouraged holds the automatic bans of misbehaving peers, in memory
	// only, like Core's discouragement: a ban costs no disk write, however
	// many identities an attacker burns. The ring bounds them; discouraged
	// maps each peer to its slot there.
	discouraged map[peer.ID]int
	ring        []Ban // next is the oldest
	next        int
	// foreign peers are on another network; they are refused like banned ones
	// but not listed or saved, since they did nothing wrong.
	foreign map[peer.ID]time.Time
}

func newGater(path string, log *slog.Logger) (*gater, error) {
	g := &gater{path: path, log: log, now: time.Now, bans: make(map[peer.ID]Ban),
		subnets: make(map[netip.Prefix]Ban), foreign: make(map[peer.ID]time.Time),
		discouraged: make(map[peer.ID]int), ring: make([]Ban, maxDiscouraged)}
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
		switch {
		case !b.Until.After(now):
		case b.Subnet.IsValid():
			// As setban would have read it: a hand-edited file may hold an
			// unmasked or IPv4-in-IPv6 subnet that would never match.
			if subnet, err := ParseSubnet(b.Subnet.String()); err == nil {
				b.Subnet = subnet
				g.subnets[subnet] = b
			}
		case b.Peer.Validate() == nil:
			g.bans[b.Peer] = b
		}
	}
	return g, nil
}

// ban refuses b's peer or subnet until now+d and saves the list. An
// operator's ban of a peer replaces its automatic one: the peer is listed
// once, until the operator's time.
func (g *gater) ban(b Ban, d time.Duration) error {
	b.Created = g.now()
	b.Until = b.Created.Add(d)
	g.mu.Lock()
	if b.Subnet.IsValid() {
		g.subnets[b.Subnet] = b
	} else {
		g.bans[b.Peer] = b
		g.forgetDiscouragedLocked(b.Peer)
	}
	g.mu.Unlock()
	return g.save()
}

// discourage bans a misbehaving peer until now+d, in memory only, forgetting
// the oldest such ban once maxDiscouraged are held.
func (g *gater) discourage(p peer.ID, reason string, d time.Duration) {
	now := g.now()
	b := Ban{Peer: p, Created: now, Until: now.Add(d), Reason: reason}
	g.mu.Lock()
	defer g.mu.Unlock()
	if slot, ok := g.discouraged[p]; ok {
		g.ring[slot] = b
		return
	}
	if old := g.ring[g.next].Peer; old != "" {
		delete(g.discouraged, old)
	}
	g.ring[g.next] = b
	g.discouraged[p] = g.next
	g.next = (g.next + 1) % len(g.ring)
}

// discouragedLocked returns p's automatic ban in force, if any.
func (g *gater) discouragedLocked(p peer.ID, now time.Time) (Ban, bool) {
	slot, ok := g.discouraged[p]
	if !ok || !g.ring[slot].Until.After(now) {
		return Ban{}, false
	}
	return g.ring[slot], true
}

// forgetDiscouragedLocked lifts p's automatic ban, reporting whether it had one.
func (g *gater) forgetDiscouragedLocked(p peer.ID) bool {
	slot, ok := g.discouraged[p]
	if ok {
		g.ring[slot] = Ban{}
		delete(g.discouraged, p)
	}
	return ok
}

// unban lifts the ban of b's peer or subnet and saves the list, if there was one.
func (g *gater) unban(b Ban) (bool, error) {
	g.mu.Lock()
	var ok, saved bool
	if b.Subnet.IsValid() {
		_, saved = g.subnets[b.Subnet]
		delete(g.subnets, b.Subnet)
	} else {
		_, saved = g.bans[b.Peer]
		delete(g.bans, b.Peer)
		ok = g.forgetDiscouragedLocked(b.Peer)
	}
	g.mu.Unlock()
	if !saved {
		return ok, nil
	}
	return true, g.save()
}

func (g *gater) clear() error {
	g.mu.Lock()
	clear(g.bans)
	clear(g.subnets)
	clear(g.discouraged)
	clear(g.ring)
	g.mu.Unlock()
	return g.save()
}

// list returns the bans in force, soonest to end first.
func (g *gater) list() []Ban {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked()
	out := g.allLocked()
	for _, slot := range g.discouraged {
		out = append(out, g.ring[slot])
	}
	slices.SortFunc(out, func(a, b Ban) int {
		if c := a.Until.Compare(b.Until); c != 0 {
			return c
		}
		return strings.Compare(a.Target(), b.Target())
	})
	return out
}

// allLocked returns the bans an operator set, the ones saved.
func (g *gater) allLocked() []Ban {
	out := make([]Ban, 0, len(g.bans)+len(g.subnets))
	for _, b := range g.bans {
		out = append(out, b)
	}
	for _, b := range g.subnets {
		out = append(out, b)
	}
	return out
}

func (g *gater) expireLocked() {
	now := g.now()
	for p, b := range g.bans {
		if !b.Until.After(now) {
			delete(g.bans, p)
		}
	}
	for subnet, b := range g.subnets {
		if !b.Until.After(now) {
			delete(g.subnets, subnet)
		}
	}
	for p, slot := range g.discouraged {
		if !g.ring[slot].Until.After(now) {
			g.forgetDiscouragedLocked(p)
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
	if b, ok := g.discouragedLocked(p, now); ok {
		return b.Reason, true
	}
	if until, ok := g.foreign[p]; ok && until.After(now) {
		return "another network", true
	}
	return "", false
}

// refusedAddr reports whether addr is in a banned subnet. An address with
// no IP (a relay, say) is judged by the peer's identity alone.
func (g *gater) refusedAddr(addr ma.Multiaddr) bool {
	if addr == nil {
		return false
	}
	ip, err := manet.ToIP(addr)
	if err != nil {
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for subnet, b := range g.subnets {
		if subnet.Contains(a) && b.Until.After(now) {
			return true
		}
	}
	return false
}

func (g *gater) isBanned(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if b, ok := g.bans[p]; ok && b.Until.After(now) {
		return true
	}
	_, ok := g.discouragedLocked(p, now)
	return ok
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
	f := banFile{Bans: g.allLocked()}
	g.mu.Unlock()
	slices.SortFunc(f.Bans, func(a, b Ban) int { return strings.Compare(a.Target(), b.Target()) })
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

// InterceptAddrDial refuses to dial an address in a banned subnet.
func (g *gater) InterceptAddrDial(_ peer.ID, addr ma.Multiaddr) bool { return !g.refusedAddr(addr) }

// InterceptAccept refuses an inbound connection from a banned subnet; a
// banned peer is known only after the security handshake.
func (g *gater) InterceptAccept(c network.ConnMultiaddrs) bool {
	return c == nil || !g.refusedAddr(c.RemoteMultiaddr())
}

// InterceptSecured refuses a connection once the handshake shows it is from or
// to a refused peer, or a subnet banned since it was accepted.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	if _, refused := g.refused(p); refused {
		return false
	}
	return c == nil || !g.refusedAddr(c.RemoteMultiaddr())
}

// InterceptUpgraded allows every connection that got this far.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
