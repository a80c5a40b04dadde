//go:build unix

package testnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/quarrychain/quarry/chain"
)

// ScreenshotsEnv names the directory the browser test writes its screenshots
// to; unset, they go to the test's temporary directory.
const ScreenshotsEnv = "QUARRY_SCREENSHOTS"

// chromiumPath finds Debian's chromium. Outside CI a machine without it skips
// the browser test; in CI (.ci/run installs it) its absence is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// browser is one headless chromium, with the console errors, uncaught
// exceptions and browser-log errors (CSP violations, failed loads) of every
// page it loads.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	bctx, cancel := chromedp.NewContext(alloc)
	b := &browser{ctx: bctx}
	messages := chromedp.Console(bctx)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s:%d %s", m.URL, m.Line+1, m.Text))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-collected
	})
	return b
}

func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](t *testing.T, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitLeave waits until the tab has left url and loaded the next page, and
// returns where it is. It asks again while the navigation swaps documents,
// when the page cannot answer.
func (b *browser) waitLeave(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		if err == nil && loc != url {
			if err := chromedp.Do(b.ctx, chromedp.WaitVisible(chromedp.CSS("footer"))); err == nil {
				return loc
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("still at %s (%v)", loc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) text(t *testing.T, css string) string {
	t.Helper()
	return run(t, b, "text of "+css, chromedp.Text(chromedp.CSS(css)))
}

// The explorer of a 3-node testnet, in a real browser: the dashboard shows
// the height the nodes agree on, a block mined meanwhile appears without a
// reload, search by txid and by address lands on their pages, and no page
// logs an error. Screenshots of the main pages at laptop and phone widths go
// to $QUARRY_SCREENSHOTS (or the test's temporary directory).
func TestE2EExplorerInBrowser(t *testing.T) {
	skipE2E(t)
	chromiumPath(t)
	tn := New(t, Options{Nodes: 3, Topology: Line})
	ctx := testCtx(t, 4*time.Minute)
	miner, viewer := tn.Node(0), tn.Node(1)

	// Block 105 confirms two coinbase spends; three more wait in the mempool.
	generate(t, ctx, miner, 104)
	var txids []string
	for h := 1; h <= 5; h++ {
		raw, txid := spendCoinbase(t, ctx, miner, h, uint64(1500*h))
		if err := miner.Call(ctx, "sendrawtransaction", []any{raw}, nil); err != nil {
			t.Fatal(err)
		}
		txids = append(txids, txid)
		if h == 2 {
			generate(t, ctx, miner, 1)
		}
	}
	if _, err := tn.WaitForTip(ctx, 105); err != nil {
		t.Fatal(err)
	}
	if err := WaitForTx(ctx, txids[4], viewer); err != nil {
		t.Fatal(err)
	}
	var block105 string
	if err := viewer.Call(ctx, "getblockhash", []any{105}, &block105); err != nil {
		t.Fatal(err)
	}
	addr := e2eAddress(chain.RegtestParams)
	web := strings.TrimSuffix(viewer.WebURL(), "/")

	b := newBrowser(t, ctx)
	b.do(t, "dashboard",
		chromedp.EmulateViewport(1366, 900),
		chromedp.Navigate(web+"/"),
		chromedp.WaitVisible(chromedp.CSS("#tip-height")),
	)
	if height := b.text(t, "#tip-height"); height != "105" {
		t.Errorf("dashboard height %q, want 105", height)
	}
	run(t, b, "event stream open",
		chromedp.Poll[bool](`document.getElementById("live-status").textContent.includes("live")`, chromedp.WithPollingTimeout(20*time.Second)))
	run(t, b, "mark the page", chromedp.Evaluate[string](`window.quarryMarker = "unchanged"`))

	hashes := generate(t, ctx, miner, 1)
	run(t, b, "live update",
		chromedp.Poll[bool](`document.getElementById("tip-height").textContent === "106"`, chromedp.WithPollingTimeout(30*time.Second)))
	if marker := run(t, b, "read the mark", chromedp.Evaluate[string](`window.quarryMarker`)); marker != "unchanged" {
		t.Error("the page reloaded for the new block")
	}
	if tip := b.text(t, "#tip-hash"); tip != hashes[0] {
		t.Errorf("dashboard tip %q after the update, want %s", tip, hashes[0])
	}
	// Something in the mempool for its page and the fee-rate chart.
	for h := 6; h <= 7; h++ {
		raw, txid := spendCoinbase(t, ctx, miner, h, uint64(4000*h))
		if err := miner.Call(ctx, "sendrawtransaction", []any{raw}, nil); err != nil {
			t.Fatal(err)
		}
		txids = append(txids, txid)
	}
	if err := WaitForTx(ctx, txids[len(txids)-1], viewer); err != nil {
		t.Fatal(err)
	}

	for _, q := range []struct{ query, path string }{
		{txids[0], "/tx/" + txids[0]},
		{txids[4], "/tx/" + txids[4]},
		{addr, "/address/" + addr},
		{"105", "/block/" + block105},
	} {
		b.do(t, "search "+q.query,
			chromedp.Navigate(web+"/blocks"),
			chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), q.query),
			chromedp.Submit(chromedp.CSS(`form.search`)),
		)
		loc := b.waitLeave(t, web+"/blocks")
		body := b.text(t, "main")
		if !strings.HasSuffix(loc, q.path) {
			t.Errorf("search %s landed on %s, want %s", q.query, loc, q.path)
		}
		if !strings.Contains(body, strings.TrimPrefix(q.path[strings.LastIndexByte(q.path, '/'):], "/")) {
			t.Errorf("page %s does not show what was searched", loc)
		}
	}

	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pages := []struct{ name, path string }{
		{"dashboard", "/"}, {"blocks", "/blocks"}, {"block", "/block/" + block105}, {"tx", "/tx/" + txids[0]},
		{"address", "/address/" + addr}, {"mempool", "/mempool"}, {"peers", "/peers"},
	}
	for _, size := range []struct {
		name string
		w, h int64
		opts []chromedp.EmulateViewportOption
	}{
		{"laptop", 1366, 900, nil},
		{"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile}},
	} {
		for _, p := range pages {
			b.do(t, "open "+p.name,
				chromedp.EmulateViewport(size.w, size.h, size.opts...),
				chromedp.Navigate(web+p.path),
				chromedp.WaitVisible(chromedp.CSS(`footer`)),
			)
			png := run(t, b, "screenshot "+p.name, chromedp.FullScreenshot(100))
			if err := os.WriteFile(filepath.Join(dir, p.name+"-"+size.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("screenshots in %s", dir)

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		t.Errorf("browser: %s", e)
	}
}
