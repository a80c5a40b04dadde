package p2p

import (
	"context"
	"fmt"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// DHT discovery timing.
const (
	dhtFirstRound = 5 * time.Second
	dhtInterval   = time.Minute
	// dhtDialsPerRound bounds the peers dialled per discovery round.
	dhtDialsPerRound = 8
)

// startDiscovery starts mDNS and the DHT when configured; both are off by
// default.
func (n *Node) startDiscovery() error {
	if n.cfg.MDNS {
		svc := mdns.NewMdnsService(n.host, "quarry-"+n.params.Name, mdnsNotifee{n})
		if err := svc.Start(); err != nil {
			return fmt.Errorf("start mDNS: %w", err)
		}
		n.discovery = append(n.discovery, svc.Close)
	}
	if n.cfg.DHT {
		return n.startDHT()
	}
	return nil
}

type mdnsNotifee struct{ n *Node }

// HandlePeerFound dials a peer announced on the local network.
func (m mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	n := m.n
	if info.ID == n.host.ID() || n.host.Network().Connectedness(info.ID) == network.Connected {
		return
	}
	n.goOwned(func() {
		if err := n.dial(n.ctx, info); err != nil {
			n.log.Debug("dial mDNS peer", "peer", info.ID, "err", err)
		}
	})
}

// startDHT joins a Kademlia DHT of this network's nodes (its own protocol
// prefix keeps it apart from IPFS's) through the bootstrap peers, then
// advertises the node under the network's name and dials peers found there
// while it has fewer than LowWater connections.
func (n *Node) startDHT() error {
	var boot []peer.AddrInfo
	for _, a := range n.cfg.Bootstrap {
		info, err := parsePeerAddr(a)
		if err != nil {
			return fmt.Errorf("bootstrap peer: %w", err)
		}
		boot = append(boot, info)
	}
	kdht, err := dht.New(n.host,
		dht.Mode(dht.ModeAutoServer),
		dht.ProtocolPrefix(protocol.ID("/quarry/"+n.params.Name)),
		dht.BootstrapPeers(boot...),
	)
	if err != nil {
		return fmt.Errorf("start DHT: %w", err)
	}
	n.discovery = append(n.discovery, kdht.Close)
	n.goOwned(func() { n.runDHT(kdht, boot) })
	return nil
}

func (n *Node) runDHT(kdht *dht.IpfsDHT, boot []peer.AddrInfo) {
	for _, info := range boot {
		if err := n.dial(n.ctx, info); err != nil {
			n.log.Info("dial bootstrap peer", "peer", info.ID, "err", err)
		}
	}
	if err := kdht.Bootstrap(n.ctx); err != nil {
		n.log.Warn("DHT bootstrap", "err", err)
	}
	rd := drouting.NewRoutingDiscovery(kdht)
	ns := "quarry/" + n.params.Name
	for wait := dhtFirstRound; n.wait(wait); wait = dhtInterval {
		ctx, cancel := context.WithTimeout(n.ctx, dhtInterval/2)
		if _, err := rd.Advertise(ctx, ns); err != nil {
			n.log.Debug("DHT advertise", "err", err)
		}
		if n.ConnectionCount() < n.cfg.LowWater {
			n.dialFound(ctx, rd, ns)
		}
		cancel()
	}
}

func (n *Node) dialFound(ctx context.Context, rd *drouting.RoutingDiscovery, ns string) {
	found, err := rd.FindPeers(ctx, ns)
	if err != nil {
		n.log.Debug("DHT find peers", "err", err)
		return
	}
	dialled := 0
	for info := range found {
		if dialled == dhtDialsPerRound {
			break
		}
		if info.ID == n.host.ID() || len(info.Addrs) == 0 || n.host.Network().Connectedness(info.ID) == network.Connected {
			continue
		}
		dialled++
		if err := n.dial(ctx, info); err != nil {
			n.log.Debug("dial DHT peer", "peer", info.ID, "err", err)
		}
	}
}
