package localnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/testnet"
)

// liveSession is what the table runs with: the monitor and, when keys are
// read, the controller and the transaction load. It owns their goroutines
// and the terminal's raw mode; close ends them all.
type liveSession struct {
	mon  *monitor
	ctrl *controller // nil without Options.Keys
	keys *keyReader

	ctx    context.Context // the actions' context, cancelled by close
	cancel context.CancelFunc
	loadWG sync.WaitGroup
}

func newLiveSession(ctx context.Context, o Options, tn *testnet.Network, pay payout, mineThreads int) (*liveSession, error) {
	s := &liveSession{mon: newMonitor(tn.Nodes())}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if o.Keys == nil {
		return s, nil
	}
	net := harnessNetwork{tn}
	var notes []string
	load, err := payoutLoad(net, o.Network, pay, o.TxRate)
	if err != nil {
		notes = append(notes, "No tx load: "+oneLine(err))
	}
	onDemand := ""
	if o.Network == Regtest {
		onDemand = pay.address
	}
	s.ctrl = newController(net, mineThreads, onDemand, load)
	s.ctrl.notes = notes
	if s.keys, err = openKeys(o.Keys); err != nil {
		s.cancel()
		return nil, err
	}
	if load != nil {
		s.loadWG.Go(func() { load.run(s.ctx) })
	}
	return s, nil
}

// payoutLoad is the transaction load of the payout wallet.
func payoutLoad(net network, networkName string, pay payout, rate float64) (*txLoad, error) {
	params, err := chain.ParamsByName(networkName)
	if err != nil {
		return nil, err
	}
	pass, err := passphrase(pay.passFile)
	if err != nil {
		return nil, err
	}
	return newTxLoad(net, params, pay.file, pass, pay.address, rate)
}

// close stops the running action and the load, and gives the terminal back.
// Calls after the first do nothing.
func (s *liveSession) close() error {
	s.cancel()
	if s.ctrl != nil {
		s.ctrl.wait()
	}
	s.loadWG.Wait()
	return s.keys.close()
}

// showLive draws the table every o.Refresh, and at once after a key or an
// action's end, until ctx ends or the user quits: in place under the banner
// on a terminal, appended (banner once) otherwise, so that a log of the
// output reads top to bottom. The banner is made again after each action,
// as a restarted node serves its explorer on another port.
func showLive(ctx context.Context, o Options, s *liveSession, makeBanner func() string) {
	banner := makeBanner()
	ansi := isTerminal(o.Stdout)
	out := o.Stdout
	if s.keys.isRaw() {
		out = rawWriter{out}
	}
	if !ansi {
		io.WriteString(out, banner)
	}
	var keys <-chan rune
	var changed <-chan struct{}
	if s.ctrl != nil {
		keys, changed = s.keys.keys, s.ctrl.changed
	}
	tick := time.NewTicker(o.Refresh)
	defer tick.Stop()
	var rows []nodeStatus
	collect := true
	for {
		if collect {
			callCtx, cancel := context.WithTimeout(ctx, statusTimeout)
			rows = s.mon.collect(callCtx)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		var frame bytes.Buffer
		if ansi {
			frame.WriteString("\x1b[H\x1b[2J") // cursor home, clear screen
			frame.WriteString(banner)
		}
		fmt.Fprintf(&frame, "\n%s\n", time.Now().Format("15:04:05"))
		renderTable(&frame, rows)
		if s.ctrl != nil {
			frame.WriteString("\n" + s.ctrl.footer())
		}
		out.Write(frame.Bytes()) // one write per frame, so it never shows half drawn
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			collect = true
		case <-changed:
			collect = true
			if ansi {
				banner = makeBanner()
			}
		case k, ok := <-keys:
			if !ok {
				keys = nil // the input ended; the table goes on
			} else if s.ctrl.handleKey(s.ctx, k) {
				return
			}
			collect = false // show the key's effect on the status line now
		}
	}
}
