//go:build !linux

package testnet

import (
	"context"
	"errors"
	"net"
)

var errNoNamespaces = errors.New("network namespaces exist only on Linux")

// NamespacesSupported reports why nodes cannot run in network namespaces
// here: they exist only on Linux.
func NamespacesSupported() error { return errNoNamespaces }

type namespaces struct{}

func newNamespaces(context.Context, int) (*namespaces, error) { return nil, errNoNamespaces }

func (*namespaces) close(context.Context) error { return nil }

func (*namespaces) command(_ int, bin string, args []string) (string, []string) { return bin, args }

func (*namespaces) dial(context.Context, int, string, string) (net.Conn, error) {
	return nil, errNoNamespaces
}
