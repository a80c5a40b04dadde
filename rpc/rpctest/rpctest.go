// Package rpctest starts JSON-RPC servers for the tests of the packages built on
// the rpc framework (the client, the node's methods), so that each does not
// carry its own copy of the start-and-stop dance.
package rpctest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/quarrychain/quarry/rpc"
)

// StartServer starts a server of reg and stops it when the test ends. Unset
// fields of cfg default to a free loopback port, a cookie file in a temporary
// directory and a logger writing to the test's output. It returns the server
// and the path of its cookie file.
func StartServer(t testing.TB, reg *rpc.Registry, cfg rpc.Config) (srv *rpc.Server, cookiePath string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = filepath.Join(t.TempDir(), ".cookie")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	srv, err := rpc.NewServer(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stop RPC server: %v", err)
		}
	})
	return srv, cfg.CookiePath
}
