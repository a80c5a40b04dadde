package rpc

import (
	"context"
	"errors"
	"time"

	"github.com/quarrychain/quarry/p2p"
)

// Version figures getnetworkinfo reports.
const (
	NodeVersion     = 100 // 0.1.0, encoded as Core encodes its own
	NodeSubversion  = "/Quarry:0.1.0/"
	ProtocolVersion = 1
)

// NetBackend is what the network methods need from the node.
type NetBackend struct {
	Net *p2p.Node
	// RelayFee is the mempool's minimum relay fee rate in base units per byte.
	RelayFee uint64
}

// RegisterNetMethods registers the peer and network methods.
func RegisterNetMethods(reg *Registry, b NetBackend) {
	n := b.Net
	reg.Register(
		Method{
			Name:     "getconnectioncount",
			Category: "network",
			Summary:  "Returns the number of connections to other nodes.",
			Result:   `n    (numeric) The connection count`,
			Handler:  func(context.Context, *Params) (any, error) { return n.ConnectionCount(), nil },
		},
		Method{
			Name:     "getpeerinfo",
			Category: "network",
			Summary:  "Returns data about each connected network peer as a json array of objects.",
			Result: `[
  {
    "id" : n,                 (numeric) Peer index
    "peerid" : "str",         (string) The libp2p peer id
    "addr" : "str",           (string) The peer's multiaddr, ending in /p2p/<peer id>
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
			Handler: func(context.Context, *Params) (any, error) {
				peers := n.Peers()
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
						ID: i, PeerID: p.ID, Addr: p.Addr, Inbound: p.Inbound, ConnectionType: kind,
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
		},
		Method{
			Name:     "getnetworkinfo",
			Category: "network",
			Summary:  "Returns an object containing various state info regarding P2P networking.",
			Result: `{
  "version" : n,              (numeric) The node's version
  "subversion" : "str",       (string) The node's user agent
  "protocolversion" : n,      (numeric) The sync protocol version
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
			Handler: func(context.Context, *Params) (any, error) {
				peers := n.Peers()
				info := NetworkInfoResult{
					Version: NodeVersion, Subversion: NodeSubversion, ProtocolVersion: ProtocolVersion,
					LocalRelay: true, NetworkActive: true, Connections: len(peers),
					RelayFee: Amount(b.RelayFee * 1000), IncrementalFee: Amount(b.RelayFee * 1000),
					LocalAddresses: []LocalAddress{},
				}
				for _, p := range peers {
					if p.Inbound {
						info.ConnectionsIn++
					} else {
						info.ConnectionsOut++
					}
				}
				for _, a := range n.LocalAddrs() {
					info.LocalAddresses = append(info.LocalAddresses, LocalAddress{Address: a, Score: 1})
				}
				return info, nil
			},
		},
		Method{
			Name:     "addnode",
			Category: "network",
			Summary:  "Attempts to add or remove a node from the addnode list, or try a connection to a node once.",
			Params: []Param{
				{Name: "node", Type: TypeString, Required: true, Description: "The peer's multiaddr, ending in /p2p/<peer id>"},
				{Name: "command", Type: TypeString, Required: true, Description: "'add' to keep the peer, 'remove' to forget it, 'onetry' to dial it once"},
			},
			Result: `null    (json null)`,
			Handler: func(_ context.Context, p *Params) (any, error) {
				addr, command := p.String("node"), p.String("command")
				if err := p.Err(); err != nil {
					return nil, err
				}
				if command != "add" && command != "remove" && command != "onetry" {
					return nil, Errorf(CodeInvalidParameter, "command must be one of 'add', 'remove' or 'onetry', not %q", command)
				}
				switch err := n.AddNode(addr, command); {
				case err == nil:
					return nil, nil
				case errors.Is(err, p2p.ErrAlreadyAdded):
					return nil, Errorf(CodeClientNodeAlreadyAdded, "Error: Node already added")
				case errors.Is(err, p2p.ErrNotAdded):
					return nil, Errorf(CodeClientNodeNotAdded, "Error: Node could not be removed. It has not been added previously.")
				default:
					return nil, Errorf(CodeInvalidParameter, "%v", err)
				}
			},
		},
		Method{
			Name:     "disconnectnode",
			Category: "network",
			Summary:  "Immediately disconnects from the specified peer node.",
			Params: []Param{
				{Name: "address", Type: TypeString, Description: "The peer's multiaddr or its peer id"},
				{Name: "nodeid", Type: TypeNumber, Description: "The peer's index in getpeerinfo"},
			},
			Result: `null    (json null)`,
			Handler: func(_ context.Context, p *Params) (any, error) {
				target := p.String("address")
				if p.Has("nodeid") {
					id := p.Int("nodeid")
					if err := p.Err(); err != nil {
						return nil, err
					}
					if target != "" {
						return nil, Errorf(CodeInvalidParameter, "Only one of address and nodeid should be provided.")
					}
					peers := n.Peers()
					if id < 0 || id >= int64(len(peers)) {
						return nil, Errorf(CodeClientNodeNotConnected, "Node not found in connected nodes")
					}
					target = peers[id].ID
				}
				if err := p.Err(); err != nil {
					return nil, err
				}
				if target == "" {
					return nil, Errorf(CodeInvalidParameter, "Need an address or a nodeid")
				}
				if err := n.DisconnectNode(target); err != nil {
					return nil, Errorf(CodeClientNodeNotConnected, "Node not found in connected nodes")
				}
				return nil, nil
			},
		},
		Method{
			Name:     "setban",
			Category: "network",
			Summary:  "Attempts to add or remove an IP/Subnet or a peer from the banned list.",
			Params: []Param{
				{Name: "subnet", Type: TypeString, Required: true, Description: "The IP address or subnet (e.g. 192.168.0.6/24) whose every peer to ban or unban, or one peer by its peer id"},
				{Name: "command", Type: TypeString, Required: true, Description: "'add' to ban, 'remove' to unban"},
				{Name: "bantime", Type: TypeNumber, Default: "0", Description: "Seconds the ban lasts (0 means 24 hours), or with absolute, a unix time"},
				{Name: "absolute", Type: TypeBool, Default: "false", Description: "Whether bantime is an absolute unix time"},
			},
			Result: `null    (json null)`,
			Handler: func(_ context.Context, p *Params) (any, error) {
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
					if err := n.SetBan(id, d, "manually added"); err != nil {
						return nil, Errorf(CodeClientInvalidIPOrSubnet, "Error: Invalid IP/Subnet or peer id: %v", err)
					}
				case "remove":
					if err := n.Unban(id); err != nil {
						return nil, Errorf(CodeClientInvalidIPOrSubnet, "Error: Unban failed. Requested address/subnet or peer was not previously banned.")
					}
				default:
					return nil, Errorf(CodeInvalidParameter, "command must be 'add' or 'remove', not %q", command)
				}
				return nil, nil
			},
		},
		Method{
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
			Handler: func(context.Context, *Params) (any, error) {
				now := time.Now()
				out := []BannedResult{}
				for _, ban := range n.ListBanned() {
					out = append(out, BannedResult{
						Address: ban.Target(), BanCreated: ban.Created.Unix(), BannedUntil: ban.Until.Unix(),
						BanDuration: int64(ban.Until.Sub(ban.Created).Seconds()), TimeRemaining: int64(ban.Until.Sub(now).Seconds()),
						BanReason: ban.Reason,
					})
				}
				return out, nil
			},
		},
		Method{
			Name:     "clearbanned",
			Category: "network",
			Summary:  "Clear all banned peers.",
			Result:   `null    (json null)`,
			Handler: func(context.Context, *Params) (any, error) {
				return nil, n.ClearBanned()
			},
		},
	)
}

// PeerInfoResult is one entry of getpeerinfo.
type PeerInfoResult struct {
	ID             int      `json:"id"`
	PeerID         string   `json:"peerid"`
	Addr           string   `json:"addr"`
	Inbound        bool     `json:"inbound"`
	ConnectionType string   `json:"connection_type"`
	SyncedBlocks   int32    `json:"synced_blocks"`
	Tip            string   `json:"tip,omitempty"`
	PingTime       float64  `json:"pingtime"`
	BytesSent      int64    `json:"bytessent"`
	BytesRecv      int64    `json:"bytesrecv"`
	ConnTime       int64    `json:"conntime"`
	Score          float64  `json:"score"`
	Mesh           []string `json:"mesh"`
}

// NetworkInfoResult is getnetworkinfo's result.
type NetworkInfoResult struct {
	Version         int            `json:"version"`
	Subversion      string         `json:"subversion"`
	ProtocolVersion int            `json:"protocolversion"`
	LocalRelay      bool           `json:"localrelay"`
	NetworkActive   bool           `json:"networkactive"`
	Connections     int            `json:"connections"`
	ConnectionsIn   int            `json:"connections_in"`
	ConnectionsOut  int            `json:"connections_out"`
	RelayFee        Amount         `json:"relayfee"`
	IncrementalFee  Amount         `json:"incrementalfee"`
	LocalAddresses  []LocalAddress `json:"localaddresses"`
	Warnings        string         `json:"warnings"`
}

// LocalAddress is one of the node's dialable addresses.
type LocalAddress struct {
	Address string `json:"address"`
	Score   int    `json:"score"`
}

// BannedResult is one entry of listbanned.
type BannedResult struct {
	Address       string `json:"address"`
	BanCreated    int64  `json:"ban_created"`
	BannedUntil   int64  `json:"banned_until"`
	BanDuration   int64  `json:"ban_duration"`
	TimeRemaining int64  `json:"time_remaining"`
	BanReason     string `json:"ban_reason"`
}
