package main

import (
	"encoding/json"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/wallet"
)

// paidTo sums tx's outputs by address.
func paidTo(tx *chain.Tx) map[string]uint64 {
	paid := map[string]uint64{}
	for _, out := range tx.Outputs {
		paid[chain.RegtestParams.EncodeAddress(out.PubKeyHash)] += out.Value
	}
	return paid
}

func otherAddress(b byte) string {
	return chain.RegtestParams.EncodeAddress([chain.PubKeyHashSize]byte{9, 9, b})
}

func TestSendMany(t *testing.T) {
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), 5*chain.Coin)
	h.node.feeEstimate = "0.00004000" // 4 base units per byte

	a, b, c := otherAddress(1), otherAddress(2), otherAddress(3)
	s := jsonOf[sendJSON](t, h.ok("send", a, "1", b, "2", c, "0.5", "--conf-target", "3", "--json"))
	if h.node.estimateAsked != 3 || s.FeeRate != 4 || s.FeeRateSource != "estimate for 3 blocks" {
		t.Errorf("asked for %d blocks; fee rate %d from %q", h.node.estimateAsked, s.FeeRate, s.FeeRateSource)
	}
	pool := h.node.mempoolTxs()
	if len(pool) != 1 || pool[0].TxID() != s.TxID {
		t.Fatalf("mempool %v, sent %s", pool, s.TxID)
	}
	paid := paidTo(pool[0])
	if paid[a] != chain.Coin || paid[b] != 2*chain.Coin || paid[c] != chain.Coin/2 || len(paid) != 4 || len(s.Payments) != 3 {
		t.Errorf("outputs %v, payments %+v", paid, s.Payments)
	}
	fee, _ := wallet.ParseAmount(string(s.Fee))
	if fee < 4*uint64(pool[0].SerializeSize()) {
		t.Errorf("fee %d under 4/byte for %d bytes", fee, pool[0].SerializeSize())
	}

	// The fee taken from the amounts, shared equally; the first pays what
	// does not divide.
	h.node.mine()
	s = jsonOf[sendJSON](t, h.ok("send", a, "0.1", b, "0.1", "--subtract-fee", "--fee-rate", "5", "--json"))
	tx := h.node.mempoolTxs()[0]
	fee, _ = wallet.ParseAmount(string(s.Fee))
	paid = paidTo(tx)
	if paid[a]+paid[b]+fee != chain.Coin/5 || paid[b] < paid[a] || paid[b]-paid[a] > 1 || fee < 5*uint64(tx.SerializeSize()) {
		t.Errorf("subtract-fee paid %d and %d with fee %d", paid[a], paid[b], fee)
	}

	// Usage mistakes are refused before the node is asked anything.
	mustContain(t, h.failWith(exitUsage, "send", a, "1", b), "usage: wallet send ADDR AMOUNT [ADDR AMOUNT ...]")
	mustContain(t, h.failWith(exitUsage, "send", a, "1", "--fee-rate", "2", "--conf-target", "2"), "either --conf-target or --fee-rate")
	mustContain(t, h.failWith(exitUsage, "send", a, "1", "--coins", "nonsense"), "--coins", "not TXID:N")
}

// A node's estimate past what nodes relay by default is refused, not paid:
// a lying node would otherwise hand the wallet's coins to miners.
func TestSendRefusesAbsurdEstimate(t *testing.T) {
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), chain.Coin)
	h.node.feeEstimate = "0.10001000" // 10,001 base units per byte
	mustContain(t, h.fail("send", otherAddress(1), "0.5"), "estimatesmartfee answered 0.10001000 QRY", "--fee-rate")
	if len(h.node.mempoolTxs()) != 0 {
		t.Error("a send went out at the node's absurd estimate")
	}
	h.node.feeEstimate = "0.10000000"
	h.ok("send", otherAddress(1), "0.5")
}

func TestSendFeeFallback(t *testing.T) {
	h := newHarness(t)
	h.create()
	h.node.pay(h.newAddress(), chain.Coin)
	s := jsonOf[sendJSON](t, h.ok("send", otherAddress(1), "0.5", "--json"))
	if h.node.estimateAsked != defaultConfTarget || s.FeeRate != fallbackFeeRate || s.FeeRateSource != "fallback: the node has no estimate" {
		t.Errorf("asked for %d blocks; fee rate %d from %q", h.node.estimateAsked, s.FeeRate, s.FeeRateSource)
	}
}

func TestSendAllAndCoinControl(t *testing.T) {
	h := newHarness(t)
	h.create()
	addr := h.newAddress()
	h.node.pay(addr, chain.Coin, 2*chain.Coin, 3*chain.Coin)

	var coins []unspentJSON
	if err := json.Unmarshal([]byte(h.ok("listunspent", "--json")), &coins); err != nil || len(coins) != 3 {
		t.Fatalf("listunspent: %v %+v", err, coins)
	}
	// Coin control: exactly the chosen output, change back.
	var chosen unspentJSON
	for _, c := range coins {
		if c.Amount == "2.00000000" {
			chosen = c
		}
	}
	s := jsonOf[sendJSON](t, h.ok("send", otherAddress(1), "0.5", "--coins", chosen.Coin, "--fee-rate", "2", "--json"))
	tx := h.node.mempoolTxs()[0]
	if len(tx.Inputs) != 1 || tx.Inputs[0].PrevOut.String() != chosen.Coin || s.TxID != tx.TxID() {
		t.Errorf("spent %v, chose %s", tx.Inputs, chosen.Coin)
	}
	mustContain(t, h.fail("send", otherAddress(1), "0.5", "--coins", chosen.Coin), "coin not spendable", chosen.Coin)
	h.node.mine()

	// sendall empties the wallet at the rate asked, to one output. The fee
	// may stay above the rate times the signed size by what the signatures
	// shortened at the last signing (finish lowers the fee only once): a
	// DER signature's length varies by a byte or two.
	to := otherAddress(2)
	s = jsonOf[sendJSON](t, h.ok("sendall", to, "--fee-rate", "3", "--json"))
	tx = h.node.mempoolTxs()[0]
	fee, _ := wallet.ParseAmount(string(s.Fee))
	in := h.node.inputValue(tx)
	if len(tx.Outputs) != 1 || paidTo(tx)[to] != in-fee || fee < 3*uint64(tx.SerializeSize()) || fee > 3*uint64(tx.SerializeSize()+2*len(tx.Inputs)) {
		t.Errorf("sendall: inputs %d, outputs %v, fee %d for %d bytes", in, paidTo(tx), fee, tx.SerializeSize())
	}
	h.node.mine()
	if b := jsonOf[balanceJSON](t, h.ok("balance", "--json")); b.Total != "0.00000000" {
		t.Errorf("balance after sendall: %+v", b)
	}
	mustContain(t, h.fail("sendall", to), "insufficient funds")
}

func TestSendNeverSpendsOthersUnconfirmed(t *testing.T) {
	h := newHarness(t)
	h.create()
	addr := h.newAddress()
	h.node.pay(addr, chain.Coin)
	h.node.payUnconfirmed(addr, 5*chain.Coin)
	mustContain(t, h.fail("send", otherAddress(1), "2", "--fee-rate", "1"), "insufficient funds", "5.00000000 QRY more cannot be spent now")
	if n := len(h.node.mempoolTxs()); n != 1 {
		t.Errorf("mempool holds %d transactions", n)
	}
}
