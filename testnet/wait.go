package testnet

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// pollInterval is how often the wait helpers ask the nodes: short enough
	// that a test sees a block within a tenth of a second, long enough that
	// polling a handful of nodes costs them little.
	pollInterval = 75 * time.Millisecond
	// DefaultWaitTimeout bounds a wait whose context has no deadline, so that
	// a test that forgot one fails with what the nodes last showed instead of
	// hanging until the test binary's timeout kills it without a word.
	DefaultWaitTimeout = 60 * time.Second
)

// Caller is what the wait helpers need of a node: a *Node, an *rpcclient.Client,
// or a fake. A Caller that is a fmt.Stringer is named so in errors.
type Caller interface {
	Call(ctx context.Context, method string, params, result any) error
}

// WaitForTip waits until every node has the same best block hash and, when
// minHeight is above zero, a block count of at least minHeight, and returns
// that hash.
func WaitForTip(ctx context.Context, minHeight int64, nodes ...Caller) (string, error) {
	var tip string
	err := poll(ctx, fmt.Sprintf("same tip at height %d or more", minHeight), func(ctx context.Context) (bool, string) {
		hashes := make([]string, len(nodes))
		heights := make([]int64, len(nodes))
		var state []string
		ok := true
		for i, c := range nodes {
			if err := c.Call(ctx, "getbestblockhash", nil, &hashes[i]); err != nil {
				return false, fmt.Sprintf("%s: %v", name(c, i), err)
			}
			desc := fmt.Sprintf("%s: %s", name(c, i), hashes[i])
			if minHeight > 0 {
				if err := c.Call(ctx, "getblockcount", nil, &heights[i]); err != nil {
					return false, fmt.Sprintf("%s: %v", name(c, i), err)
				}
				desc += " at " + strconv.FormatInt(heights[i], 10)
				ok = ok && heights[i] >= minHeight
			}
			ok = ok && hashes[i] == hashes[0]
			state = append(state, desc)
		}
		if ok && len(nodes) > 0 {
			tip = hashes[0]
		}
		return ok, strings.Join(state, "; ")
	})
	return tip, err
}

// WaitForHeight waits until every node's block count is at least height.
func WaitForHeight(ctx context.Context, height int64, nodes ...Caller) error {
	return poll(ctx, fmt.Sprintf("height %d", height), func(ctx context.Context) (bool, string) {
		var state []string
		ok := true
		for i, c := range nodes {
			var h int64
			if err := c.Call(ctx, "getblockcount", nil, &h); err != nil {
				return false, fmt.Sprintf("%s: %v", name(c, i), err)
			}
			ok = ok && h >= height
			state = append(state, fmt.Sprintf("%s: %d", name(c, i), h))
		}
		return ok, strings.Join(state, "; ")
	})
}

// WaitForMempool waits until every node's mempool holds the same transactions
// and returns their txids, sorted. Empty mempools agree too: to wait for a
// transaction to spread, use WaitForTx.
func WaitForMempool(ctx context.Context, nodes ...Caller) ([]string, error) {
	var txids []string
	err := poll(ctx, "same mempool", func(ctx context.Context) (bool, string) {
		var state []string
		var first []string
		ok := true
		for i, c := range nodes {
			var pool []string
			if err := c.Call(ctx, "getrawmempool", nil, &pool); err != nil {
				return false, fmt.Sprintf("%s: %v", name(c, i), err)
			}
			slices.Sort(pool)
			if i == 0 {
				first = pool
			}
			ok = ok && slices.Equal(pool, first)
			state = append(state, fmt.Sprintf("%s: %v", name(c, i), pool))
		}
		if ok {
			txids = first
		}
		return ok, strings.Join(state, "; ")
	})
	return txids, err
}

// WaitForTx waits until txid is in every node's mempool.
func WaitForTx(ctx context.Context, txid string, nodes ...Caller) error {
	return poll(ctx, "transaction "+txid+" in every mempool", func(ctx context.Context) (bool, string) {
		var missing []string
		for i, c := range nodes {
			var pool []string
			if err := c.Call(ctx, "getrawmempool", nil, &pool); err != nil {
				return false, fmt.Sprintf("%s: %v", name(c, i), err)
			}
			if !slices.Contains(pool, txid) {
				missing = append(missing, name(c, i))
			}
		}
		return len(missing) == 0, "missing from " + strings.Join(missing, ", ")
	})
}

// WaitForPeers waits until every node has at least peers connections.
func WaitForPeers(ctx context.Context, peers int, nodes ...Caller) error {
	return poll(ctx, fmt.Sprintf("%d peers", peers), func(ctx context.Context) (bool, string) {
		var state []string
		ok := true
		for i, c := range nodes {
			var n int
			if err := c.Call(ctx, "getconnectioncount", nil, &n); err != nil {
				return false, fmt.Sprintf("%s: %v", name(c, i), err)
			}
			ok = ok && n >= peers
			state = append(state, fmt.Sprintf("%s: %d", name(c, i), n))
		}
		return ok, strings.Join(state, "; ")
	})
}

// poll calls check until it reports done, then every pollInterval, until ctx
// (or DefaultWaitTimeout, when ctx has no deadline) ends. The error says what
// the last check that ran to completion saw, which is what a failing test
// needs to be debugged.
func poll(ctx context.Context, what string, check func(ctx context.Context) (done bool, state string)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWaitTimeout)
		defer cancel()
	}
	start := time.Now()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	state := "nothing yet"
	for {
		done, s := check(ctx)
		if done {
			return nil
		}
		if ctx.Err() == nil {
			state = s
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w after %v; last seen: %s",
				what, ctx.Err(), time.Since(start).Round(time.Millisecond), state)
		case <-tick.C:
		}
	}
}

func name(c Caller, i int) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return "#" + strconv.Itoa(i)
}
