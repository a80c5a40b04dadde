package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/quarrychain/quarry/chain"
)

// UnsignedVersion is the version of the unsigned transaction file.
const UnsignedVersion = 1

// GapLimit is how many unused addresses in a row end a restore's search on
// a branch: BIP44's figure, which other HD wallets use, so that a wallet they
// kept is found whole. A signer refuses change further than this past the
// change addresses it knows of.
const GapLimit = 20

// ErrBadUnsigned is wrapped by every failure to decode an unsigned
// transaction file.
var ErrBadUnsigned = errors.New("bad unsigned transaction file")

// Unsigned is a transaction with everything a signer needs and nothing
// secret, PSBT's idea in Quarry's fields (docs/unsigned-tx.md): the outputs
// it spends with their values, addresses and key paths, and which outputs
// are the wallet's change. The signer derives each input's key from its path
// and refuses one whose key does not pay to the address given; the values it
// is shown are the ones it signs, since the sighash commits to every spent
// output, so the fee it displays is the fee or the signatures are invalid.
type Unsigned struct {
	Network string
	Tx      *chain.Tx
	Inputs  []UnsignedInput
	// Change are the outputs paying back to the wallet, with their paths.
	Change []UnsignedChange
}

// UnsignedInput is the output one input spends.
type UnsignedInput struct {
	OutPoint chain.OutPoint
	Value    uint64
	Address  string
	Path     string // as m/84'/1'/0'/0/5
}

// UnsignedChange is an output of the transaction that pays the wallet.
type UnsignedChange struct {
	Vout uint32
	Path string
}

type unsignedFile struct {
	Version int                  `json:"version"`
	Network string               `json:"network"`
	Tx      string               `json:"tx"`
	Inputs  []unsignedInputJSON  `json:"inputs"`
	Change  []unsignedChangeJSON `json:"change"`
	Fee     uint64               `json:"fee"`
}

type unsignedInputJSON struct {
	TxID    chain.Hash `json:"txid"`
	Vout    uint32     `json:"vout"`
	Value   uint64     `json:"value"`
	Address string     `json:"address"`
	Path    string     `json:"path"`
}

type unsignedChangeJSON struct {
	Vout uint32 `json:"vout"`
	Path string `json:"path"`
}

// Fee is what the inputs pay beyond the outputs.
func (u *Unsigned) Fee() uint64 {
	var in uint64
	for _, i := range u.Inputs {
		in += i.Value
	}
	out, _ := u.Tx.TotalOut()
	return in - out
}

// Spent are the outputs the inputs spend, for chain.NewSigHasher.
func (u *Unsigned) Spent(p *chain.Params) ([]chain.TxOut, error) {
	out := make([]chain.TxOut, len(u.Inputs))
	for i, in := range u.Inputs {
		pkh, err := p.DecodeAddress(in.Address)
		if err != nil {
			return nil, err
		}
		out[i] = chain.TxOut{Value: in.Value, PubKeyHash: pkh}
	}
	return out, nil
}

// Complete reports whether every input has a witness.
func (u *Unsigned) Complete() bool {
	for _, in := range u.Tx.Inputs {
		if len(in.Witness) == 0 {
			return false
		}
	}
	return len(u.Tx.Inputs) > 0
}

// Encode writes the file.
func (u *Unsigned) Encode() ([]byte, error) {
	f := unsignedFile{Version: UnsignedVersion, Network: u.Network, Tx: hex.EncodeToString(u.Tx.Encode()), Fee: u.Fee(),
		Inputs: make([]unsignedInputJSON, len(u.Inputs)), Change: make([]unsignedChangeJSON, len(u.Change))}
	for i, in := range u.Inputs {
		f.Inputs[i] = unsignedInputJSON{TxID: in.OutPoint.TxID, Vout: in.OutPoint.Index, Value: in.Value, Address: in.Address, Path: in.Path}
	}
	for i, c := range u.Change {
		f.Change[i] = unsignedChangeJSON(c)
	}
	b, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeUnsigned reads and checks a file for network p: every field must
// agree with the transaction, and the values must add up to the fee stated.
func DecodeUnsigned(data []byte, p *chain.Params) (*Unsigned, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadUnsigned, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f unsignedFile
	if err := dec.Decode(&f); err != nil {
		return nil, bad("%v", err)
	}
	if f.Version != UnsignedVersion {
		return nil, bad("version %d, this program reads %d", f.Version, UnsignedVersion)
	}
	if f.Network != p.Name {
		return nil, bad("made for network %q, the wallet is on %q", f.Network, p.Name)
	}
	raw, err := hex.DecodeString(f.Tx)
	if err != nil {
		return nil, bad("tx: %v", err)
	}
	tx, err := chain.DecodeTx(raw)
	if err != nil {
		return nil, bad("tx: %v", err)
	}
	// Unsigned inputs are checked as if signed with the longest witness.
	if err := chain.CheckTxSanity(withLongestSignatures(tx)); err != nil {
		return nil, bad("tx: %v", err)
	}
	if len(f.Inputs) != len(tx.Inputs) {
		return nil, bad("%d inputs described for %d in the transaction", len(f.Inputs), len(tx.Inputs))
	}
	u := &Unsigned{Network: f.Network, Tx: tx}
	var in uint64
	for i, fi := range f.Inputs {
		op := chain.OutPoint{TxID: fi.TxID, Index: fi.Vout}
		if op != tx.Inputs[i].PrevOut {
			return nil, bad("input %d is described as %s but spends %s", i, op, tx.Inputs[i].PrevOut)
		}
		if fi.Value > chain.MaxMoney || in+fi.Value > chain.MaxMoney {
			return nil, bad("input values exceed the money supply")
		}
		in += fi.Value
		if _, err := p.DecodeAddress(fi.Address); err != nil {
			return nil, bad("input %d: %v", i, err)
		}
		u.Inputs = append(u.Inputs, UnsignedInput{OutPoint: op, Value: fi.Value, Address: fi.Address, Path: fi.Path})
	}
	out, _ := tx.TotalOut() // CheckTxSanity bounded it
	if in < out || in-out != f.Fee {
		return nil, bad("the inputs less the outputs are not the fee of %d stated", f.Fee)
	}
	seen := make(map[uint32]bool)
	for _, c := range f.Change {
		if int(c.Vout) >= len(tx.Outputs) || seen[c.Vout] {
			return nil, bad("change output %d does not exist or is listed twice", c.Vout)
		}
		seen[c.Vout] = true
		u.Change = append(u.Change, UnsignedChange(c))
	}
	return u, nil
}

// withLongestSignatures returns a copy of tx whose unsigned inputs carry the
// longest witness a signature makes: tx as it will be once signed, or longer.
func withLongestSignatures(tx *chain.Tx) *chain.Tx {
	sized := *tx
	sized.Inputs = make([]chain.TxIn, len(tx.Inputs))
	for i, in := range tx.Inputs {
		sized.Inputs[i] = in
		if len(in.Witness) == 0 {
			sized.Inputs[i].Witness = longestSignature()
		}
	}
	return &sized
}

// keyAt derives the key at path of the wallet's account, refusing a path of
// another account or coin.
func (w *Wallet) keyAt(path string) (*Key, error) {
	var purpose, coin, account, branch, index uint32
	if _, err := fmt.Sscanf(path, "m/%d'/%d'/%d'/%d/%d", &purpose, &coin, &account, &branch, &index); err != nil {
		return nil, fmt.Errorf("key path %q: %w", path, err)
	}
	k, err := w.Key(Branch(branch), index)
	if err != nil {
		return nil, err
	}
	if k.Path != path {
		return nil, fmt.Errorf("key path %q is not of this wallet's account (%s)", path, k.Path)
	}
	return k, nil
}

// Sign signs every input of u with the wallet's keys, after checking that
// each input's path derives the key its address pays to and that each change
// output pays the key its path derives: a file that lies about either is
// refused before anything is signed.
func (w *Wallet) Sign(u *Unsigned) error {
	if w.WatchOnly() {
		return ErrWatchOnly
	}
	spent, err := u.Spent(w.params)
	if err != nil {
		return err
	}
	// Whoever wrote the file chose the fee; past what a node relays by
	// default it is a mistake or a theft in miners' favour.
	if size := uint64(withLongestSignatures(u.Tx).SerializeSize()); u.Fee() > MaxFeeRate*size {
		return fmt.Errorf("the fee of %s QRY is over %d base units per byte of the %d-byte signed transaction",
			FormatAmount(u.Fee()), MaxFeeRate, size)
	}
	keys := make([]*Key, len(u.Inputs))
	for i, in := range u.Inputs {
		k, err := w.keyAt(in.Path)
		if err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
		if k.PubKeyHash != spent[i].PubKeyHash {
			return fmt.Errorf("input %d: the key at %s does not pay to %s", i, in.Path, in.Address)
		}
		keys[i] = k
	}
	nextChange := w.NextIndex(Change)
	for _, c := range u.Change {
		k, err := w.keyAt(c.Path)
		if err != nil {
			return fmt.Errorf("change output %d: %w", c.Vout, err)
		}
		if k.PubKeyHash != u.Tx.Outputs[c.Vout].PubKeyHash {
			return fmt.Errorf("change output %d does not pay the key at %s", c.Vout, c.Path)
		}
		// A key of ours that no wallet of this seed watches is as good as
		// lost: change on the receive branch, or so far past the last one
		// given out that a restore's gap limit never reaches it.
		if k.Branch != Change || k.Index >= nextChange+GapLimit {
			return fmt.Errorf("change output %d pays %s, which is not within %d of the change addresses this wallet has given out (%d): the wallet would not find it",
				c.Vout, c.Path, GapLimit, nextChange)
		}
		nextChange = max(nextChange, k.Index+1)
	}
	// The signing wallet's counter follows the change it signed, so the
	// next file's change is judged from there and a restore finds them all.
	if err := w.AdvanceTo(Change, nextChange); err != nil {
		return err
	}
	hasher := chain.NewSigHasher(u.Tx, spent)
	for i, k := range keys {
		chain.SignInput(u.Tx, hasher, i, k.PrivKey)
	}
	return nil
}
