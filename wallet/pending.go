package wallet

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/atomicfile"
)

// The node's address index lists confirmed outputs only, so an output the
// wallet spent a moment ago still shows as unspent until a block confirms the
// spend. The wallet therefore keeps the transactions it sent in a file beside
// the wallet file until they are confirmed, or gone from both the mempool and
// the chain, so that it neither counts nor spends those outputs twice.
//
// The file also keeps what the wallet sent when its node lost it, so that the
// wallet can say so. Deleting it loses nothing that the node's address index
// of the mempool (see LoadView) does not find again while the transactions
// wait there.

// pendingVersion 2 added replaces; version 1 files are read as they are.
const pendingVersion = 2

type pendingFile struct {
	Version int             `json:"version"`
	Txs     []pendingRecord `json:"txs"`
}

// pendingRecord is one transaction the wallet sent. The outputs it spends and
// pays are read from Hex, so the file has one source for them.
type pendingRecord struct {
	TxID chain.Hash `json:"txid"`
	Hex  string     `json:"hex"`
	Time int64      `json:"time"` // unix seconds when it was sent
	// Replaces is the send this one replaced (bumpfee).
	Replaces *chain.Hash `json:"replaces,omitempty"`
}

// PendingTx is an unconfirmed transaction that pays to or spends from the
// wallet: one it sent, or one it found waiting in the mempool.
type PendingTx struct {
	TxID chain.Hash
	Tx   *chain.Tx
	// Time is when the wallet sent it (unix seconds); 0 for one it found.
	Time int64
	// Replaces is the wallet's send this one replaced with a higher fee.
	Replaces *chain.Hash
}

// PendingSends is the file of the wallet's unconfirmed sends.
type PendingSends struct {
	path string
}

// PendingSendsFor returns the pending sends file of the wallet file walletPath.
func PendingSendsFor(walletPath string) *PendingSends {
	return &PendingSends{path: walletPath + ".pending.json"}
}

// Path is the file's name.
func (p *PendingSends) Path() string { return p.path }

// Load reads the wallet's unconfirmed sends; no file means none.
func (p *PendingSends) Load() ([]*PendingTx, error) {
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the pending sends: %w", err)
	}
	txs, err := DecodePending(data)
	if err != nil {
		return nil, fmt.Errorf("pending sends file %s is damaged (%w); it only lists unconfirmed sends, which the wallet finds again in the node's mempool, so it is safe to delete", p.path, err)
	}
	return txs, nil
}

// DecodePending decodes the pending sends file.
func DecodePending(data []byte) ([]*PendingTx, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f pendingFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if f.Version != 1 && f.Version != pendingVersion {
		return nil, fmt.Errorf("version %d, want %d", f.Version, pendingVersion)
	}
	txs := make([]*PendingTx, len(f.Txs))
	for i, r := range f.Txs {
		raw, err := hex.DecodeString(r.Hex)
		if err != nil {
			return nil, fmt.Errorf("transaction %s: %w", r.TxID, err)
		}
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			return nil, fmt.Errorf("transaction %s: %w", r.TxID, err)
		}
		if tx.TxID() != r.TxID {
			return nil, fmt.Errorf("transaction %s has txid %s", r.TxID, tx.TxID())
		}
		txs[i] = &PendingTx{TxID: r.TxID, Tx: tx, Time: r.Time, Replaces: r.Replaces}
	}
	return txs, nil
}

// Save replaces the file with txs, or removes it when there are none.
func (p *PendingSends) Save(txs []*PendingTx) error {
	if len(txs) == 0 {
		if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the pending sends file: %w", err)
		}
		return nil
	}
	f := pendingFile{Version: pendingVersion, Txs: make([]pendingRecord, len(txs))}
	for i, t := range txs {
		f.Txs[i] = pendingRecord{TxID: t.TxID, Hex: hex.EncodeToString(t.Tx.Encode()), Time: t.Time, Replaces: t.Replaces}
	}
	data, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(p.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the pending sends: %w", err)
	}
	return nil
}

// ErrInputsGone is wrapped by a Node's refusal of a transaction whose inputs
// are spent (in the chain or by another mempool transaction) or missing: one
// that can never be mined as it is.
var ErrInputsGone = errors.New("inputs spent or missing")

// SyncReport says what Sync found.
type SyncReport struct {
	// Kept are the sends still waiting, rebroadcast ones included.
	Kept []*PendingTx
	// Rebroadcast fell out of the node's mempool (expired, evicted, or
	// lost in a reorganisation) and were handed to it again.
	Rebroadcast []chain.Hash
	// Gone can never be mined: their inputs are spent; the outputs they
	// spent that are still unspent can be spent again.
	Gone []chain.Hash
	// Stuck fell out of the mempool and the node refused them again (say,
	// under a raised minimum fee): kept, with the node's reason; abandon
	// frees their coins.
	Stuck map[chain.Hash]error
}

// Sync follows the wallet's sends: it drops the confirmed ones, hands the
// node again those that fell out of its mempool, and drops those that never
// can be mined. It saves the file when it changed.
func (p *PendingSends) Sync(ctx context.Context, n Node) (*SyncReport, error) {
	txs, err := p.Load()
	if err != nil || len(txs) == 0 {
		return &SyncReport{}, err
	}
	r := &SyncReport{}
	for _, t := range txs {
		waiting, err := n.InMempool(ctx, t.TxID)
		if err != nil {
			return nil, err
		}
		if waiting {
			r.Kept = append(r.Kept, t)
			continue
		}
		// Asked second: a transaction leaving the mempool for a block
		// between the two calls is then found in the chain.
		found, err := n.Transactions(ctx, []chain.Hash{t.TxID})
		if err != nil {
			return nil, err
		}
		if info := found[t.TxID]; info != nil && info.Confirmations > 0 {
			continue
		}
		switch err := n.Broadcast(ctx, t.Tx); {
		case err == nil:
			r.Kept = append(r.Kept, t)
			r.Rebroadcast = append(r.Rebroadcast, t.TxID)
		case errors.Is(err, ErrInputsGone):
			r.Gone = append(r.Gone, t.TxID)
		case errors.Is(err, ErrRefused):
			r.Kept = append(r.Kept, t)
			if r.Stuck == nil {
				r.Stuck = make(map[chain.Hash]error)
			}
			r.Stuck[t.TxID] = err
		default:
			return nil, err
		}
	}
	if len(r.Kept) != len(txs) {
		if err := p.Save(r.Kept); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ErrRefused is wrapped by a Node's refusal of a transaction.
var ErrRefused = errors.New("refused by the node")

// ErrNotAbandonable: abandon is only for a send in neither the mempool nor
// the chain.
var ErrNotAbandonable = errors.New("transaction not eligible for abandonment")

// Abandon forgets a send that is in neither the node's mempool nor its
// chain, and the wallet's sends descending from it, so the outputs they spent
// can be spent again, as Core's abandontransaction. It does not rebroadcast
// anything first.
func (p *PendingSends) Abandon(ctx context.Context, n Node, txid chain.Hash) error {
	txs, err := p.Load()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(txs, func(t *PendingTx) bool { return t.TxID == txid }) {
		return fmt.Errorf("%w: %s is not one of the wallet's unconfirmed sends", ErrNotAbandonable, txid)
	}
	waiting, err := n.InMempool(ctx, txid)
	if err != nil {
		return err
	}
	if waiting {
		return fmt.Errorf("%w: %s waits in the node's mempool (bumpfee replaces it)", ErrNotAbandonable, txid)
	}
	found, err := n.Transactions(ctx, []chain.Hash{txid})
	if err != nil {
		return err
	}
	if info := found[txid]; info != nil && info.Confirmations > 0 {
		return fmt.Errorf("%w: %s is confirmed", ErrNotAbandonable, txid)
	}
	// As Core's abandontransaction, the wallet's sends spending its outputs,
	// directly or not, are abandoned with it: they can never confirm, and
	// kept they would hold their other inputs unspendable for good.
	gone := map[chain.Hash]bool{txid: true}
	for grew := true; grew; {
		grew = false
		for _, t := range txs {
			if !gone[t.TxID] && slices.ContainsFunc(t.Tx.Inputs, func(in chain.TxIn) bool { return gone[in.PrevOut.TxID] }) {
				gone[t.TxID], grew = true, true
			}
		}
	}
	return p.Save(slices.DeleteFunc(txs, func(t *PendingTx) bool { return gone[t.TxID] }))
}

// Add records a send before it is broadcast, so that a crash after the node
// took it cannot leave the wallet unaware of it. replaces, when not nil, is
// the send it replaces.
func (p *PendingSends) Add(tx *chain.Tx, replaces *chain.Hash) error {
	txs, err := p.Load()
	if err != nil {
		return err
	}
	txs = append(txs, &PendingTx{TxID: tx.TxID(), Tx: tx, Time: time.Now().Unix(), Replaces: replaces})
	return p.Save(txs)
}

// Remove forgets a send the node refused.
func (p *PendingSends) Remove(txid chain.Hash) error {
	txs, err := p.Load()
	if err != nil {
		return err
	}
	kept := txs[:0]
	for _, t := range txs {
		if t.TxID != txid {
			kept = append(kept, t)
		}
	}
	return p.Save(kept)
}
