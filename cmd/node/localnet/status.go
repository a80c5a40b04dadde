package localnet

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/quarrychain/quarry/rpc/rpcclient"
	"github.com/quarrychain/quarry/testnet"
)

// nodeStatus is one row of the live table. Negative numbers and an empty tip
// stand for values the node did not give (a method it lacks, say), shown "-".
type nodeStatus struct {
	name         string
	err          error // the node did not answer at all
	height       int64
	tip          string
	difficulty   float64
	hashesPerSec float64
	peers        int
	mempool      int
	interval     time.Duration // between the tip and its parent
	hasInterval  bool
	miner        string // "on" or "off", from getmininginfo's generate
	// forks, deepestReorg and stale come from getchaintips; sync from
	// getblockchaininfo. forks is -1 when the node gave no chain tips.
	forks, deepestReorg, stale int
	sync                       string
}

// chainTip is one entry of getchaintips.
type chainTip struct {
	Height    int64  `json:"height"`
	BranchLen int    `json:"branchlen"`
	Status    string `json:"status"`
}

// forkStats reads getchaintips: every tip off the main chain is a fork the
// node has seen, and its branch holds stale blocks (mined, then left behind).
// A "valid-fork" branch was fully validated, which a node does only to blocks
// it connected to its active chain: the node followed that branch and then
// reorganised away from it, disconnecting branchlen blocks. So the deepest
// reorg is the longest valid-fork branch.
func forkStats(tips []chainTip) (forks, deepestReorg, stale int) {
	for _, t := range tips {
		if t.Status == "active" {
			continue
		}
		forks++
		stale += t.BranchLen
		if t.Status == "valid-fork" {
			deepestReorg = max(deepestReorg, t.BranchLen)
		}
	}
	return forks, deepestReorg, stale
}

// syncState says whether a node is catching up: "ibd" in initial block
// download, "headers+N" while it has N headers without their blocks yet,
// "synced" otherwise.
func syncState(ibd bool, headers, blocks int64) string {
	switch {
	case ibd:
		return "ibd"
	case headers > blocks:
		return "headers+" + strconv.FormatInt(headers-blocks, 10)
	}
	return "synced"
}

// renderTable writes the table of rows, aligned in columns.
func renderTable(w io.Writer, rows []nodeStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHEIGHT\tTIP\tDIFFICULTY\tMINER\tHASHRATE\tPEERS\tMEMPOOL\tLAST BLOCK\tFORKS\tREORG\tSTALE\tSYNC")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\tdown: %v\n", r.name, r.err)
			continue
		}
		interval := "-"
		if r.hasInterval {
			interval = r.interval.String()
		}
		reorg, stale := "-", "-"
		if r.forks >= 0 {
			reorg, stale = strconv.Itoa(r.deepestReorg), strconv.Itoa(r.stale)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.name, orDash(r.height), shortHash(r.tip),
			formatDifficulty(r.difficulty), cmp.Or(r.miner, "-"), formatHashRate(r.hashesPerSec), orDash(int64(r.peers)),
			orDash(int64(r.mempool)), interval, orDash(int64(r.forks)), reorg, stale, cmp.Or(r.sync, "-"))
	}
	return tw.Flush()
}

func orDash(v int64) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

// shortHash keeps both ends of a hash: the start shows the leading zeros
// (the work), the end tells blocks apart.
func shortHash(h string) string {
	switch {
	case h == "":
		return "-"
	case len(h) <= 18:
		return h
	}
	return h[:8] + ".." + h[len(h)-8:]
}

func formatDifficulty(d float64) string {
	if d < 0 {
		return "-"
	}
	return strconv.FormatFloat(d, 'g', 6, 64)
}

func formatHashRate(h float64) string {
	if h < 0 {
		return "-"
	}
	units := []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s"}
	i := 0
	for h >= 1000 && i < len(units)-1 {
		h /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(h, 'f', 0, 64) + " " + units[i]
	}
	return strconv.FormatFloat(h, 'f', 2, 64) + " " + units[i]
}

// monitor collects the live table's rows. It remembers each node's last tip
// and that tip's interval, so the two getblockheader calls are made once per
// block rather than once per refresh.
type monitor struct {
	nodes []*testnet.Node

	mu       sync.Mutex
	lastTip  map[int]string
	interval map[int]time.Duration
}

func newMonitor(nodes []*testnet.Node) *monitor {
	return &monitor{nodes: nodes, lastTip: map[int]string{}, interval: map[int]time.Duration{}}
}

// collect asks every node at once and returns the rows in node order.
func (m *monitor) collect(ctx context.Context) []nodeStatus {
	rows := make([]nodeStatus, len(m.nodes))
	var wg sync.WaitGroup
	for i, n := range m.nodes {
		wg.Go(func() { rows[i] = m.status(ctx, n) })
	}
	wg.Wait()
	return rows
}

func (m *monitor) status(ctx context.Context, n *testnet.Node) nodeStatus {
	s := nodeStatus{name: n.String(), height: -1, difficulty: -1, hashesPerSec: -1, peers: -1, mempool: -1, forks: -1}
	if !n.Running() {
		s.err = fmt.Errorf("not running")
		return s
	}
	var (
		chainInfo struct {
			Blocks        int64   `json:"blocks"`
			BestBlockHash string  `json:"bestblockhash"`
			Difficulty    float64 `json:"difficulty"`
			Headers       int64   `json:"headers"`
			IBD           bool    `json:"initialblockdownload"`
		}
		miningInfo struct {
			HashesPerSec float64 `json:"hashespersec"`
			Generate     bool    `json:"generate"`
		}
		tips        []chainTip
		mempoolInfo struct {
			Size int `json:"size"`
		}
		peers int
	)
	// One batch is one round trip, and its answers come from one moment.
	calls := []rpcclient.BatchCall{
		{Method: "getblockchaininfo", Result: &chainInfo},
		{Method: "getmininginfo", Result: &miningInfo},
		{Method: "getconnectioncount", Result: &peers},
		{Method: "getmempoolinfo", Result: &mempoolInfo},
		{Method: "getchaintips", Result: &tips},
	}
	if err := n.RPC().CallBatch(ctx, calls); err != nil {
		s.err = err
		return s
	}
	if calls[0].Err == nil {
		s.height, s.tip, s.difficulty = chainInfo.Blocks, chainInfo.BestBlockHash, chainInfo.Difficulty
		s.interval, s.hasInterval = m.tipInterval(ctx, n, s.tip)
		s.sync = syncState(chainInfo.IBD, chainInfo.Headers, chainInfo.Blocks)
	}
	if calls[1].Err == nil {
		s.hashesPerSec, s.miner = miningInfo.HashesPerSec, "off"
		if miningInfo.Generate {
			s.miner = "on"
		}
	}
	if calls[2].Err == nil {
		s.peers = peers
	}
	if calls[3].Err == nil {
		s.mempool = mempoolInfo.Size
	}
	if calls[4].Err == nil {
		s.forks, s.deepestReorg, s.stale = forkStats(tips)
	}
	return s
}

// tipInterval is the time between tip and its parent, from their headers.
func (m *monitor) tipInterval(ctx context.Context, n *testnet.Node, tip string) (time.Duration, bool) {
	m.mu.Lock()
	d, known := m.interval[n.Index()]
	same := m.lastTip[n.Index()] == tip
	m.mu.Unlock()
	if same {
		return d, known
	}
	type header struct {
		Time              int64  `json:"time"`
		PreviousBlockHash string `json:"previousblockhash"`
	}
	var h, parent header
	if err := n.Call(ctx, "getblockheader", []any{tip, true}, &h); err != nil || h.PreviousBlockHash == "" {
		return 0, false // the genesis block has no interval; errors are retried at the next refresh
	}
	if err := n.Call(ctx, "getblockheader", []any{h.PreviousBlockHash, true}, &parent); err != nil {
		return 0, false
	}
	d = time.Duration(h.Time-parent.Time) * time.Second
	m.mu.Lock()
	m.lastTip[n.Index()], m.interval[n.Index()] = tip, d
	m.mu.Unlock()
	return d, true
}
