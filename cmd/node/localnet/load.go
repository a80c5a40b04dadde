package localnet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/wallet"
)

const (
	// minLoadCoin is the smallest output the load spends: each of its
	// transactions splits one output in two halves, and both must stay far
	// above the dust limit after the fee (a few hundred base units).
	minLoadCoin = 20 * wallet.DustLimit
	// halfFeeAllowance is taken off the half paid, so that the change keeps
	// enough for the fee.
	halfFeeAllowance = 1000
	// loadFeeRate is the wallet CLI's default, twice the minimum relay fee.
	loadFeeRate = 2
	// DefaultTxRate is the rate the load starts at, in transactions per
	// second, unless Options.TxRate says otherwise; + and - double and
	// halve it, between MinTxRate and MaxTxRate.
	DefaultTxRate = 1.0
	MinTxRate     = 0.125
	MaxTxRate     = 1000
)

// errNoCoin is the load waiting for a block: it has spent every coin the
// mempool takes spends of, and the next block confirms more (or matures a
// coinbase). It is no failure.
var errNoCoin = errors.New("waiting for a block: no coin the mempool would take a spend of")

// loadCoin is an output the load may spend. An unconfirmed one belongs to
// the tree of the load's transactions that grew from the spend of a
// confirmed output, root: the mempool takes at most DescendantLimit
// transactions in one such tree (the root's descendants, itself included),
// and so no more than AncestorLimit in a chain either.
type loadCoin struct {
	utxo  wallet.UTXO
	depth int // unconfirmed transactions the coin hangs from; 0 when confirmed
	root  chain.OutPoint
}

// txLoad sends a steady stream of transactions from the payout wallet: each
// splits one of the wallet's outputs into two halves paid back to the same
// address, so the load costs only fees and one coinbase feeds a great many.
// It spends mature coinbases and its own outputs, the unconfirmed ones too,
// the fewest ancestors first, so its transactions form a wide tree within the
// mempool's limit of unconfirmed ancestors. It sends to the first running
// node, whose relay spreads them.
type txLoad struct {
	net      network
	key      *secp256k1.PrivateKey
	pkh      [chain.PubKeyHashSize]byte
	address  string
	maturity int32

	mu      sync.Mutex
	on      bool
	rate    float64
	sent    int
	failed  int
	lastErr string
	waiting bool          // for a block, as errNoCoin says
	changed chan struct{} // wakes run when on or rate change
	tipSeen string
	coins   []loadCoin
	spent   map[chain.OutPoint]bool
	ours    map[chain.Hash]bool    // the load's transactions, whose outputs need no coinbase maturity
	trees   map[chain.OutPoint]int // unconfirmed transactions in each tree, by root
}

// newTxLoad makes the load of the wallet's key that pays to address. The
// wallet is opened only to read that key: the file stays free for the
// user's own wallet commands.
func newTxLoad(net network, params *chain.Params, walletFile, pass, address string, rate float64) (*txLoad, error) {
	w, err := wallet.Open(walletFile, params, []byte(pass))
	if err != nil {
		return nil, fmt.Errorf("open the payout wallet: %w", err)
	}
	defer w.Close()
	keys, err := w.Keys()
	if err != nil {
		return nil, fmt.Errorf("the payout wallet's keys: %w", err)
	}
	for _, k := range keys {
		if k.Address == address {
			// A copy: closing the wallet wipes its keys.
			key := secp256k1.PrivKeyFromBytes(k.PrivKey.Serialize())
			return &txLoad{net: net, key: key, pkh: k.PubKeyHash, address: address,
				maturity: params.CoinbaseMaturity, rate: min(MaxTxRate, max(MinTxRate, rate)), changed: make(chan struct{}, 1),
				spent: map[chain.OutPoint]bool{}, ours: map[chain.Hash]bool{}, trees: map[chain.OutPoint]int{}}, nil
		}
	}
	return nil, fmt.Errorf("the wallet %s has no key for %s", walletFile, address)
}

// PrivateKey makes txLoad the wallet.KeySource of its one key.
func (l *txLoad) PrivateKey(pkh [chain.PubKeyHashSize]byte) (*secp256k1.PrivateKey, bool) {
	return l.key, pkh == l.pkh
}

func (l *txLoad) toggle() string {
	l.mu.Lock()
	l.on = !l.on
	l.mu.Unlock()
	l.wake()
	return l.String()
}

func (l *txLoad) scale(f float64) string {
	l.mu.Lock()
	l.rate = min(MaxTxRate, max(MinTxRate, l.rate*f))
	l.mu.Unlock()
	l.wake()
	return l.String()
}

func (l *txLoad) wake() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// String is the load's line under the table.
func (l *txLoad) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	state := "off"
	if l.on {
		state = "on"
	}
	s := fmt.Sprintf("Tx load: %s at %s tx/s, %d sent, %d failed", state, strconv.FormatFloat(l.rate, 'g', 4, 64), l.sent, l.failed)
	if l.lastErr != "" {
		s += " (last failure: " + l.lastErr + ")"
	}
	if l.on && l.waiting {
		s += "; " + errNoCoin.Error() + " (coinbases mature after " + strconv.Itoa(int(l.maturity)) + " blocks)"
	}
	return s
}

// run sends while the load is on, until ctx ends.
func (l *txLoad) run(ctx context.Context) {
	for {
		l.mu.Lock()
		on, rate := l.on, l.rate
		l.mu.Unlock()
		var tick <-chan time.Time
		if on {
			tick = time.After(time.Duration(float64(time.Second) / rate))
		}
		select {
		case <-ctx.Done():
			return
		case <-l.changed:
			continue
		case <-tick:
		}
		callCtx, cancel := context.WithTimeout(ctx, statusTimeout)
		err := l.sendOne(callCtx)
		cancel()
		if ctx.Err() != nil {
			return // the send was cut short, not failed
		}
		l.mu.Lock()
		switch {
		case errors.Is(err, errNoCoin):
			l.waiting = true
		case err != nil:
			l.failed++
			l.lastErr = oneLine(err)
		default:
			l.sent++
			l.waiting = false
		}
		l.mu.Unlock()
	}
}

// sendOne sends one transaction to the first running node.
func (l *txLoad) sendOne(ctx context.Context) error {
	node := -1
	for i := range l.net.Nodes() {
		if l.net.Running(i) {
			node = i
			break
		}
	}
	if node < 0 {
		return errors.New("no node is running")
	}
	if err := l.refill(ctx, node); err != nil {
		return err
	}
	coin, ok := l.pick()
	if !ok {
		return errNoCoin
	}
	send, err := wallet.BuildSend(&wallet.SendRequest{
		UTXOs: []wallet.UTXO{coin.utxo}, Payments: []wallet.Payment{{To: l.pkh, Amount: coin.utxo.Value/2 - halfFeeAllowance}}, FeeRate: loadFeeRate,
		Change: l.pkh, Keys: l, CoinbaseMaturity: l.maturity,
	})
	if err != nil {
		return err
	}
	if err := l.net.Call(ctx, node, "sendrawtransaction", []any{hex.EncodeToString(send.Tx.Encode())}, nil); err != nil {
		return fmt.Errorf("sendrawtransaction: %w", err)
	}
	txid := send.Tx.TxID()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ours[txid] = true
	for i, out := range send.Tx.Outputs {
		l.coins = append(l.coins, loadCoin{depth: coin.depth + 1, root: coin.root, utxo: wallet.UTXO{
			OutPoint: chain.OutPoint{TxID: txid, Index: uint32(i)}, Value: out.Value, PubKeyHash: out.PubKeyHash, OwnChange: true}})
	}
	return nil
}

// pick takes the coin with the fewest unconfirmed ancestors, confirmed ones
// first, from a tree the mempool still has room in.
func (l *txLoad) pick() (loadCoin, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	best := -1
	for i, c := range l.coins {
		roomy := c.depth == 0 || l.trees[c.root] < mempool.DescendantLimit
		if roomy && c.utxo.Value >= minLoadCoin && (best < 0 || c.depth < l.coins[best].depth) {
			best = i
		}
	}
	if best < 0 {
		return loadCoin{}, false
	}
	c := l.coins[best]
	l.coins = append(l.coins[:best], l.coins[best+1:]...)
	l.spent[c.utxo.OutPoint] = true
	if c.depth == 0 {
		c.root = c.utxo.OutPoint
	}
	l.trees[c.root]++
	return c, true
}

// refill reloads the confirmed coins from the node's address index at each
// new tip; between tips the load lives on the outputs of its own
// transactions.
func (l *txLoad) refill(ctx context.Context, node int) error {
	var tip string
	if err := l.net.Call(ctx, node, "getbestblockhash", nil, &tip); err != nil {
		return fmt.Errorf("getbestblockhash: %w", err)
	}
	l.mu.Lock()
	same := tip == l.tipSeen
	l.mu.Unlock()
	if same {
		return nil
	}
	var info struct {
		Blocks int32 `json:"blocks"`
	}
	if err := l.net.Call(ctx, node, "getblockchaininfo", nil, &info); err != nil {
		return fmt.Errorf("getblockchaininfo: %w", err)
	}
	var utxos []struct {
		TxID        chain.Hash `json:"txid"`
		OutputIndex uint32     `json:"outputIndex"`
		Satoshis    uint64     `json:"satoshis"`
		Height      int32      `json:"height"`
	}
	if err := l.net.Call(ctx, node, "getaddressutxos", []any{map[string][]string{"addresses": {l.address}}}, &utxos); err != nil {
		return fmt.Errorf("getaddressutxos: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	listed := map[chain.OutPoint]bool{}
	var coins []loadCoin
	for _, u := range utxos {
		op := chain.OutPoint{TxID: u.TxID, Index: u.OutputIndex}
		listed[op] = true
		// The index does not say which outputs are coinbases: all but the
		// load's own wait for coinbase maturity, which is safe.
		mature := l.ours[u.TxID] || info.Blocks-u.Height+1 >= l.maturity
		if l.spent[op] || !mature {
			continue
		}
		coins = append(coins, loadCoin{utxo: wallet.UTXO{OutPoint: op, Value: u.Satoshis, PubKeyHash: l.pkh, Confirmations: 1}})
	}
	// Unconfirmed coins of the load stay; their depth is at most what it was.
	for _, c := range l.coins {
		if c.depth > 0 && !listed[c.utxo.OutPoint] {
			coins = append(coins, c)
		}
	}
	// Forget spends the node no longer lists: they are confirmed.
	for op := range l.spent {
		if !listed[op] {
			delete(l.spent, op)
		}
	}
	// Remember only the load's transactions that still have coins.
	ours := map[chain.Hash]bool{}
	for _, c := range coins {
		if l.ours[c.utxo.OutPoint.TxID] {
			ours[c.utxo.OutPoint.TxID] = true
		}
	}
	// The trees of confirmed transactions are gone from the mempool.
	trees := map[chain.OutPoint]int{}
	for _, c := range coins {
		if c.depth > 0 {
			trees[c.root] = l.trees[c.root]
		}
	}
	l.coins, l.tipSeen, l.ours, l.trees = coins, tip, ours, trees
	return nil
}
