package methods

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quarrychain/quarry/p2p"
	"github.com/quarrychain/quarry/rpc"
)

// Version figures getnetworkinfo reports.
const (
	NodeVersion     = 100 // 0.1.0, encoded as Core encodes its own
	NodeSubversion  = "/Quarry:0.1.0/"
	ProtocolVersion = p2p.SyncProtocolVersion
)

func (m *networkMethods) getconnectioncount() rpc.Method {
	return rpc.Method{
		Name:     "getconnectioncount",
		Category: "network",
		Summary:  "Returns the number of connections to other nodes.",
		Result:   `n    (numeric) The connection count`,
		Handler:  func(context.Context, *rpc.Params) (any, error) { return m.Net.ConnectionCount(), nil },
	}
}

func (m *networkMethods) getpeerinfo() rpc.Method {
	return rpc.Method{
		Name:     "getpeerinfo",
		Category: "network",
		Summary:  "Returns data about each connected network peer as a json array of objects.",
		Result: `[
  {
    "id" : n,                 (numeric) Peer index
    "peerid" : "str",         (string) The libp2p peer id
    "addr" : "str",           (string) The peer's multiaddr, ending in /p2p/<peer id>
    "services" : "hex",       (string) The services the peer offers, from its last status
    "servicesnames" : [       (array) The services the peer offers, by name
      "str",...               (string) NETWORK (serves every block) or NETWORK_LIMITED (its last 288)
    ],
    "version" : n,            (numeric) The newest sync protocol version the peer speaks, 0 before its first status
    "inbound" : true|false,   (boolean) Inbound (true) or outbound (false)
    "connection_type" : "str",(string) "manual" for --connect and addnode peers, else "inbound" or "outbound-full-relay"
    "synced_blocks" : n,      (numeric) The peer's tip height from its last status, -1 before the first
    "tip" : "hex",            (string) The peer's tip hash from its last status
    "pingtime" : n,           (numeric) Ping round trip, in seconds
    "bytessent" : n,          (numeric) Bytes sent to the peer
    "bytesrecv" : n,          (numeric) Bytes received from the peer
    "conntime" : n,           (numeric) Connection time, unix seconds
    "score" : n,              (numeric) The peer's gossipsub score
    "mesh" : ["str",...]      (array) Gossip topics in whose mesh the peer is
  },...
]`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			peers := m.Net.Peers()
			out := make([]PeerInfoResult, len(peers))
			for i, p := range peers {
				kind := "outbound-full-relay"
				switch {
				case p.Persistent:
					kind = "manual"
				case p.Inbound:
					kind = "inbound"
				}
				out[i] = PeerInfoResult{
					ID: i, PeerID: p.ID, Addr: p.Addr, Services: servicesHex(p.Services), ServicesNames: p.Services.Names(),
					Version: p.SyncVersion,
					Inbound: p.Inbound, ConnectionType: kind,
					SyncedBlocks: p.Height, PingTime: p.PingRTT.Seconds(),
					BytesSent: p.BytesSent, BytesRecv: p.BytesRecv, ConnTime: p.ConnectedAt.Unix(),
					Score: p.GossipScore, Mesh: p.Mesh,
				}
				if p.Height >= 0 {
					out[i].Tip = p.Tip.String()
				}
				if out[i].Mesh == nil {
					out[i].Mesh = []string{}
				}
			}
			return out, nil
		},
	}
}

func (m *networkMethods) getnetworkinfo() rpc.Method {
	return rpc.Method{
		Name:     "getnetworkinfo",
		Category: "network",
		Summary:  "Returns an object containing various state info regarding P2P networking.",
		Result: `{
  "version" : n,              (numeric) The node's version
  "subversion" : "str",       (string) The node's user agent
  "protocolversion" : n,      (numeric) The sync protocol version
  "localservices" : "hex",    (string) The services the node offers: a pruned node NETWORK_LIMITED alone
  "localservicesnames" : [    (array) The services the node offers, by name
    "str",...                 (string) NETWORK (serves every block) or NETWORK_LIMITED (its last 288)
  ],
  "localrelay" : true,        (boolean) Transactions are relayed
  "networkactive" : true,     (boolean) P2P networking is on
  "connections" : n,          (numeric) The number of connections
  "connections_in" : n,       (numeric) Inbound connections
  "connections_out" : n,      (numeric) Outbound connections
  "relayfee" : n,             (numeric) Minimum relay fee rate, in QRY/kvB
  "incrementalfee" : n,       (numeric) Minimum fee rate increment for replacement, in QRY/kvB
  "localaddresses" : [        (array) The node's dialable addresses
    {
      "address" : "str",      (string) A multiaddr ending in /p2p/<peer id>
      "score" : n             (numeric) Always 1
    },...
  ],
  "warnings" : "str"          (string) Any network warnings
}`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			peers := m.Net.Peers()
			info := NetworkInfoResult{
				Version: NodeVersion, Subversion: NodeSubversion, ProtocolVersion: ProtocolVersion,
				LocalServices: servicesHex(m.Net.LocalServices()), LocalServicesNames: m.Net.LocalServices().Names(),
				LocalRelay: true, NetworkActive: true, Connections: len(peers),
				RelayFee: rpc.Amount(m.RelayFee * 1000), IncrementalFee: rpc.Amount(m.RelayFee * 1000),
				LocalAddresses: []LocalAddress{},
			}
			for _, p := range peers {
				if p.Inbound {
					info.ConnectionsIn++
				} else {
					info.ConnectionsOut++
				}
			}
			for _, a := range m.Net.LocalAddrs() {
				info.LocalAddresses = append(info.LocalAddresses, LocalAddress{Address: a, Score: 1})
			}
			return info, nil
		},
	}
}

// servicesHex shows service flags as Core does: 16 hex digits.
func servicesHex(s p2p.ServiceFlags) string { return fmt.Sprintf("%016x", uint64(s)) }

func (m *networkMethods) addnode() rpc.Method {
	return rpc.Method{
		Name:     "addnode",
		Category: "network",
		Summary:  "Attempts to add or remove a node from the addnode list, or try a connection to a node once.",
		Params: []rpc.Param{
			{Name: "node", Type: rpc.TypeString, Required: true, Description: "The peer's multiaddr, ending in /p2p/<peer id>"},
			{Name: "command", Type: rpc.TypeString, Required: true, Description: "'add' to keep the peer, 'remove' to forget it, 'onetry' to dial it once"},
		},
		Result: `null    (json null)`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			addr, command := p.String("node"), p.String("command")
			if err := p.Err(); err != nil {
				return nil, err
			}
			var err error
			switch command {
			case "add":
				err = m.Net.AddPeer(addr)
			case "remove":
				err = m.Net.RemovePeer(addr)
			case "onetry":
				err = m.Net.DialOnce(addr)
			default:
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "command must be one of 'add', 'remove' or 'onetry', not %q", command)
			}
			switch {
			case err == nil:
				return nil, nil
			case errors.Is(err, p2p.ErrAlreadyAdded):
				return nil, rpc.Errorf(rpc.CodeClientNodeAlreadyAdded, "Error: Node already added")
			case errors.Is(err, p2p.ErrNotAdded):
				return nil, rpc.Errorf(rpc.CodeClientNodeNotAdded, "Error: Node could not be removed. It has not been added previously.")
			default:
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "%v", err)
			}
		},
	}
}

func (m *networkMethods) disconnectnode() rpc.Method {
	return rpc.Method{
		Name:     "disconnectnode",
		Category: "network",
		Summary:  "Immediately disconnects from the specified peer node.",
		Params: []rpc.Param{
			{Name: "address", Type: rpc.TypeString, Description: "The peer's multiaddr or its peer id"},
			{Name: "nodeid", Type: rpc.TypeNumber, Description: "The peer's index in getpeerinfo"},
		},
		Result: `null    (json null)`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			target := p.String("address")
			if p.Has("nodeid") {
				id := p.Int("nodeid")
				if err := p.Err(); err != nil {
					return nil, err
				}
				if target != "" {
					return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Only one of address and nodeid should be provided.")
				}
				peers := m.Net.Peers()
				if id < 0 || id >= int64(len(peers)) {
					return nil, rpc.Errorf(rpc.CodeClientNodeNotConnected, "Node not found in connected nodes")
				}
				target = peers[id].ID
			}
			if err := p.Err(); err != nil {
				return nil, err
			}
			if target == "" {
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "Need an address or a nodeid")
			}
			if err := m.Net.DisconnectNode(target); err != nil {
				return nil, rpc.Errorf(rpc.CodeClientNodeNotConnected, "Node not found in connected nodes")
			}
			return nil, nil
		},
	}
}

func (m *networkMethods) setban() rpc.Method {
	return rpc.Method{
		Name:     "setban",
		Category: "network",
		Summary:  "Attempts to add or remove an IP/Subnet or a peer from the banned list.",
		Params: []rpc.Param{
			{Name: "subnet", Type: rpc.TypeString, Required: true, Description: "The IP address or subnet (e.g. 192.168.0.6/24) whose every peer to ban or unban, or one peer by its peer id"},
			{Name: "command", Type: rpc.TypeString, Required: true, Description: "'add' to ban, 'remove' to unban"},
			{Name: "bantime", Type: rpc.TypeNumber, Default: "0", Description: "Seconds the ban lasts (0 means 24 hours), or with absolute, a unix time"},
			{Name: "absolute", Type: rpc.TypeBool, Default: "false", Description: "Whether bantime is an absolute unix time"},
		},
		Result: `null    (json null)`,
		Handler: func(_ context.Context, p *rpc.Params) (any, error) {
			id, command := p.String("subnet"), p.String("command")
			bantime, absolute := p.Int("bantime"), p.Bool("absolute")
			if err := p.Err(); err != nil {
				return nil, err
			}
			switch command {
			case "add":
				d := time.Duration(bantime) * time.Second
				if absolute {
					d = time.Until(time.Unix(bantime, 0))
				}
				if d <= 0 {
					d = p2p.DefaultBanDuration
				}
				if err := m.Net.SetBan(id, d, "manually added"); err != nil {
					return nil, rpc.Errorf(rpc.CodeClientInvalidIPOrSubnet, "Error: Invalid IP/Subnet or peer id: %v", err)
				}
			case "remove":
				if err := m.Net.Unban(id); err != nil {
					return nil, rpc.Errorf(rpc.CodeClientInvalidIPOrSubnet, "Error: Unban failed. Requested address/subnet or peer was not previously banned.")
				}
			default:
				return nil, rpc.Errorf(rpc.CodeInvalidParameter, "command must be 'add' or 'remove', not %q", command)
			}
			return nil, nil
		},
	}
}

func (m *networkMethods) listbanned() rpc.Method {
	return rpc.Method{
		Name:     "listbanned",
		Category: "network",
		Summary:  "List all manually and automatically banned subnets and peers, with the reason.",
		Result: `[
  {
    "address" : "str",        (string) The banned subnet, or peer id
    "ban_created" : n,        (numeric) When the ban began, unix seconds
    "banned_until" : n,       (numeric) When the ban ends, unix seconds
    "ban_duration" : n,       (numeric) The ban's length in seconds
    "time_remaining" : n,     (numeric) Seconds left
    "ban_reason" : "str"      (string) Why the peer was banned
  },...
]`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			now := time.Now()
			out := []BannedResult{}
			for _, ban := range m.Net.ListBanned() {
				out = append(out, BannedResult{
					Address: ban.Target(), BanCreated: ban.Created.Unix(), BannedUntil: ban.Until.Unix(),
					BanDuration: int64(ban.Until.Sub(ban.Created).Seconds()), TimeRemaining: int64(ban.Until.Sub(now).Seconds()),
					BanReason: ban.Reason,
				})
			}
			return out, nil
		},
	}
}

func (m *networkMethods) clearbanned() rpc.Method {
	return rpc.Method{
		Name:     "clearbanned",
		Category: "network",
		Summary:  "Clear all banned peers.",
		Result:   `null    (json null)`,
		Handler: func(context.Context, *rpc.Params) (any, error) {
			return nil, m.Net.ClearBanned()
		},
	}
}
