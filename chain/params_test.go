package chain

import (
	"encoding/hex"
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
		if _, err := CheckBlockSanity(g, p); err != nil {
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
	spent := []TxOut{{Value: 10_000, PubKeyHash: pkh}, {Value: 20_000, PubKeyHash: pkh}}
	h := NewSigHasher(tx, spent)
	base := h.SigHash(0)
	if h.SigHash(0) != base {
		t.Fatal("sighash not deterministic")
	}
	changed := func(change func(s []TxOut)) Hash {
		s := append([]TxOut(nil), spent...)
		change(s)
		return NewSigHasher(tx, s).SigHash(0)
	}
	for name, got := range map[string]Hash{
		"input index":                 h.SigHash(1),
		"value it spends":             changed(func(s []TxOut) { s[0].Value++ }),
		"key hash it spends":          changed(func(s []TxOut) { s[0].PubKeyHash[0] ^= 1 }),
		"value another input spends":  changed(func(s []TxOut) { s[1].Value++ }),
		"key hash another one spends": changed(func(s []TxOut) { s[1].PubKeyHash[19] ^= 1 }),
		"order of the spent outputs":  changed(func(s []TxOut) { s[0], s[1] = s[1], s[0] }),
	} {
		if got == base {
			t.Errorf("sighash does not commit to the %s", name)
		}
	}
	// Witnesses are not signed, so the hash is the same after signing.
	tx.Inputs[0].Witness = nil
	if NewSigHasher(tx, spent).SigHash(0) != base {
		t.Error("sighash depends on witnesses")
	}
	tx.LockTime++
	if NewSigHasher(tx, spent).SigHash(0) == base {
		t.Error("sighash does not commit to the transaction")
	}
}

// TestSigHashVectors pins the v2 sighash and the RFC 6979 signature over it, so
// another implementation (or a refactor of this one) can check itself byte for
// byte (the sighashes were also computed by an independent Python script from
// docs/consensus.md). The spent outputs differ per input, so a hash that committed only to the
// signing input's spent output would not match.
func TestSigHashVectors(t *testing.T) {
	key := testKey(7)
	pkh := PubKeyHash(key.PubKey().SerializeCompressed())
	tx := &Tx{
		Version: 1,
		Inputs: []TxIn{
			{PrevOut: OutPoint{TxID: Hash{0x11}, Index: 0}},
			{PrevOut: OutPoint{TxID: Hash{0x22}, Index: 3}},
		},
		Outputs:  []TxOut{{Value: 150_000_000, PubKeyHash: [20]byte{0xaa}}, {Value: 49_990_000, PubKeyHash: pkh}},
		LockTime: 0,
	}
	spent := []TxOut{{Value: 120_000_000, PubKeyHash: pkh}, {Value: 80_000_000, PubKeyHash: pkh}}
	want := []struct{ sighash, sig string }{
		{"de0d16f54c520589142216610b0d630acac89545cb6a5453fca285e558f2157f", "304402200d1037340d2b7b4df5d4ffc3c1dc2a33eb7384cde1e093881d86e964c2d3d2c7022042536c60e7ea2173a2c84f66b05a179baa8d57f17fcd81554b65eb72b8d2ff2b"},
		{"b7438e7b33c50cd547d68142ef5e3e493b6f9df8f2c6b6ddcbe83a7bde495be7", "304402201236c40dc3d0744470b5d955a16f288959960eaa59f8ef058258f3f2f3c5a68b022035e1d5ed00bc2c7bc5c531d2894f53cec91c8bb066284f45e72ff3ea65c38eb4"},
	}
	hasher := NewSigHasher(tx, spent)
	for i, w := range want {
		msg := hasher.SigHash(i)
		if got := hex.EncodeToString(msg[:]); got != w.sighash {
			t.Errorf("input %d sighash %s, want %s", i, got, w.sighash)
		}
		SignInput(tx, hasher, i, key)
		if got := hex.EncodeToString(tx.Inputs[i].Witness[1]); got != w.sig {
			t.Errorf("input %d signature %s, want %s", i, got, w.sig)
		}
	}
	if err := VerifyTxSignatures(tx, []UtxoEntry{{Value: spent[0].Value, PubKeyHash: pkh}, {Value: spent[1].Value, PubKeyHash: pkh}}, nil); err != nil {
		t.Errorf("vector transaction does not verify: %v", err)
	}
}

func TestTxTooBig(t *testing.T) {
	tx := spendTx(t, testKey(1), 1, 1, 10_000)
	tx.Outputs = make([]TxOut, MaxTxSize/minTxOutSize+1)
	if err := CheckTxSanity(tx); !errors.Is(err, ErrTxTooBig) {
		t.Errorf("err = %v, want ErrTxTooBig", err)
	}
}
