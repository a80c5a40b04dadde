package wallet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func pendingTestTx(lockTime uint32) *chain.Tx {
	return &chain.Tx{Version: 1, LockTime: lockTime,
		Inputs:  []chain.TxIn{{PrevOut: chain.OutPoint{TxID: chain.Hash{1}}, Witness: [][]byte{{2}, {3}}}},
		Outputs: []chain.TxOut{{Value: 5, PubKeyHash: [chain.PubKeyHashSize]byte{4}}}}
}

// forgetful is a Node that knows no transaction at all and answers a
// broadcast with refuse.
type forgetful struct {
	Node
	refuse error
	sent   []chain.Hash
}

func (*forgetful) InMempool(context.Context, chain.Hash) (bool, error) { return false, nil }
func (*forgetful) Transactions(context.Context, []chain.Hash) (map[chain.Hash]*TxInfo, error) {
	return nil, nil
}
func (n *forgetful) Broadcast(_ context.Context, tx *chain.Tx) error {
	n.sent = append(n.sent, tx.TxID())
	return n.refuse
}

func TestPendingSends(t *testing.T) {
	p := PendingSendsFor(filepath.Join(t.TempDir(), "wallet.json"))
	a, b := pendingTestTx(1), pendingTestTx(2)
	for _, tx := range []*chain.Tx{a, b} {
		if err := p.Add(tx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Remove(a.TxID()); err != nil {
		t.Fatal(err)
	}
	txs, err := p.Load()
	if err != nil || len(txs) != 1 || txs[0].TxID != b.TxID() || txs[0].Time == 0 {
		t.Fatalf("loaded %+v, %v", txs, err)
	}
	// Fallen out of the mempool: handed to the node again, and kept.
	node := &forgetful{}
	r, err := p.Sync(context.Background(), node)
	if err != nil || len(r.Kept) != 1 || len(r.Rebroadcast) != 1 || r.Rebroadcast[0] != b.TxID() || len(node.sent) != 1 {
		t.Fatalf("sync %+v, sent %v, %v", r, node.sent, err)
	}
	// Refused for a passing reason: kept, and said.
	node.refuse = fmt.Errorf("%w: min relay fee not met", ErrRefused)
	if r, err = p.Sync(context.Background(), node); err != nil || len(r.Kept) != 1 || r.Stuck[b.TxID()] == nil {
		t.Fatalf("sync with a refusal: %+v, %v", r, err)
	}
	// Abandoned: forgotten without a rebroadcast.
	if err := p.Abandon(context.Background(), node, b.TxID()); err != nil {
		t.Fatal(err)
	}
	if err := p.Abandon(context.Background(), node, b.TxID()); !errors.Is(err, ErrNotAbandonable) {
		t.Errorf("abandoned twice: %v", err)
	}
	if err := p.Add(b, nil); err != nil {
		t.Fatal(err)
	}
	// Inputs spent: dropped for good.
	node.refuse = fmt.Errorf("%w: %w", ErrRefused, ErrInputsGone)
	if r, err = p.Sync(context.Background(), node); err != nil || len(r.Kept) != 0 || len(r.Gone) != 1 {
		t.Fatalf("sync with spent inputs: %+v, %v", r, err)
	}
	if _, err := os.Stat(p.Path()); !os.IsNotExist(err) {
		t.Errorf("file left with no pending send: %v", err)
	}
	if err := os.WriteFile(p.Path(), []byte(`{"version":3,"txs":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Load(); err == nil {
		t.Error("a file of an unknown version loaded")
	}
}

// Abandoning a send abandons the wallet's sends spending its outputs, which
// can never confirm, so their other inputs are freed too; others stay.
func TestAbandonDescendants(t *testing.T) {
	p := PendingSendsFor(filepath.Join(t.TempDir(), "wallet.json"))
	parent, other := pendingTestTx(1), pendingTestTx(2)
	child := pendingTestTx(3)
	child.Inputs = append(child.Inputs, chain.TxIn{PrevOut: chain.OutPoint{TxID: parent.TxID()}})
	grandchild := pendingTestTx(4)
	grandchild.Inputs[0].PrevOut = chain.OutPoint{TxID: child.TxID()}
	for _, tx := range []*chain.Tx{parent, child, grandchild, other} {
		if err := p.Add(tx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Abandon(context.Background(), &forgetful{}, parent.TxID()); err != nil {
		t.Fatal(err)
	}
	txs, err := p.Load()
	if err != nil || len(txs) != 1 || txs[0].TxID != other.TxID() {
		t.Fatalf("after abandoning the parent: %+v, %v", txs, err)
	}
}

// FuzzDecodePending: the pending sends file is read from disk; damage must
// err, never panic, and what decodes must be what it says.
func FuzzDecodePending(f *testing.F) {
	p := PendingSendsFor(filepath.Join(f.TempDir(), "wallet.json"))
	if err := p.Add(pendingTestTx(7), nil); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(p.Path())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"txs":[{"txid":"00","hex":"zz"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		txs, err := DecodePending(data)
		if err != nil {
			return
		}
		for _, tx := range txs {
			if tx.Tx.TxID() != tx.TxID {
				t.Fatalf("decoded %s as %s", tx.Tx.TxID(), tx.TxID)
			}
		}
	})
}
