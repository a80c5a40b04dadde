package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/blockchain"
)

// BlockNotifier runs --blocknotify's command for each new tip, as Core's
// -blocknotify does with %s replaced by the block hash, but without a shell:
// the command line is split on spaces and run directly, so a hash can never
// be read as shell syntax. It never holds up the chain: Notify only queues,
// at most MaxRunning commands run at once, each is killed after Timeout, and
// when the queue is full the oldest waiting hash is dropped (a script that
// is told of the newer tip can still read the chain).
type BlockNotifier struct {
	argv    []string
	timeout time.Duration
	log     *slog.Logger

	queue  chan chain.Hash
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ran    func(argv []string, err error) // tests observe runs
}

// Bounds of the command runner.
const (
	notifyWorkers = 4
	notifyQueue   = 32
	// DefaultNotifyTimeout is how long one run of the command may take.
	DefaultNotifyTimeout = time.Minute
)

// NewBlockNotifier starts the runner for command; Close stops it.
func NewBlockNotifier(command string, timeout time.Duration, log *slog.Logger) (*BlockNotifier, error) {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		return nil, errors.New("--blocknotify: empty command")
	}
	// A misspelt command fails the node's start, not every block later.
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("--blocknotify: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultNotifyTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &BlockNotifier{argv: argv, timeout: timeout, log: log, queue: make(chan chain.Hash, notifyQueue), cancel: cancel}
	for range notifyWorkers {
		n.wg.Go(func() { n.work(ctx) })
	}
	return n, nil
}

// ChainEvent queues the command for a block that joined the main chain; the
// node subscribes it to the chain.
func (n *BlockNotifier) ChainEvent(e blockchain.Event) {
	if e.Kind == blockchain.BlockConnected {
		n.Notify(e.Hash)
	}
}

// Notify queues a run for hash without waiting.
func (n *BlockNotifier) Notify(hash chain.Hash) {
	for {
		select {
		case n.queue <- hash:
			return
		default:
		}
		select {
		case dropped := <-n.queue:
			n.log.Warn("blocknotify is falling behind; skipped a block", "hash", dropped)
		default:
		}
	}
}

func (n *BlockNotifier) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case hash := <-n.queue:
			n.run(ctx, hash)
		}
	}
}

func (n *BlockNotifier) run(ctx context.Context, hash chain.Hash) {
	argv := make([]string, len(n.argv))
	for i, a := range n.argv {
		argv[i] = strings.ReplaceAll(a, "%s", hash.String())
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = time.Second
	// Only the start of the output is kept for the log: a command that
	// writes without end must not fill the node's memory.
	out := &headBuffer{max: notifyOutputKept}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if err != nil {
		n.log.Warn("blocknotify command failed", "hash", hash, "err", err, "output", strings.TrimSpace(out.String()))
	}
	if n.ran != nil {
		n.ran(argv, err)
	}
}

// notifyOutputKept is how much of a command's output the log shows.
const notifyOutputKept = 500

// headBuffer keeps the first max bytes written to it and discards the rest,
// still reporting every write whole so the command never sees an error.
type headBuffer struct {
	max int
	buf []byte
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *headBuffer) String() string { return string(b.buf) }

// Close stops the runner, killing commands still running.
func (n *BlockNotifier) Close() {
	n.cancel()
	n.wg.Wait()
}
