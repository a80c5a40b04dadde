package testnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// multistreamHeader is what a libp2p listener writes first on a connection it
// accepts: the multistream-select protocol id, length-prefixed.
const multistreamHeader = "\x13/multistream/1.0.0\n"

// TestNamespacesBanSubnet runs three node processes, each in its own network
// namespace with its own address, and has A ban C's address with setban: C's
// connections are refused at accept, even under a fresh identity, while B's
// are taken; lifting the ban lets C in. It also shows libp2p's limit of eight
// concurrent connections per IPv4 address, which loopback is exempt from.
func TestNamespacesBanSubnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	n := New(t, Options{Nodes: 3, Topology: Isolated, Namespaces: true, LogLevel: "info"})
	a, b, c := n.Node(0), n.Node(1), n.Node(2)
	aP2P := net.JoinHostPort(a.Host(), strconv.Itoa(a.P2PPort()))
	aAddr, err := a.Multiaddr(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("per-address limit", func(t *testing.T) {
		// Connections that never finish their handshake hold A's accept
		// slots for up to 15 s (libp2p's accept timeout), long enough here.
		var held []net.Conn
		defer func() {
			for _, conn := range held {
				conn.Close()
			}
		}()
		for range perAddressConnLimit {
			held = append(held, openAnswered(ctx, t, c, aP2P))
		}
		if err := refused(ctx, c, aP2P); err != nil {
			t.Fatalf("connection %d from %s: %v", perAddressConnLimit+1, c.Host(), err)
		}
		// The limit is per address: B's connection is taken meanwhile.
		openAnswered(ctx, t, b, aP2P).Close()
		for _, conn := range held {
			conn.Close()
		}
		held = nil
		// Closed connections free their slots.
		waitAnswered(ctx, t, c, aP2P)
	})

	if err := a.Call(ctx, "setban", []any{c.Host() + "/32", "add"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := refused(ctx, c, aP2P); err != nil {
		t.Fatalf("after setban %s/32: %v", c.Host(), err)
	}
	openAnswered(ctx, t, b, aP2P).Close()

	// A fresh identity does not help: the ban is on the address.
	oldAddr, err := c.Multiaddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(c.NetworkDir(), "p2p.key")); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	newAddr, err := c.Multiaddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if peerID(newAddr) == peerID(oldAddr) {
		t.Fatalf("C kept its peer id %s after its key was deleted", peerID(newAddr))
	}
	logStart := fileSize(c.StderrFile())
	if err := c.Call(ctx, "addnode", []any{aAddr, "onetry"}, nil); err != nil {
		t.Fatal(err)
	}
	failed, err := waitForLog(ctx, c.StderrFile(), logStart, "one-time dial failed")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("C's dial of A: %s", failed)
	if err := n.Reconnect(ctx, 1, 0); err != nil {
		t.Fatalf("B, on another address, cannot connect to A: %v", err)
	}
	for _, pair := range [][2]*Node{{a, c}, {c, a}} {
		peers, err := pair[0].peerIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		other, err := pair[1].Multiaddr(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if peers[peerID(other)] {
			t.Fatalf("%s is connected to %s despite the ban", pair[0], pair[1])
		}
	}

	if err := a.Call(ctx, "setban", []any{c.Host() + "/32", "remove"}, nil); err != nil {
		t.Fatal(err)
	}
	openAnswered(ctx, t, c, aP2P).Close()
	// C's dial loop and libp2p's backoff after the refused dial make this
	// take several seconds.
	if err := n.Reconnect(ctx, 2, 0); err != nil {
		t.Fatalf("C cannot connect to A once the ban is lifted: %v", err)
	}
}

// perAddressConnLimit is libp2p's resource manager's default limit of
// concurrent connections from one IPv4 address (a /32), which the node keeps.
const perAddressConnLimit = 8

// answered opens a TCP connection from node from's namespace and reads what
// the listener says first, failing unless it is the multistream header.
func answered(ctx context.Context, from *Node, addr string) (net.Conn, error) {
	conn, err := from.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(multistreamHeader))
	if _, err := io.ReadFull(conn, got); err != nil {
		conn.Close()
		return nil, errors.New("refused or silent: " + err.Error())
	}
	if string(got) != multistreamHeader {
		conn.Close()
		return nil, errors.New("answered " + strconv.Quote(string(got)))
	}
	return conn, nil
}

func openAnswered(ctx context.Context, t *testing.T, from *Node, addr string) net.Conn {
	t.Helper()
	conn, err := answered(ctx, from, addr)
	if err != nil {
		t.Fatalf("connection from %s (%s) to %s: %v", from, from.Host(), addr, err)
	}
	return conn
}

// waitAnswered retries answered until it succeeds: the listener frees a slot
// only once it has seen the close.
func waitAnswered(ctx context.Context, t *testing.T, from *Node, addr string) {
	t.Helper()
	err := poll(ctx, "connection answered", func(ctx context.Context) (bool, string) {
		conn, err := answered(ctx, from, addr)
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	})
	if err != nil {
		t.Fatal(err)
	}
}

// refused opens a TCP connection from node from's namespace and expects the
// listener to close it without a byte, as libp2p does with a connection its
// gater or resource manager turns away at accept.
func refused(ctx context.Context, from *Node, addr string) error {
	conn, err := from.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	var ne net.Error
	switch {
	case len(got) > 0:
		return errors.New("accepted: the listener answered " + strconv.Quote(string(got)))
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("neither answered nor closed")
	}
	return nil // closed (EOF or reset) without a byte
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// waitForLog waits until the file has a line containing want after offset,
// and returns it.
func waitForLog(ctx context.Context, path string, offset int64, want string) (string, error) {
	var line string
	err := poll(ctx, strconv.Quote(want)+" in "+path, func(context.Context) (bool, string) {
		for l := range strings.Lines(readFrom(path, offset)) {
			if strings.Contains(l, want) {
				line = strings.TrimSpace(l)
				return true, ""
			}
		}
		return false, "not yet"
	})
	return line, err
}
