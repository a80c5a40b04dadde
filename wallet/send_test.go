package wallet

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/quarrychain/quarry/chain"
)

type testKeys map[[chain.PubKeyHashSize]byte]*secp256k1.PrivateKey

func (k testKeys) PrivateKey(pkh [chain.PubKeyHashSize]byte) (*secp256k1.PrivateKey, bool) {
	key, ok := k[pkh]
	return key, ok
}

// testKey is a fixed key, so failures reproduce.
func testKey(i int) *secp256k1.PrivateKey {
	b := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte("quarry wallet test key"), uint64(i)))
	return secp256k1.PrivKeyFromBytes(b[:])
}

func keyHash(k *secp256k1.PrivateKey) [chain.PubKeyHashSize]byte {
	return chain.PubKeyHash(k.PubKey().SerializeCompressed())
}

// sendFixture is a wallet of three keys and a request template.
type sendFixture struct {
	keys       testKeys
	owned      [3][chain.PubKeyHashSize]byte
	to, change [chain.PubKeyHashSize]byte
}

func newSendFixture() *sendFixture {
	f := &sendFixture{keys: testKeys{}}
	for i := range f.owned {
		k := testKey(i)
		f.owned[i] = keyHash(k)
		f.keys[f.owned[i]] = k
	}
	f.to = keyHash(testKey(100))
	f.change = keyHash(testKey(101))
	return f
}

// utxo makes a confirmed output numbered n paying to one of the fixture's keys.
func (f *sendFixture) utxo(n int, value uint64) UTXO {
	return UTXO{
		OutPoint:      chain.OutPoint{TxID: sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(n))), Index: uint32(n % 3)},
		Value:         value,
		PubKeyHash:    f.owned[n%len(f.owned)],
		Confirmations: 6,
	}
}

func (f *sendFixture) request(amount, rate uint64, utxos ...UTXO) *SendRequest {
	return &SendRequest{
		UTXOs:            utxos,
		CoinbaseMaturity: chain.RegtestParams.CoinbaseMaturity,
		Payments:         []Payment{{To: f.to, Amount: amount}},
		FeeRate:          rate,
		Change:           f.change,
		Keys:             f.keys,
	}
}

type utxoView map[chain.OutPoint]*chain.UtxoEntry

func (v utxoView) LookupUtxo(op chain.OutPoint) *chain.UtxoEntry { return v[op] }

// checkSend verifies everything BuildSend promises about s: valid by chain's
// rules, every signature verifying against chain's sighash, the fee covering
// the rate on the real size, and the values adding up.
func checkSend(t *testing.T, req *SendRequest, s *Send) {
	t.Helper()
	tx := s.Tx
	if tx.Version != 1 || tx.LockTime != 0 {
		t.Errorf("version %d lock time %d, want 1 and 0", tx.Version, tx.LockTime)
	}
	if err := chain.CheckTxSanity(tx); err != nil {
		t.Fatalf("CheckTxSanity: %v", err)
	}
	if len(s.Spent) != len(tx.Inputs) {
		t.Fatalf("%d spent outputs for %d inputs", len(s.Spent), len(tx.Inputs))
	}
	view := utxoView{}
	offered := map[chain.OutPoint]UTXO{}
	for _, u := range req.UTXOs {
		offered[u.OutPoint] = u
	}
	for i, u := range s.Spent {
		if tx.Inputs[i].PrevOut != u.OutPoint {
			t.Errorf("input %d spends %s, Spent says %s", i, tx.Inputs[i].PrevOut, u.OutPoint)
		}
		if offered[u.OutPoint] != u {
			t.Errorf("input %d spends %s, which was not offered", i, u.OutPoint)
		}
		if req.Exclude[u.OutPoint] || (u.Confirmations == 0 && !u.OwnChange) ||
			(u.Coinbase && u.Confirmations < int64(req.CoinbaseMaturity)) {
			t.Errorf("input %d spends %s, which may not be spent", i, u.OutPoint)
		}
		view[u.OutPoint] = &chain.UtxoEntry{Value: u.Value, PubKeyHash: u.PubKeyHash, Height: 1, Coinbase: u.Coinbase}
	}
	fee, prev, err := chain.CheckTxInputs(tx, view, 1+req.CoinbaseMaturity, chain.RegtestParams)
	if err != nil {
		t.Fatalf("CheckTxInputs: %v", err)
	}
	if fee != s.Fee {
		t.Errorf("inputs less outputs is %d, Send.Fee says %d", fee, s.Fee)
	}
	if err := chain.VerifyTxSignatures(tx, prev, nil); err != nil {
		t.Fatalf("VerifyTxSignatures: %v", err)
	}
	spentOuts := make([]chain.TxOut, len(s.Spent))
	for i, u := range s.Spent {
		spentOuts[i] = chain.TxOut{Value: u.Value, PubKeyHash: u.PubKeyHash}
	}
	hasher := chain.NewSigHasher(tx, spentOuts)
	for i := range s.Spent {
		w := tx.Inputs[i].Witness
		if len(w) != 2 {
			t.Fatalf("input %d witness has %d items", i, len(w))
		}
		pub, err := secp256k1.ParsePubKey(w[0])
		if err != nil {
			t.Fatalf("input %d key: %v", i, err)
		}
		sig, err := ecdsa.ParseDERSignature(w[1])
		if err != nil {
			t.Fatalf("input %d signature: %v", i, err)
		}
		msg := hasher.SigHash(i)
		if !sig.Verify(msg[:], pub) {
			t.Errorf("input %d signature does not verify", i)
		}
		if chain.PubKeyHash(w[0]) != s.Spent[i].PubKeyHash {
			t.Errorf("input %d key does not hash to the spent output's", i)
		}
	}

	size := uint64(tx.SerializeSize())
	if s.Fee < req.FeeRate*size {
		t.Errorf("fee %d under %d/byte × %d bytes", s.Fee, req.FeeRate, size)
	}
	if s.ChangeIndex >= 0 && s.Fee > req.FeeRate*(size+2*uint64(len(tx.Inputs))) {
		t.Errorf("fee %d with change is more than a signature's wobble above %d/byte × %d bytes", s.Fee, req.FeeRate, size)
	}
	var paid, change int
	unpaid := slices.Clone(s.Paid)
	for i, out := range tx.Outputs {
		switch {
		case i == s.ChangeIndex:
			change++
			if out.PubKeyHash != req.Change || out.Value != s.Change {
				t.Errorf("change output %d pays %d to %x, want %d to %x", i, out.Value, out.PubKeyHash, s.Change, req.Change)
			}
			if out.Value < dustThreshold(req.FeeRate) {
				t.Errorf("change %d is dust at %d/byte", out.Value, req.FeeRate)
			}
		case slices.Contains(unpaid, Payment{To: out.PubKeyHash, Amount: out.Value}):
			unpaid = slices.Delete(unpaid, slices.Index(unpaid, Payment{To: out.PubKeyHash, Amount: out.Value}), slices.Index(unpaid, Payment{To: out.PubKeyHash, Amount: out.Value})+1)
			paid++
		default:
			t.Errorf("unexpected output %d: %d to %x", i, out.Value, out.PubKeyHash)
		}
	}
	if len(s.Paid) != len(req.Payments) || !req.SubtractFee && !req.SpendAll && !slices.Equal(s.Paid, req.Payments) {
		t.Errorf("paid %v, asked to pay %v", s.Paid, req.Payments)
	}
	if paid != len(req.Payments) || (s.ChangeIndex >= 0) != (change == 1) || (s.ChangeIndex < 0 && s.Change != 0) {
		t.Errorf("%d payments, change index %d, change %d", paid, s.ChangeIndex, s.Change)
	}
	if !slices.IsSortedFunc(tx.Outputs, compareOutputs) {
		t.Error("outputs are not in BIP69 order")
	}
	if !slices.IsSortedFunc(tx.Inputs, func(a, b chain.TxIn) int { return compareOutPoints(a.PrevOut, b.PrevOut) }) {
		t.Error("inputs are not in BIP69 order")
	}
}

func spentValues(s *Send) []uint64 {
	var v []uint64
	for _, u := range s.Spent {
		v = append(v, u.Value)
	}
	slices.Sort(v)
	return v
}

func TestBuildSend(t *testing.T) {
	f := newSendFixture()
	const coin = chain.Coin
	unconfirmed := f.utxo(20, 50*coin)
	unconfirmed.Confirmations = 0
	immature := f.utxo(21, 50*coin)
	immature.Coinbase, immature.Confirmations = true, int64(chain.RegtestParams.CoinbaseMaturity)-1
	mature := f.utxo(22, 50*coin)
	mature.Coinbase, mature.Confirmations = true, int64(chain.RegtestParams.CoinbaseMaturity)
	dusty := f.utxo(23, 144*10) // worth exactly its fee to spend at 10/byte

	tests := []struct {
		name       string
		req        *SendRequest
		exclude    []UTXO
		wantSpent  []uint64
		wantChange bool
		wantFee    uint64 // 0: not checked
	}{
		{
			name:       "one output, change back",
			req:        f.request(coin, 10, f.utxo(1, 5*coin)),
			wantSpent:  []uint64{5 * coin},
			wantChange: true,
		},
		{
			name:       "exact amount and fee, no change",
			req:        f.request(coin, 10, f.utxo(1, coin+10*txSize(1, 1))),
			wantSpent:  []uint64{coin + 10*txSize(1, 1)},
			wantChange: false,
			wantFee:    10 * txSize(1, 1),
		},
		{
			name:       "dust change goes to the fee",
			req:        f.request(coin, 1, f.utxo(1, coin+txSize(1, 2)+100)),
			wantSpent:  []uint64{coin + txSize(1, 2) + 100},
			wantChange: false,
			wantFee:    txSize(1, 2) + 100,
		},
		{
			name:       "change below the cost of spending it at a high rate goes to the fee",
			req:        f.request(coin, 100, f.utxo(1, coin+100*txSize(1, 2)+100*maxInputSize-1)),
			wantSpent:  []uint64{coin + 100*txSize(1, 2) + 100*maxInputSize - 1},
			wantChange: false,
		},
		{
			name:       "change just above dust is kept",
			req:        f.request(coin, 1, f.utxo(1, coin+txSize(1, 2)+DustLimit+40)),
			wantSpent:  []uint64{coin + txSize(1, 2) + DustLimit + 40},
			wantChange: true,
		},
		{
			name:       "branch and bound finds a changeless pair below the largest",
			req:        f.request(5*coin-txSize(2, 1), 1, f.utxo(1, 10*coin), f.utxo(2, 3*coin), f.utxo(3, 2*coin)),
			wantSpent:  []uint64{2 * coin, 3 * coin},
			wantChange: false,
			wantFee:    txSize(2, 1),
		},
		{
			name:       "largest first when nothing fits without change",
			req:        f.request(12*coin, 5, f.utxo(1, 10*coin), f.utxo(2, 3*coin), f.utxo(3, 2*coin), f.utxo(4, coin)),
			wantSpent:  []uint64{3 * coin, 10 * coin},
			wantChange: true,
		},
		{
			name:       "excluded outputs are not spent",
			req:        f.request(coin, 10, f.utxo(1, 10*coin), f.utxo(2, 3*coin)),
			exclude:    []UTXO{f.utxo(1, 10*coin)},
			wantSpent:  []uint64{3 * coin},
			wantChange: true,
		},
		{
			name:       "unconfirmed, immature and uneconomic outputs are not spent",
			req:        f.request(coin, 10, unconfirmed, immature, mature, dusty, f.utxo(2, 2*coin)),
			wantSpent:  []uint64{50 * coin},
			wantChange: true,
		},
		{
			name:       "a duplicate offer is spent once",
			req:        f.request(6*coin, 1, f.utxo(1, 5*coin), f.utxo(1, 5*coin), f.utxo(2, 3*coin)),
			wantSpent:  []uint64{3 * coin, 5 * coin},
			wantChange: true,
		},
		{
			name:       "zero fee rate",
			req:        f.request(coin, 0, f.utxo(1, 2*coin)),
			wantSpent:  []uint64{2 * coin},
			wantChange: true,
			wantFee:    0,
		},
		{
			name:       "high fee rate",
			req:        f.request(coin, 10_000, f.utxo(1, 2*coin), f.utxo(2, 3*coin)),
			wantSpent:  []uint64{3 * coin},
			wantChange: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.exclude != nil {
				tt.req.Exclude = map[chain.OutPoint]bool{}
				for _, u := range tt.exclude {
					tt.req.Exclude[u.OutPoint] = true
				}
			}
			s, err := BuildSend(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			checkSend(t, tt.req, s)
			if got := spentValues(s); !slices.Equal(got, tt.wantSpent) {
				t.Errorf("spent %v, want %v", got, tt.wantSpent)
			}
			if (s.ChangeIndex >= 0) != tt.wantChange {
				t.Errorf("change output %d (%d units), want change: %v", s.ChangeIndex, s.Change, tt.wantChange)
			}
			if tt.wantFee != 0 && s.Fee != tt.wantFee {
				t.Errorf("fee %d, want %d", s.Fee, tt.wantFee)
			}
		})
	}
}

func TestBuildSendErrors(t *testing.T) {
	f := newSendFixture()
	const coin = chain.Coin
	unconfirmed := f.utxo(9, 5*coin)
	unconfirmed.Confirmations = 0
	stranger := f.utxo(8, 20*coin)
	stranger.PubKeyHash = keyHash(testKey(999))
	many := make([]UTXO, 14_000)
	for i := range many {
		many[i] = f.utxo(1000+i, 100_000)
	}
	tests := []struct {
		name string
		req  *SendRequest
		want error
		msg  string // the whole message, or a part after "…"
	}{
		{"zero amount", f.request(0, 1, f.utxo(1, coin)), ErrInvalidAmount, "…0.00000000 QRY is under the dust limit"},
		{"dust payment", f.request(DustLimit-1, 1, f.utxo(1, coin)), ErrInvalidAmount, "…0.00000545 QRY is under the dust limit"},
		{"over the supply", f.request(chain.MaxMoney+1, 1, f.utxo(1, coin)), ErrInvalidAmount, "…more than can ever exist"},
		{"absurd fee rate", f.request(coin, maxFeeRate+1, f.utxo(1, 2*coin)), ErrInvalidFeeRate, "…per byte is over"},
		{
			"insufficient", f.request(12*coin+50_000_000, 50, f.utxo(1, 10*coin)), ErrInsufficientFunds,
			"insufficient funds: need 12.50009100 QRY, have 10.00000000 QRY (missing 2.50009100 QRY)",
		},
		{
			"insufficient with pending funds", f.request(12*coin, 1, f.utxo(1, 10*coin), unconfirmed), ErrInsufficientFunds,
			"insufficient funds: need 12.00000182 QRY, have 10.00000000 QRY (missing 2.00000182 QRY); 5.00000000 QRY more cannot be spent now (unconfirmed, immature, spent by an unconfirmed send, or worth less than its fee)",
		},
		{"nothing to spend", f.request(coin, 1), ErrInsufficientFunds, "insufficient funds: need 1.00000038 QRY, have 0.00000000 QRY (missing 1.00000038 QRY)"},
		{"amount alone is enough, fee is not", f.request(10*coin, 1, f.utxo(1, 10*coin)), ErrInsufficientFunds, "…missing 0.00000182 QRY"},
		{"no key", f.request(coin, 1, stranger), ErrMissingKey, "…paying to key hash"},
		{"no key source", &SendRequest{UTXOs: []UTXO{f.utxo(1, coin)}, Payments: []Payment{{To: f.to, Amount: DustLimit}}}, nil, "no KeySource to sign with"},
		{"values over the supply", f.request(coin, 1, f.utxo(1, chain.MaxMoney), f.utxo(2, 1)), nil, "…add up to more than 21000000.00000000 QRY"},
		{"too many inputs", f.request(1_389_500_000, 1, many...), ErrTooManyInputs, "…consolidate small outputs first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := BuildSend(tt.req)
			if err == nil {
				t.Fatalf("BuildSend succeeded: %+v", s)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if part, ok := strings.CutPrefix(tt.msg, "…"); ok {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			} else if err.Error() != tt.msg {
				t.Errorf("error\n%q\nwant\n%q", err, tt.msg)
			}
		})
	}
	var insufficient *InsufficientFundsError
	_, err := BuildSend(f.request(11*coin, 1, f.utxo(1, 10*coin), unconfirmed))
	if !errors.As(err, &insufficient) || insufficient.Have != 10*coin || insufficient.Pending != 5*coin {
		t.Errorf("InsufficientFundsError %+v from %v", insufficient, err)
	}
}

// TestBuildSendRandom checks BuildSend's promises on random wallets, amounts
// and fee rates: either a valid transaction or insufficient funds, and
// insufficient only when the spendable total truly falls short.
func TestBuildSendRandom(t *testing.T) {
	f := newSendFixture()
	rng := rand.New(rand.NewPCG(1, 2))
	built := 0
	for round := range 300 {
		var utxos []UTXO
		var total uint64
		for i := range 1 + rng.IntN(12) {
			v := uint64(1 + rng.IntN(5*chain.Coin))
			if rng.IntN(4) == 0 {
				v = uint64(1 + rng.IntN(20_000)) // small outputs, near dust
			}
			u := f.utxo(round*100+i, v)
			if rng.IntN(8) == 0 {
				u.Confirmations = 0
			}
			utxos = append(utxos, u)
			total += v
		}
		rate := uint64(rng.IntN(60))
		amount := DustLimit + uint64(rng.Int64N(int64(total)))
		req := f.request(amount, rate, utxos...)
		s, err := BuildSend(req)
		if err != nil {
			var insufficient *InsufficientFundsError
			if !errors.As(err, &insufficient) || insufficient.Have >= insufficient.Need {
				t.Fatalf("round %d: %v", round, err)
			}
			continue
		}
		built++
		checkSend(t, req, s)
	}
	if built < 150 {
		t.Errorf("only %d of 300 random sends were built", built)
	}
}

func TestWalletSignsItsOwnOutputs(t *testing.T) {
	_, w := createTestWallet(t, chain.RegtestParams)
	defer w.Close()
	recv, err := w.NewAddress(Receive)
	if err != nil {
		t.Fatal(err)
	}
	change, err := w.NewAddress(Change)
	if err != nil {
		t.Fatal(err)
	}
	to, err := chain.RegtestParams.DecodeAddress(chain.RegtestParams.EncodeAddress(keyHash(testKey(7))))
	if err != nil {
		t.Fatal(err)
	}
	amount, err := ParseAmount("12.5")
	if err != nil {
		t.Fatal(err)
	}
	req := &SendRequest{
		UTXOs: []UTXO{
			{OutPoint: chain.OutPoint{TxID: sha256.Sum256([]byte("a")), Index: 0}, Value: 50 * chain.Coin, PubKeyHash: recv.PubKeyHash, Confirmations: 101, Coinbase: true},
		},
		CoinbaseMaturity: chain.RegtestParams.CoinbaseMaturity,
		Payments:         []Payment{{To: to, Amount: amount}},
		FeeRate:          2,
		Change:           change.PubKeyHash,
		Keys:             w,
	}
	s, err := BuildSend(req)
	if err != nil {
		t.Fatal(err)
	}
	checkSend(t, req, s)
	if s.Change != 50*chain.Coin-amount-s.Fee {
		t.Errorf("change %d, fee %d", s.Change, s.Fee)
	}
}

func TestBuildSendChoices(t *testing.T) {
	f := newSendFixture()
	const coin = chain.Coin
	ownChange := f.utxo(30, 3*coin)
	ownChange.Confirmations, ownChange.OwnChange = 0, true
	othersUnconfirmed := f.utxo(31, 9*coin)
	othersUnconfirmed.Confirmations = 0
	confirmed := f.utxo(32, 2*coin)
	payTo := func(b byte) [chain.PubKeyHashSize]byte { return [chain.PubKeyHashSize]byte{0xee, b} }

	t.Run("confirmed first", func(t *testing.T) {
		req := f.request(coin, 2, confirmed, ownChange, othersUnconfirmed)
		s, err := BuildSend(req)
		if err != nil {
			t.Fatal(err)
		}
		checkSend(t, req, s)
		if len(s.Spent) != 1 || s.Spent[0].OutPoint != confirmed.OutPoint {
			t.Errorf("spent %v, want the confirmed output alone", s.Spent)
		}
	})
	t.Run("own change when it must, never others' unconfirmed", func(t *testing.T) {
		req := f.request(4*coin, 2, confirmed, ownChange, othersUnconfirmed)
		s, err := BuildSend(req)
		if err != nil {
			t.Fatal(err)
		}
		checkSend(t, req, s)
		if got := spentValues(s); !slices.Equal(got, []uint64{2 * coin, 3 * coin}) {
			t.Errorf("spent %v", got)
		}
		_, err = BuildSend(f.request(6*coin, 2, confirmed, ownChange, othersUnconfirmed))
		var insufficient *InsufficientFundsError
		if !errors.As(err, &insufficient) || insufficient.Pending != 9*coin {
			t.Errorf("others' unconfirmed output spent or miscounted: %v", err)
		}
	})
	t.Run("several payments", func(t *testing.T) {
		req := f.request(0, 3, f.utxo(1, 10*coin), f.utxo(2, coin))
		req.Payments = []Payment{{payTo(1), coin}, {payTo(2), 2 * coin}, {payTo(3), 3 * coin}}
		s, err := BuildSend(req)
		if err != nil {
			t.Fatal(err)
		}
		checkSend(t, req, s)
		if len(s.Tx.Outputs) != 4 || s.Change != 10*coin-6*coin-s.Fee {
			t.Errorf("%d outputs, change %d, fee %d", len(s.Tx.Outputs), s.Change, s.Fee)
		}
	})
	t.Run("subtract fee", func(t *testing.T) {
		req := f.request(0, 3, f.utxo(1, 10*coin))
		req.Payments = []Payment{{payTo(1), 5 * coin}, {payTo(2), 5 * coin}}
		req.SubtractFee = true
		s, err := BuildSend(req)
		if err != nil {
			t.Fatal(err)
		}
		checkSend(t, req, s)
		if s.ChangeIndex >= 0 || s.Paid[0].Amount+s.Paid[1].Amount+s.Fee != 10*coin || s.Paid[1].Amount-s.Paid[0].Amount > 1 {
			t.Errorf("paid %v, fee %d, change index %d", s.Paid, s.Fee, s.ChangeIndex)
		}
		req.Payments = []Payment{{payTo(1), 5 * coin}, {payTo(2), 600}}
		if _, err := BuildSend(req); !errors.Is(err, ErrInvalidAmount) {
			t.Errorf("a payment that cannot bear its share: %v", err)
		}
	})
	t.Run("spend all", func(t *testing.T) {
		req := f.request(0, 4, f.utxo(1, coin), f.utxo(2, 2*coin), ownChange, othersUnconfirmed)
		req.SpendAll = true
		s, err := BuildSend(req)
		if err != nil {
			t.Fatal(err)
		}
		checkSend(t, req, s)
		if len(s.Spent) != 3 || len(s.Tx.Outputs) != 1 || s.Tx.Outputs[0].Value+s.Fee != 6*coin ||
			s.Fee > 4*uint64(s.Tx.SerializeSize()+2*len(s.Spent)) {
			t.Errorf("spent %d, outputs %v, fee %d for %d bytes", len(s.Spent), s.Tx.Outputs, s.Fee, s.Tx.SerializeSize())
		}
	})
	t.Run("coin control", func(t *testing.T) {
		req := f.request(coin+coin/2, 2, f.utxo(1, coin), f.utxo(2, 2*coin), f.utxo(3, 3*coin))
		req.Coins = []chain.OutPoint{f.utxo(2, 0).OutPoint, f.utxo(3, 0).OutPoint}
		s, err := BuildSend(req)
		if err != nil {
			t.Fatal(err)
		}
		checkSend(t, req, s)
		if got := spentValues(s); !slices.Equal(got, []uint64{2 * coin, 3 * coin}) || s.ChangeIndex < 0 {
			t.Errorf("spent %v, change index %d", got, s.ChangeIndex)
		}
		req.Coins = []chain.OutPoint{f.utxo(1, 0).OutPoint}
		if _, err := BuildSend(req); !errors.Is(err, ErrInsufficientFunds) {
			t.Errorf("chosen coins worth less than the payment: %v", err)
		}
		req.Coins = []chain.OutPoint{othersUnconfirmed.OutPoint}
		req.UTXOs = append(req.UTXOs, othersUnconfirmed)
		if _, err := BuildSend(req); !errors.Is(err, ErrUnknownCoin) {
			t.Errorf("others' unconfirmed output chosen: %v", err)
		}
	})
}
