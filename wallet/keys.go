package wallet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/cosmos/go-bip39"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/text/unicode/norm"

	"github.com/quarrychain/quarry/chain"
)

// ErrInvalidMnemonic is wrapped by every error about a mnemonic that is not a
// valid BIP39 English sentence.
var ErrInvalidMnemonic = errors.New("invalid mnemonic")

// Derivation path constants: m/Purpose'/coin'/Account'/branch/index.
const (
	// Purpose is BIP84's: Quarry outputs pay to a witness-v0 key hash, the
	// P2WPKH shape BIP84 was defined for.
	Purpose = 84
	// Account is the only account a Quarry wallet uses.
	Account = 0
)

// mnemonicEntropyBits gives 24 words, the most BIP39 allows.
const mnemonicEntropyBits = 256

// Branch selects the chain of an account a key is on.
type Branch uint32

// The two branches of BIP44-style accounts.
const (
	// Receive (BIP44's external chain) holds addresses given out to be paid.
	Receive Branch = 0
	// Change (BIP44's internal chain) holds addresses a wallet pays itself.
	Change Branch = 1
)

// String names the branch as the CLI and errors show it.
func (b Branch) String() string {
	switch b {
	case Receive:
		return "receive"
	case Change:
		return "change"
	}
	return fmt.Sprintf("branch %d", uint32(b))
}

// CoinType is the BIP44 coin type of network p: 0 on main, 1 on every test
// network, as Bitcoin does (SLIP-44), so test keys never equal main keys.
func CoinType(p *chain.Params) uint32 {
	if p.Name == chain.MainParams.Name {
		return 0
	}
	return 1
}

// NewMnemonic returns a fresh 24-word BIP39 mnemonic from crypto/rand.
func NewMnemonic() (string, error) {
	return newMnemonic(rand.Reader)
}

func newMnemonic(random io.Reader) (string, error) {
	entropy := make([]byte, mnemonicEntropyBits/8)
	if _, err := io.ReadFull(random, entropy); err != nil {
		return "", fmt.Errorf("reading entropy for a new mnemonic: %w", err)
	}
	m, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return "", fmt.Errorf("making a mnemonic: %w", err)
	}
	return m, nil
}

// CheckMnemonic validates a BIP39 English mnemonic of 12 to 24 words, checksum
// included, and returns it in the one form its seed is computed from: lower
// case, single spaces. Restoring accepts every BIP39 length, since the words
// may come from another wallet; this package only makes 24-word ones.
func CheckMnemonic(mnemonic string) (string, error) {
	words := strings.Fields(strings.ToLower(norm.NFKD.String(mnemonic)))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return "", fmt.Errorf("%w: %d words, want 12, 15, 18, 21 or 24", ErrInvalidMnemonic, len(words))
	}
	for i, w := range words {
		if _, ok := bip39.ReverseWordMap[w]; !ok {
			return "", fmt.Errorf("%w: word %d, %q, is not in the BIP39 English word list", ErrInvalidMnemonic, i+1, w)
		}
	}
	normal := strings.Join(words, " ")
	if _, err := bip39.MnemonicToByteArray(normal); err != nil {
		return "", fmt.Errorf("%w: the checksum does not match (a word is wrong or out of order)", ErrInvalidMnemonic)
	}
	return normal, nil
}

// Seed returns the 64-byte BIP39 seed of a mnemonic and an optional passphrase
// ("" for none). Both are NFKD-normalised as BIP39 requires, so a passphrase
// typed with composed or decomposed accents gives the same seed as in other
// BIP39 wallets.
func Seed(mnemonic, passphrase string) ([]byte, error) {
	normal, err := CheckMnemonic(mnemonic)
	if err != nil {
		return nil, err
	}
	return bip39.NewSeed(normal, norm.NFKD.String(passphrase)), nil
}

// Key is one derived key with everything needed to pay to it and spend from it.
type Key struct {
	Branch     Branch
	Index      uint32
	Path       string                // as m/84'/1'/0'/0/5
	PrivKey    *secp256k1.PrivateKey // nil in a watch-only wallet
	PubKey     []byte                // 33-byte compressed
	PubKeyHash [chain.PubKeyHashSize]byte
	Address    string
}

// AccountKeys derives the keys of the wallet's one account on a network.
type AccountKeys struct {
	params   *chain.Params
	coin     uint32
	branches [2]*hdkeychain.ExtendedKey
	// xpub is the account's extended public key, BIP32's serialisation with
	// Bitcoin's version bytes (xpub on main, tpub on the test networks).
	xpub string
	// watchOnly is set for keys derived from an xpub: no private keys.
	watchOnly bool
}

// ErrWatchOnly is returned for signing with a watch-only wallet.
var ErrWatchOnly = errors.New("a watch-only wallet has no private keys")

// AccountFromXPub derives the account's public keys from its extended
// public key, as XPub gives it, for network p.
func AccountFromXPub(xpub string, p *chain.Params) (*AccountKeys, error) {
	k, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		return nil, fmt.Errorf("extended public key: %w", err)
	}
	if k.IsPrivate() {
		return nil, errors.New("an extended private key was given: a watch-only wallet takes the xpub (wallet xpub)")
	}
	if want, err := extendedPublic(k, p); err != nil || want != xpub {
		return nil, fmt.Errorf("extended public key is not for network %s (want an %s... key)", p.Name, map[bool]string{true: "xpub", false: "tpub"}[p == chain.MainParams])
	}
	if k.Depth() != 3 {
		return nil, fmt.Errorf("extended public key of depth %d, want an account key (m/84'/coin'/0', depth 3)", k.Depth())
	}
	a := &AccountKeys{params: p, coin: CoinType(p), xpub: xpub, watchOnly: true}
	for _, b := range []Branch{Receive, Change} {
		if a.branches[b], err = k.Derive(uint32(b)); err != nil {
			return nil, fmt.Errorf("BIP32 derivation of branch %d: %w", b, err)
		}
	}
	return a, nil
}

// XPub returns the account's extended public key: what a watch-only wallet
// derives every address from.
func (a *AccountKeys) XPub() string { return a.xpub }

// NewAccountKeys derives the account m/84'/coin'/0' of seed for network p.
func NewAccountKeys(seed []byte, p *chain.Params) (*AccountKeys, error) {
	master, err := newMaster(seed)
	if err != nil {
		return nil, err
	}
	defer master.Zero()
	coin := CoinType(p)
	account, err := derivePath(master, []uint32{
		hdkeychain.HardenedKeyStart + Purpose,
		hdkeychain.HardenedKeyStart + coin,
		hdkeychain.HardenedKeyStart + Account,
	})
	if err != nil {
		return nil, err
	}
	defer account.Zero()
	a := &AccountKeys{params: p, coin: coin}
	if a.xpub, err = extendedPublic(account, p); err != nil {
		return nil, err
	}
	for _, b := range []Branch{Receive, Change} {
		if a.branches[b], err = derivePath(account, []uint32{uint32(b)}); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// extendedPublic serialises k's public half with the network's version bytes.
func extendedPublic(k *hdkeychain.ExtendedKey, p *chain.Params) (string, error) {
	pub, err := k.Neuter()
	if err != nil {
		return "", err
	}
	version := chaincfg.MainNetParams.HDPublicKeyID
	if p != chain.MainParams {
		version = chaincfg.TestNet3Params.HDPublicKeyID
	}
	if pub, err = pub.CloneWithVersion(version[:]); err != nil {
		return "", err
	}
	return pub.String(), nil
}

// newMaster makes the BIP32 master key of seed. The extended-key version bytes
// are Bitcoin main's; they only show in a serialised xprv, which Quarry never
// exports, so they do not need to be Quarry's own.
func newMaster(seed []byte) (*hdkeychain.ExtendedKey, error) {
	master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		return nil, fmt.Errorf("BIP32 master key: %w", err)
	}
	return master, nil
}

// derivePath derives the descendant of k along path (indexes at or above
// hdkeychain.HardenedKeyStart are hardened), with BIP32's standard derivation.
// The keys between k and the result are zeroed; k is the caller's.
func derivePath(k *hdkeychain.ExtendedKey, path []uint32) (*hdkeychain.ExtendedKey, error) {
	start := k
	for _, i := range path {
		child, err := k.Derive(i)
		if k != start {
			k.Zero()
		}
		if err != nil {
			// ErrInvalidChild happens with probability under 2^-127.
			return nil, fmt.Errorf("BIP32 derivation of child %d: %w", i, err)
		}
		k = child
	}
	return k, nil
}

// Key derives the key at index on branch b.
func (a *AccountKeys) Key(b Branch, index uint32) (*Key, error) {
	if b != Receive && b != Change {
		return nil, fmt.Errorf("no %s: want receive (0) or change (1)", b)
	}
	if index >= hdkeychain.HardenedKeyStart {
		return nil, fmt.Errorf("%s index %d is past the last address index %d", b, index, hdkeychain.HardenedKeyStart-1)
	}
	child, err := a.branches[b].Derive(index)
	if err != nil {
		return nil, fmt.Errorf("BIP32 derivation of %s key %d: %w", b, index, err)
	}
	var priv *secp256k1.PrivateKey
	var pubKey *secp256k1.PublicKey
	if a.watchOnly {
		pubKey, err = child.ECPubKey()
	} else if priv, err = child.ECPrivKey(); err == nil {
		pubKey = priv.PubKey()
	}
	if err != nil {
		return nil, fmt.Errorf("%s key %d: %w", b, index, err)
	}
	child.Zero()
	pub := pubKey.SerializeCompressed()
	pkh := chain.PubKeyHash(pub)
	return &Key{
		Branch:     b,
		Index:      index,
		Path:       fmt.Sprintf("m/%d'/%d'/%d'/%d/%d", Purpose, a.coin, Account, uint32(b), index),
		PrivKey:    priv,
		PubKey:     pub,
		PubKeyHash: pkh,
		Address:    a.params.EncodeAddress(pkh),
	}, nil
}

// zero overwrites the branch keys' secrets, so a closed wallet leaves none in
// memory that the garbage collector might keep around.
func (a *AccountKeys) zero() {
	for _, k := range a.branches {
		k.Zero()
	}
}
