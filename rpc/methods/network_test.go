package methods

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/p2p"
	"github.com/quarrychain/quarry/rpc"
)

// fakeNetwork is a P2P node of fixed peers and bans that records what the
// network methods ask of it.
type fakeNetwork struct {
	services p2p.ServiceFlags
	peers    []p2p.PeerInfo
	bans     []p2p.Ban
	kept     []string // AddPeer'd addresses
	calls    []string // "add ADDR", "remove ADDR", "onetry ADDR", "disconnect T", "ban T D", "unban T", "clear"
}

func (n *fakeNetwork) Peers() []p2p.PeerInfo { return n.peers }
func (n *fakeNetwork) ConnectionCount() int  { return len(n.peers) }
func (n *fakeNetwork) LocalAddrs() []string {
	return []string{"/ip4/127.0.0.1/tcp/18544/p2p/12D3KooWLocal"}
}

func (n *fakeNetwork) LocalServices() p2p.ServiceFlags { return n.services }

func (n *fakeNetwork) AddPeer(addr string) error {
	n.calls = append(n.calls, "add "+addr)
	if slices.Contains(n.kept, addr) {
		return fmt.Errorf("%s: %w", addr, p2p.ErrAlreadyAdded)
	}
	n.kept = append(n.kept, addr)
	return nil
}

func (n *fakeNetwork) RemovePeer(addr string) error {
	n.calls = append(n.calls, "remove "+addr)
	i := slices.Index(n.kept, addr)
	if i < 0 {
		return fmt.Errorf("%s: %w", addr, p2p.ErrNotAdded)
	}
	n.kept = slices.Delete(n.kept, i, i+1)
	return nil
}

func (n *fakeNetwork) DialOnce(addr string) error {
	n.calls = append(n.calls, "onetry "+addr)
	if addr == "garbage" {
		return errors.New(`peer address "garbage": bad multiaddr`)
	}
	return nil
}

func (n *fakeNetwork) DisconnectNode(target string) error {
	n.calls = append(n.calls, "disconnect "+target)
	if !slices.ContainsFunc(n.peers, func(p p2p.PeerInfo) bool { return p.ID == target }) {
		return p2p.ErrNotConnected
	}
	return nil
}

func (n *fakeNetwork) SetBan(target string, d time.Duration, reason string) error {
	n.calls = append(n.calls, fmt.Sprintf("ban %s %v %s", target, d.Round(time.Hour), reason))
	if target == "garbage" {
		return errors.New("not an address")
	}
	return nil
}

func (n *fakeNetwork) Unban(target string) error {
	n.calls = append(n.calls, "unban "+target)
	if !slices.ContainsFunc(n.bans, func(b p2p.Ban) bool { return b.Target() == target }) {
		return fmt.Errorf("%s: %w", target, p2p.ErrNotBanned)
	}
	return nil
}

func (n *fakeNetwork) ListBanned() []p2p.Ban { return n.bans }

func (n *fakeNetwork) ClearBanned() error {
	n.calls = append(n.calls, "clear")
	n.bans = nil
	return nil
}

// newNetworkRegistry registers the network methods on net, with a relay fee
// of 2 units per byte.
func newNetworkRegistry(net *fakeNetwork) *rpc.Registry {
	reg := rpc.NewRegistry()
	RegisterNetwork(reg, NetworkBackend{Net: net, RelayFee: 2})
	return reg
}

func callJSON(t *testing.T, reg *rpc.Registry, method string, params, out any) {
	t.Helper()
	raw, err := reg.Call(t.Context(), method, params)
	if err != nil {
		t.Fatalf("%s %v: %v", method, params, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: decode %s: %v", method, raw, err)
	}
}

func TestNetworkPeerMethods(t *testing.T) {
	connected := time.Unix(1_700_000_000, 0)
	net := &fakeNetwork{services: p2p.NodeNetworkLimited, peers: []p2p.PeerInfo{
		{ID: "peerA", Addr: "/ip4/10.0.0.1/tcp/1/p2p/peerA", Persistent: true, Height: 7, Tip: chain.Hash{7},
			Services: p2p.NodeNetwork | p2p.NodeNetworkLimited, SyncVersion: 2,
			PingRTT: 1500 * time.Millisecond, BytesSent: 10, BytesRecv: 20, ConnectedAt: connected, GossipScore: 0.5, Mesh: []string{"blocks"}},
		{ID: "peerB", Addr: "/ip4/10.0.0.2/tcp/1/p2p/peerB", Inbound: true, Height: -1},
		{ID: "peerC", Addr: "/ip4/10.0.0.3/tcp/1/p2p/peerC", Height: 0},
	}}
	reg := newNetworkRegistry(net)

	var count int
	callJSON(t, reg, "getconnectioncount", nil, &count)
	if count != 3 {
		t.Errorf("getconnectioncount = %d, want 3", count)
	}

	var peers []PeerInfoResult
	callJSON(t, reg, "getpeerinfo", nil, &peers)
	want := []PeerInfoResult{
		{ID: 0, PeerID: "peerA", Addr: net.peers[0].Addr, Services: "0000000000000401", ServicesNames: []string{"NETWORK", "NETWORK_LIMITED"}, Version: 2,
			ConnectionType: "manual", SyncedBlocks: 7, Tip: chain.Hash{7}.String(),
			PingTime: 1.5, BytesSent: 10, BytesRecv: 20, ConnTime: connected.Unix(), Score: 0.5, Mesh: []string{"blocks"}},
		{ID: 1, PeerID: "peerB", Addr: net.peers[1].Addr, Services: "0000000000000000", ServicesNames: []string{},
			Inbound: true, ConnectionType: "inbound", SyncedBlocks: -1,
			ConnTime: time.Time{}.Unix(), Mesh: []string{}},
		{ID: 2, PeerID: "peerC", Addr: net.peers[2].Addr, Services: "0000000000000000", ServicesNames: []string{},
			ConnectionType: "outbound-full-relay", Tip: chain.Hash{}.String(),
			ConnTime: time.Time{}.Unix(), Mesh: []string{}},
	}
	for i := range want {
		if i >= len(peers) || !equalJSON(t, peers[i], want[i]) {
			t.Errorf("getpeerinfo[%d] = %+v, want %+v", i, peers, want[i])
		}
	}

	var info NetworkInfoResult
	callJSON(t, reg, "getnetworkinfo", nil, &info)
	if info.Connections != 3 || info.ConnectionsIn != 1 || info.ConnectionsOut != 2 || info.RelayFee != 2000 ||
		info.IncrementalFee != 2000 || info.Subversion != NodeSubversion || info.ProtocolVersion != 2 || len(info.LocalAddresses) != 1 ||
		info.LocalAddresses[0] != (LocalAddress{Address: "/ip4/127.0.0.1/tcp/18544/p2p/12D3KooWLocal", Score: 1}) ||
		info.LocalServices != "0000000000000400" || !slices.Equal(info.LocalServicesNames, []string{"NETWORK_LIMITED"}) {
		t.Errorf("getnetworkinfo = %+v", info)
	}
}

// equalJSON compares two values by their JSON, as a caller sees them.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestAddNode checks that Core's addnode commands reach the typed p2p calls
// and that p2p's errors come back with Core's codes.
func TestAddNode(t *testing.T) {
	const addr = "/ip4/10.0.0.9/tcp/1/p2p/peerZ"
	net := &fakeNetwork{}
	reg := newNetworkRegistry(net)
	for _, command := range []string{"add", "onetry", "remove"} {
		if _, err := reg.Call(t.Context(), "addnode", []any{addr, command}); err != nil {
			t.Errorf("addnode %s: %v", command, err)
		}
	}
	if want := []string{"add " + addr, "onetry " + addr, "remove " + addr}; !slices.Equal(net.calls, want) {
		t.Errorf("calls %q, want %q", net.calls, want)
	}
	net.kept = []string{addr}
	expectErr(t, reg, "addnode", []any{addr, "add"}, rpc.CodeClientNodeAlreadyAdded, "Error: Node already added")
	expectErr(t, reg, "addnode", []any{"/ip4/10.0.0.8/tcp/1/p2p/peerY", "remove"}, rpc.CodeClientNodeNotAdded,
		"Error: Node could not be removed. It has not been added previously.")
	expectErr(t, reg, "addnode", []any{"garbage", "onetry"}, rpc.CodeInvalidParameter, `peer address "garbage"`)
	calls := len(net.calls)
	expectErr(t, reg, "addnode", []any{addr, "sometimes"}, rpc.CodeInvalidParameter, "command must be one of 'add', 'remove' or 'onetry'")
	if len(net.calls) != calls {
		t.Errorf("a bad command reached the network: %q", net.calls[calls:])
	}
}

func TestDisconnectNode(t *testing.T) {
	net := &fakeNetwork{peers: []p2p.PeerInfo{{ID: "peerA"}, {ID: "peerB"}}}
	reg := newNetworkRegistry(net)
	if _, err := reg.Call(t.Context(), "disconnectnode", map[string]any{"nodeid": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Call(t.Context(), "disconnectnode", []any{"peerA"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"disconnect peerB", "disconnect peerA"}; !slices.Equal(net.calls, want) {
		t.Errorf("calls %q, want %q", net.calls, want)
	}
	expectErr(t, reg, "disconnectnode", map[string]any{"nodeid": 2}, rpc.CodeClientNodeNotConnected, "Node not found in connected nodes")
	expectErr(t, reg, "disconnectnode", []any{"peerQ"}, rpc.CodeClientNodeNotConnected, "Node not found in connected nodes")
	expectErr(t, reg, "disconnectnode", []any{"peerA", 0}, rpc.CodeInvalidParameter, "Only one of address and nodeid should be provided.")
	expectErr(t, reg, "disconnectnode", nil, rpc.CodeInvalidParameter, "Need an address or a nodeid")
}

func TestBanMethods(t *testing.T) {
	subnet := netip.MustParsePrefix("192.168.0.0/24")
	created := time.Now().Add(-time.Hour)
	net := &fakeNetwork{bans: []p2p.Ban{{Subnet: subnet, Created: created, Until: created.Add(3 * time.Hour), Reason: "manually added"}}}
	reg := newNetworkRegistry(net)

	for _, params := range [][]any{
		{"192.168.0.0/24", "add"},                                    // 0: the default day
		{"10.0.0.1", "add", 7200},                                    // two hours
		{"peerA", "add", time.Now().Add(5 * time.Hour).Unix(), true}, // until a time
	} {
		if _, err := reg.Call(t.Context(), "setban", params); err != nil {
			t.Errorf("setban %v: %v", params, err)
		}
	}
	want := []string{"ban 192.168.0.0/24 24h0m0s manually added", "ban 10.0.0.1 2h0m0s manually added", "ban peerA 5h0m0s manually added"}
	if !slices.Equal(net.calls, want) {
		t.Errorf("calls %q, want %q", net.calls, want)
	}
	expectErr(t, reg, "setban", []any{"garbage", "add"}, rpc.CodeClientInvalidIPOrSubnet, "Error: Invalid IP/Subnet or peer id")
	expectErr(t, reg, "setban", []any{"10.0.0.1", "remove"}, rpc.CodeClientInvalidIPOrSubnet, "Error: Unban failed.")
	expectErr(t, reg, "setban", []any{"10.0.0.1", "forget"}, rpc.CodeInvalidParameter, "command must be 'add' or 'remove'")
	if _, err := reg.Call(t.Context(), "setban", []any{"192.168.0.0/24", "remove"}); err != nil {
		t.Errorf("unban of a banned subnet: %v", err)
	}

	var banned []BannedResult
	callJSON(t, reg, "listbanned", nil, &banned)
	if len(banned) != 1 || banned[0].Address != "192.168.0.0/24" || banned[0].BanDuration != 3*3600 ||
		banned[0].BanCreated != created.Unix() || banned[0].TimeRemaining < 2*3600-60 || banned[0].BanReason != "manually added" {
		t.Errorf("listbanned = %+v", banned)
	}
	if _, err := reg.Call(t.Context(), "clearbanned", nil); err != nil || net.calls[len(net.calls)-1] != "clear" {
		t.Errorf("clearbanned: %v, calls %q", err, net.calls)
	}
	callJSON(t, reg, "listbanned", nil, &banned)
	if len(banned) != 0 {
		t.Errorf("listbanned after clearbanned = %+v", banned)
	}
}
