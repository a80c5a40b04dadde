package testnet

import (
	"net"
	"testing"
)

func TestFreePortsDistinctAndFree(t *testing.T) {
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || p > 65535 {
			t.Fatalf("port %d out of range", p)
		}
		if seen[p] {
			t.Fatalf("port %d picked twice in %v", p, ports)
		}
		seen[p] = true
		if !PortFree(p) {
			t.Errorf("port %d is not free after FreePorts returned", p)
		}
	}
}

func TestPortFreeSeesListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if PortFree(port) {
		t.Errorf("port %d reported free while listened on", port)
	}
	l.Close()
	if !PortFree(port) {
		t.Errorf("port %d not free after the listener closed", port)
	}
}
