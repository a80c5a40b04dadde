package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
// The file only speeds things up and survives a mempool too large to scan:
// deleting it loses nothing that the mempool scan (see loadView) does not find
// again while the transactions wait there.

const pendingVersion = 1

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
}

// pendingTx is a record with its transaction decoded.
type pendingTx struct {
	txid chain.Hash
	tx   *chain.Tx
	time int64
}

func pendingPath(walletPath string) string { return walletPath + ".pending.json" }

// loadPending reads the wallet's unconfirmed sends; no file means none.
func loadPending(path string) ([]*pendingTx, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the pending sends: %w", err)
	}
	txs, err := decodePending(data)
	if err != nil {
		return nil, fmt.Errorf("pending sends file %s is damaged (%w); it only lists unconfirmed sends, which the wallet finds again in the node's mempool, so it is safe to delete", path, err)
	}
	return txs, nil
}

func decodePending(data []byte) ([]*pendingTx, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f pendingFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if f.Version != pendingVersion {
		return nil, fmt.Errorf("version %d, want %d", f.Version, pendingVersion)
	}
	txs := make([]*pendingTx, len(f.Txs))
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
		txs[i] = &pendingTx{txid: r.TxID, tx: tx, time: r.Time}
	}
	return txs, nil
}

// savePending replaces the file with txs, or removes it when there are none.
func savePending(path string, txs []*pendingTx) error {
	if len(txs) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the pending sends file: %w", err)
		}
		return nil
	}
	f := pendingFile{Version: pendingVersion, Txs: make([]pendingRecord, len(txs))}
	for i, p := range txs {
		f.Txs[i] = pendingRecord{TxID: p.txid, Hex: hex.EncodeToString(p.tx.Encode()), Time: p.time}
	}
	data, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the pending sends: %w", err)
	}
	return nil
}

// syncPending drops the sends that are confirmed, or that are in neither the
// node's mempool nor its chain (a conflicting spend won, or the node forgot
// them): their inputs are then free again. It saves the file when it changed
// and warns about each send that vanished.
func (a *app) syncPending(ctx context.Context, n *node) ([]*pendingTx, error) {
	path := pendingPath(a.opts.walletPath)
	txs, err := loadPending(path)
	if err != nil || len(txs) == 0 {
		return nil, err
	}
	var kept []*pendingTx
	for _, p := range txs {
		waiting, err := n.inMempool(ctx, p.txid)
		if err != nil {
			return nil, err
		}
		if waiting {
			kept = append(kept, p)
			continue
		}
		// Asked second: a transaction leaving the mempool for a block
		// between the two calls is then found in the chain.
		info, err := n.transaction(ctx, p.txid)
		if err != nil {
			return nil, err
		}
		if info == nil || info.confirmations <= 0 {
			fmt.Fprintf(a.stderr, "wallet: warning: sent transaction %s is in neither the node's mempool nor its chain; the outputs it spent can be spent again\n", p.txid)
		}
	}
	if len(kept) != len(txs) {
		if err := savePending(path, kept); err != nil {
			return nil, err
		}
	}
	return kept, nil
}

// addPending records a send before it is broadcast, so that a crash after the
// node took it cannot leave the wallet unaware of it.
func (a *app) addPending(tx *chain.Tx) error {
	path := pendingPath(a.opts.walletPath)
	txs, err := loadPending(path)
	if err != nil {
		return err
	}
	txs = append(txs, &pendingTx{txid: tx.TxID(), tx: tx, time: time.Now().Unix()})
	return savePending(path, txs)
}

// removePending forgets a send the node refused.
func (a *app) removePending(txid chain.Hash) error {
	path := pendingPath(a.opts.walletPath)
	txs, err := loadPending(path)
	if err != nil {
		return err
	}
	kept := txs[:0]
	for _, p := range txs {
		if p.txid != txid {
			kept = append(kept, p)
		}
	}
	return savePending(path, kept)
}
