package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/rpc/rpcclient"
)

// --web-listen defaults per network (off on main), takes "off", and fills an
// empty host or port.
func TestWebListenConfig(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "main"}, ""},
		{[]string{"--network", "testnet"}, "127.0.0.1:18434"},
		{[]string{"--network", "regtest"}, "127.0.0.1:18545"},
		{[]string{"--network", "regtest", "--web-listen", "off"}, ""},
		{[]string{"--network", "main", "--web-listen", ":"}, "127.0.0.1:8434"},
		{[]string{"--network", "main", "--web-listen", ":9000"}, "127.0.0.1:9000"},
		{[]string{"--network", "testnet", "--web-listen", "0.0.0.0:"}, "0.0.0.0:18434"},
	} {
		cfg, err := loadConfig(append([]string{"--datadir", t.TempDir()}, c.args...), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if cfg.WebListen != c.want {
			t.Errorf("%v: web listen %q, want %q", c.args, cfg.WebListen, c.want)
		}
	}
	if _, err := loadConfig([]string{"--datadir", t.TempDir(), "--web-listen", "nonsense"}, io.Discard); err == nil {
		t.Error("--web-listen nonsense accepted")
	}
}

// A node serves REST, the explorer and events on --web-listen, and runs
// --blocknotify for each block, all wired to its real chain and mempool.
func TestNodeServesWebAndNotifies(t *testing.T) {
	touch, err := exec.LookPath("touch")
	if err != nil {
		t.Skip("no touch command")
	}
	dir, notified := t.TempDir(), t.TempDir()
	cfg, err := loadConfig([]string{"--network", "regtest", "--datadir", dir,
		"--rpc-listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0",
		"--web-listen", "127.0.0.1:0", "--blocknotify", touch + " " + filepath.Join(notified, "%s")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n, err := startNode(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		n.requestStop()
		if err := n.shutdown(); err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + n.web.Addr().String()
	client := rpcclient.NewClient("http://"+n.rpc.Addr().String(), rpcclient.WithCookieFile(filepath.Join(cfg.networkDir(), ".cookie")))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()

	var hashes []string
	if err := client.Call(ctx, "generatetoaddress", []any{2, "rqry1qw508d6qejxtdg4y5r3zarvary0c5xw7kd8r7hw"}, &hashes); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stream.Body)
	for seen := 0; seen < 2 && sc.Scan(); {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev struct{ Hash string }
			json.Unmarshal([]byte(data), &ev)
			if ev.Hash != hashes[seen] {
				t.Errorf("event %d for %s, want %s", seen, ev.Hash, hashes[seen])
			}
			seen++
		}
	}

	resp, err := http.Get(base + "/rest/chaininfo.json")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Blocks        int
		BestBlockHash string
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.Blocks != 2 || info.BestBlockHash != hashes[1] {
		t.Errorf("REST chaininfo %+v, want height 2 at %s", info, hashes[1])
	}
	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), hashes[1]) {
		t.Errorf("dashboard %d does not show the tip %s", resp.StatusCode, hashes[1])
	}
	for _, h := range hashes {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(notified, h)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("blocknotify did not run for %s", h)
			}
		}
	}
}
