package chain

import (
	"errors"
	"testing"
)

// Every genesis block is re-derived from its parts, must hash to the hard-coded
// value, meet its own proof of work and pass the sanity rules.
func TestGenesisBlocks(t *testing.T) {
	for _, p := range []*Params{MainParams, TestnetParams, RegtestParams} {
		g := p.GenesisBlock
		if got := g.Hash(); got != p.GenesisHash {
			t.Errorf("%s: genesis hashes to %s, params say %s", p.Name, got, p.GenesisHash)
		}
		if err := CheckBlockSanity(g, p); err != nil {
			t.Errorf("%s: genesis fails sanity: %v", p.Name, err)
		}
		if h, err := CoinbaseHeight(g.Txs[0]); err != nil || h != 0 {
			t.Errorf("%s: genesis coinbase height %d, %v", p.Name, h, err)
		}
		if !g.Header.PrevBlock.IsZero() {
			t.Errorf("%s: genesis has a parent", p.Name)
		}
		got, err := ParamsByName(p.Name)
		if err != nil || got != p {
			t.Errorf("ParamsByName(%q) = %v, %v", p.Name, got, err)
		}
	}
	if MainParams.GenesisHash == TestnetParams.GenesisHash || TestnetParams.GenesisHash == RegtestParams.GenesisHash {
		t.Error("networks share a genesis block")
	}
	if _, err := ParamsByName("simnet"); err == nil {
		t.Error("unknown network accepted")
	}
}

func TestNetworkNumbers(t *testing.T) {
	cases := []struct {
		p                  *Params
		spacing            int64
		interval, maturity int32
		halving            int32
		rpcPort, p2pPort   int
	}{
		{MainParams, 600, 2016, 100, 210_000, 8432, 8433},
		{TestnetParams, 10, 30, 10, 210_000, 18432, 18433},
		{RegtestParams, 600, 0, 100, 150, 18543, 18544},
	}
	for _, c := range cases {
		p := c.p
		if p.TargetSpacing != c.spacing || p.RetargetInterval != c.interval || p.CoinbaseMaturity != c.maturity ||
			p.SubsidyHalvingInterval != c.halving || p.DefaultRPCPort != c.rpcPort || p.DefaultP2PPort != c.p2pPort {
			t.Errorf("%s: params %+v differ from DESIGN.md", p.Name, c)
		}
	}
	if RegtestParams.IsRetargetHeight(2016) || !TestnetParams.IsRetargetHeight(30) || TestnetParams.IsRetargetHeight(31) {
		t.Error("IsRetargetHeight wrong")
	}
}

func TestSubsidy(t *testing.T) {
	cases := []struct {
		p      *Params
		height int32
		want   uint64
	}{
		{MainParams, 0, 50 * Coin},
		{MainParams, 209_999, 50 * Coin},
		{MainParams, 210_000, 25 * Coin},
		{RegtestParams, 150, 25 * Coin},
		{RegtestParams, 150 * 64, 0},
	}
	for _, c := range cases {
		if got := c.p.Subsidy(c.height); got != c.want {
			t.Errorf("%s subsidy at %d = %d, want %d", c.p.Name, c.height, got, c.want)
		}
	}
}

func TestAddresses(t *testing.T) {
	pkh := PubKeyHash(testKey(9).PubKey().SerializeCompressed())
	for _, p := range []*Params{MainParams, TestnetParams, RegtestParams} {
		addr := p.EncodeAddress(pkh)
		got, err := p.DecodeAddress(addr)
		if err != nil || got != pkh {
			t.Errorf("%s: round trip of %s = %x, %v", p.Name, addr, got, err)
		}
	}
	regAddr := RegtestParams.EncodeAddress(pkh)
	if _, err := MainParams.DecodeAddress(regAddr); !errors.Is(err, ErrBadAddress) {
		t.Errorf("regtest address on main: %v", err)
	}
	bad := []byte(regAddr)
	bad[len(bad)-1] ^= 1
	if _, err := RegtestParams.DecodeAddress(string(bad)); !errors.Is(err, ErrBadAddress) {
		t.Errorf("bad checksum accepted: %v", err)
	}
	// BIP-173's P2WPKH example: key hash 751e76e8199196d454941c45d1b3a323f1433bd6.
	if got := (&Params{AddressHRP: "bc"}).EncodeAddress([20]byte{0x75, 0x1e, 0x76, 0xe8, 0x19, 0x91, 0x96, 0xd4, 0x54, 0x94, 0x1c, 0x45, 0xd1, 0xb3, 0xa3, 0x23, 0xf1, 0x43, 0x3b, 0xd6}); got != "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4" {
		t.Errorf("BIP-173 vector encodes to %s", got)
	}
}

func TestSigHash(t *testing.T) {
	key := testKey(4)
	tx := spendTx(t, key, 1, 2, 10_000)
	pkh := PubKeyHash(key.PubKey().SerializeCompressed())
	h := NewSigHasher(tx)
	base := h.SigHash(0, 10_000, pkh)
	if h.SigHash(0, 10_000, pkh) != base {
		t.Fatal("sighash not deterministic")
	}
	other := pkh
	other[0] ^= 1
	for name, got := range map[string]Hash{
		"other input": h.SigHash(1, 10_000, pkh),
		"other value": h.SigHash(0, 10_001, pkh),
		"other pkh":   h.SigHash(0, 10_000, other),
	} {
		if got == base {
			t.Errorf("sighash does not commit to the %s", name)
		}
	}
	// Witnesses are not signed, so the hash is the same after signing.
	tx.Inputs[0].Witness = nil
	if NewSigHasher(tx).SigHash(0, 10_000, pkh) != base {
		t.Error("sighash depends on witnesses")
	}
	tx.LockTime++
	if NewSigHasher(tx).SigHash(0, 10_000, pkh) == base {
		t.Error("sighash does not commit to the transaction")
	}
}

func TestTxTooBig(t *testing.T) {
	tx := spendTx(t, testKey(1), 1, 1, 10_000)
	tx.Outputs = make([]TxOut, MaxTxSize/minTxOutSize+1)
	if err := CheckTxSanity(tx); !errors.Is(err, ErrTxTooBig) {
		t.Errorf("err = %v, want ErrTxTooBig", err)
	}
}
