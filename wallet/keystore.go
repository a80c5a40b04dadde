package wallet

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/atomicfile"
)

// Errors of the keystore, each wrapped with the file's name.
var (
	// ErrWrongPassphrase: the passphrase does not unlock the file. Nothing is
	// changed.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrDamaged: the file is not a well-formed wallet file, or it fails
	// authentication. It is left as it is, for the user to restore from a
	// backup or the mnemonic.
	ErrDamaged = errors.New("damaged")
	// ErrInUse: another process has the wallet open.
	ErrInUse = errors.New("in use by another process")
	// ErrWrongNetwork: the file belongs to another network than the one asked for.
	ErrWrongNetwork = errors.New("wrong network")
	// ErrUnsupportedVersion: the file was written by a newer format than this
	// program reads.
	ErrUnsupportedVersion = errors.New("unsupported wallet file version")
	// ErrExists: Create will not overwrite a wallet file.
	ErrExists = errors.New("already exists")
	// ErrClosed: the Wallet was closed and its keys wiped.
	ErrClosed = errors.New("wallet is closed")
)

// KDFParams are the argon2id parameters that stretch a passphrase into the
// file's key. They are stored in the file, so a file stays readable whatever
// the defaults become.
type KDFParams struct {
	Time    uint32 // passes over the memory
	Memory  uint32 // KiB
	Threads uint8  // lanes; part of the result, not only of the speed
}

// DefaultKDF is argon2id with 4 passes over 128 MiB in 4 lanes: about 0.37 s
// (0.4 s of CPU) on the 2-core machine Quarry was developed on. That is slow
// enough that each guess at the passphrase of a stolen file costs 128 MiB and
// 0.4 s of CPU, and fast enough for a CLI that unlocks on every command. Four
// lanes rather than two let machines with more cores unlock faster without
// lowering the memory cost.
var DefaultKDF = KDFParams{Time: 4, Memory: 128 << 10, Threads: 4}

// Bounds on the KDF parameters a file may carry: a damaged or hostile file
// must not make Open allocate or compute without limit.
const (
	maxKDFTime   = 64
	maxKDFMemory = 1 << 20 // KiB: 1 GiB
)

func (k KDFParams) check() error {
	switch {
	case k.Time < 1 || k.Time > maxKDFTime:
		return fmt.Errorf("argon2id time %d is outside 1..%d", k.Time, maxKDFTime)
	case k.Threads < 1:
		return errors.New("argon2id threads must be at least 1")
	case k.Memory < 8*uint32(k.Threads) || k.Memory > maxKDFMemory:
		return fmt.Errorf("argon2id memory %d KiB is outside %d..%d KiB", k.Memory, 8*uint32(k.Threads), maxKDFMemory)
	}
	return nil
}

// Option changes how Create makes a wallet file.
type Option func(*createOptions)

type createOptions struct {
	kdf KDFParams
}

// WithKDF sets the argon2id parameters of a new file, for tests (which want
// them cheap) or for users who want them dearer than DefaultKDF.
func WithKDF(k KDFParams) Option {
	return func(o *createOptions) { o.kdf = k }
}

// File format, version 1.
const (
	fileVersion  = 1
	kdfName      = "argon2id"
	cipherName   = "xchacha20poly1305"
	saltSize     = 16
	keyCheckSize = sha256.Size
	// maxFileSize is far above any real file (about 1 KiB); it bounds what
	// Open reads from a file that is not a wallet at all.
	maxFileSize = 1 << 20
)

// walletFile is the JSON of a keystore file. Nonce and Ciphertext seal a
// secret; every other field is associated data of the seal (see aad).
type walletFile struct {
	Version     int     `json:"version"`
	Network     string  `json:"network"`
	Created     string  `json:"created"` // RFC 3339
	NextReceive uint32  `json:"next_receive"`
	NextChange  uint32  `json:"next_change"`
	KDF         fileKDF `json:"kdf"`
	// KeyCheck tells a wrong passphrase from a damaged file. It reveals no more
	// than the ciphertext does: both let a thief test a guess at the price of
	// one argon2id run.
	KeyCheck   []byte `json:"key_check"`
	Cipher     string `json:"cipher"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

type fileKDF struct {
	Name    string `json:"name"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory"` // KiB
	Threads uint8  `json:"threads"`
	Salt    []byte `json:"salt"`
}

func (k *fileKDF) params() KDFParams {
	return KDFParams{Time: k.Time, Memory: k.Memory, Threads: k.Threads}
}

// secret is the plaintext of the seal.
type secret struct {
	Mnemonic       string `json:"mnemonic"`
	SeedPassphrase string `json:"seed_passphrase"`
	// XPub is set, and Mnemonic empty, in a watch-only wallet.
	XPub string `json:"xpub,omitempty"`
}

// decodeFile parses and checks a keystore file without a passphrase. Errors
// wrap ErrUnsupportedVersion for a newer format, and otherwise say why the
// file is damaged.
func decodeFile(data []byte) (*walletFile, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%d bytes, far more than a wallet file holds", len(data))
	}
	// The version is read on its own first, so a newer file is reported as
	// newer rather than as damaged because of fields this version lacks.
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("not a wallet file: %w", err)
	}
	switch {
	case v.Version == nil:
		return nil, errors.New("no format version")
	case *v.Version > fileVersion:
		return nil, fmt.Errorf("%w %d (this program reads version %d)", ErrUnsupportedVersion, *v.Version, fileVersion)
	case *v.Version != fileVersion:
		return nil, fmt.Errorf("format version %d does not exist", *v.Version)
	}
	// json.Unmarshal above refused data after the first value, so one
	// Decode reads the whole file.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f walletFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a version %d wallet file: %w", fileVersion, err)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *walletFile) check() error {
	if _, err := chain.ParamsByName(f.Network); err != nil {
		return err
	}
	if _, err := time.Parse(time.RFC3339, f.Created); err != nil {
		return fmt.Errorf("creation time: %w", err)
	}
	for _, c := range []struct {
		name string
		next uint32
	}{{"next_receive", f.NextReceive}, {"next_change", f.NextChange}} {
		if c.next > hdkeychain.HardenedKeyStart {
			return fmt.Errorf("%s %d is past the last address index", c.name, c.next)
		}
	}
	if f.KDF.Name != kdfName {
		return fmt.Errorf("key derivation %q, want %q", f.KDF.Name, kdfName)
	}
	if err := f.KDF.params().check(); err != nil {
		return err
	}
	if f.Cipher != cipherName {
		return fmt.Errorf("cipher %q, want %q", f.Cipher, cipherName)
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"salt", len(f.KDF.Salt), saltSize},
		{"key_check", len(f.KeyCheck), keyCheckSize},
		{"nonce", len(f.Nonce), chacha20poly1305.NonceSizeX},
	} {
		if c.got != c.want {
			return fmt.Errorf("%s is %d bytes, want %d", c.name, c.got, c.want)
		}
	}
	if len(f.Ciphertext) <= chacha20poly1305.Overhead {
		return fmt.Errorf("ciphertext of %d bytes is too short to hold a mnemonic", len(f.Ciphertext))
	}
	return nil
}

func (f *walletFile) encode() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// aadPrefix separates this use of the cipher from any other.
const aadPrefix = "quarry wallet file\x00"

// aad is the associated data of the seal: every field but the nonce and the
// ciphertext, so changing any of them (say, lowering next_receive to make the
// wallet reuse addresses) makes the file fail to open. It is a fixed binary
// layout rather than the JSON, so it does not depend on how JSON is written.
func (f *walletFile) aad() []byte {
	b := []byte(aadPrefix)
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(f.Version))
	str(f.Network)
	str(f.Created)
	b = binary.BigEndian.AppendUint32(b, f.NextReceive)
	b = binary.BigEndian.AppendUint32(b, f.NextChange)
	str(f.KDF.Name)
	b = binary.BigEndian.AppendUint32(b, f.KDF.Time)
	b = binary.BigEndian.AppendUint32(b, f.KDF.Memory)
	b = append(b, f.KDF.Threads)
	str(string(f.KDF.Salt))
	str(string(f.KeyCheck))
	str(f.Cipher)
	return b
}

// fileKeys stretches the passphrase once and splits the result into the
// cipher key and the passphrase check, so neither reveals the other.
func fileKeys(passphrase []byte, k *fileKDF) (key, check []byte) {
	stretched := argon2.IDKey(passphrase, k.Salt, k.Time, k.Memory, k.Threads, 32)
	defer clear(stretched)
	prf := func(label string) []byte {
		m := hmac.New(sha256.New, stretched)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return prf("quarry wallet cipher key"), prf("quarry wallet passphrase check")
}

// seal encrypts plaintext into f under key with a fresh nonce. XChaCha20's
// 192-bit nonces are safe to draw at random for every save.
func (f *walletFile) seal(key, plaintext []byte) error {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("drawing a nonce: %w", err)
	}
	f.Nonce = nonce
	f.Ciphertext = aead.Seal(nil, nonce, plaintext, f.aad())
	return nil
}

func (f *walletFile) open(key []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, f.Nonce, f.Ciphertext, f.aad())
}

// Wallet is an open, unlocked keystore file. It holds the file's lock until
// Close. Its methods are safe for concurrent use.
type Wallet struct {
	path    string
	params  *chain.Params
	lock    *os.File
	created time.Time

	mu        sync.Mutex
	file      walletFile // as last written
	key       []byte     // cipher key, to re-seal when the counters change
	plaintext []byte     // the sealed secret, likewise
	mnemonic  string
	keys      *AccountKeys
	issued    [2][]*Key // keys below the counters, derived on first use
	byHash    map[[chain.PubKeyHashSize]byte]*Key
	closed    bool
}

// Create makes a new wallet file at path for network p, holding mnemonic (see
// NewMnemonic; or a user's words to restore) with the optional BIP39
// seedPassphrase, encrypted under passphrase. It refuses to replace an
// existing file. The directory must exist. The returned Wallet is open and
// holds the lock.
func Create(path string, p *chain.Params, passphrase []byte, mnemonic, seedPassphrase string, opts ...Option) (*Wallet, error) {
	normal, err := CheckMnemonic(mnemonic)
	if err != nil {
		return nil, err
	}
	keys, err := accountOf(normal, seedPassphrase, p)
	if err != nil {
		return nil, err
	}
	return create(path, p, passphrase, secret{Mnemonic: normal, SeedPassphrase: seedPassphrase}, keys, opts)
}

// CreateWatchOnly makes a wallet file that holds no private key: only the
// account's extended public key xpub (Wallet.XPub of the signing wallet). It
// shows balances and builds unsigned transactions; Wallet.Sign and every
// signing send refuse with ErrWatchOnly. The file is encrypted all the same:
// an xpub reveals every address, so the wallet's whole history.
func CreateWatchOnly(path string, p *chain.Params, passphrase []byte, xpub string, opts ...Option) (*Wallet, error) {
	keys, err := AccountFromXPub(xpub, p)
	if err != nil {
		return nil, err
	}
	return create(path, p, passphrase, secret{XPub: xpub}, keys, opts)
}

func create(path string, p *chain.Params, passphrase []byte, s secret, keys *AccountKeys, opts []Option) (*Wallet, error) {
	o := createOptions{kdf: DefaultKDF}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.kdf.check(); err != nil {
		return nil, err
	}
	plaintext, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("drawing a salt: %w", err)
	}
	f := walletFile{
		Version: fileVersion,
		Network: p.Name,
		Created: now.Format(time.RFC3339),
		KDF: fileKDF{
			Name:    kdfName,
			Time:    o.kdf.Time,
			Memory:  o.kdf.Memory,
			Threads: o.kdf.Threads,
			Salt:    salt,
		},
		Cipher: cipherName,
	}
	key, check := fileKeys(passphrase, &f.KDF)
	f.KeyCheck = check
	if err := f.seal(key, plaintext); err != nil {
		return nil, err
	}

	lock, err := lockWallet(path)
	if err != nil {
		return nil, err
	}
	w := &Wallet{
		path: path, params: p, lock: lock, created: now,
		file: f, key: key, plaintext: plaintext, mnemonic: s.Mnemonic, keys: keys,
	}
	if _, err := os.Lstat(path); err == nil {
		w.Close()
		return nil, fmt.Errorf("wallet file %s %w", path, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		w.Close()
		return nil, fmt.Errorf("wallet file %s: %w", path, err)
	}
	if err := w.write(&f); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// Open unlocks the wallet file at path for network p. It changes nothing on
// disk: a wrong passphrase (ErrWrongPassphrase), a damaged file (ErrDamaged),
// a file of another network (ErrWrongNetwork) or one in use by another process
// (ErrInUse) is reported and left as it was.
func Open(path string, p *chain.Params, passphrase []byte) (*Wallet, error) {
	// Looking first keeps a mistyped name from leaving a lock file behind.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening wallet file: %w", err)
	}
	lock, err := lockWallet(path)
	if err != nil {
		return nil, err
	}
	w, err := open(path, p, passphrase)
	if err != nil {
		unlock(lock)
		return nil, err
	}
	w.lock = lock
	return w, nil
}

func open(path string, p *chain.Params, passphrase []byte) (*Wallet, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	f, err := decodeFile(data)
	if errors.Is(err, ErrUnsupportedVersion) {
		return nil, fmt.Errorf("wallet file %s: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("wallet file %s is %w: %w", path, ErrDamaged, err)
	}
	if f.Network != p.Name {
		return nil, fmt.Errorf("wallet file %s belongs to network %s, not %s: %w", path, f.Network, p.Name, ErrWrongNetwork)
	}
	key, check := fileKeys(passphrase, &f.KDF)
	if subtle.ConstantTimeCompare(check, f.KeyCheck) != 1 {
		return nil, fmt.Errorf("wallet file %s: %w", path, ErrWrongPassphrase)
	}
	plaintext, err := f.open(key)
	if err != nil {
		return nil, fmt.Errorf("wallet file %s is %w: it fails authentication, so it was altered after it was written", path, ErrDamaged)
	}
	var s secret
	dec := json.NewDecoder(bytes.NewReader(plaintext))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("wallet file %s is %w: sealed secret: %w", path, ErrDamaged, err)
	}
	var normal string
	var keys *AccountKeys
	if s.Mnemonic == "" && s.XPub != "" {
		if keys, err = AccountFromXPub(s.XPub, p); err != nil {
			return nil, fmt.Errorf("wallet file %s is %w: sealed secret: %w", path, ErrDamaged, err)
		}
	} else {
		if normal, err = CheckMnemonic(s.Mnemonic); err != nil {
			return nil, fmt.Errorf("wallet file %s is %w: sealed secret: %w", path, ErrDamaged, err)
		}
		if keys, err = accountOf(normal, s.SeedPassphrase, p); err != nil {
			return nil, err
		}
	}
	created, _ := time.Parse(time.RFC3339, f.Created) // decodeFile checked it
	return &Wallet{
		path: path, params: p, created: created,
		file: *f, key: key, plaintext: plaintext, mnemonic: normal, keys: keys,
	}, nil
}

func accountOf(mnemonic, seedPassphrase string, p *chain.Params) (*AccountKeys, error) {
	seed, err := Seed(mnemonic, seedPassphrase)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	return NewAccountKeys(seed, p)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening wallet file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading wallet file: %w", err)
	}
	return data, nil
}

// Path is the wallet file's name.
func (w *Wallet) Path() string { return w.path }

// XPub returns the account's extended public key.
func (w *Wallet) XPub() string { return w.keys.XPub() }

// Params are the parameters of the wallet's network.
func (w *Wallet) Params() *chain.Params { return w.params }

// Created is when the wallet file was made, to the second; a rescan for a
// restored wallet need not look at blocks older than that.
func (w *Wallet) Created() time.Time { return w.created }

// WatchOnly reports whether the wallet holds no private key (CreateWatchOnly).
func (w *Wallet) WatchOnly() bool { return w.keys.watchOnly }

// Mnemonic returns the wallet's BIP39 words, for showing once after Create and
// for backups; "" for a watch-only wallet.
func (w *Wallet) Mnemonic() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mnemonic
}

// NextIndex is the index the next NewAddress on branch b gets: every index
// below it has been given out.
func (w *Wallet) NextIndex(b Branch) uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.file.next(b)
}

func (f *walletFile) next(b Branch) uint32 {
	if b == Change {
		return f.NextChange
	}
	return f.NextReceive
}

// NewAddress gives out the next key of branch b (Receive for addresses shown
// to payers, Change for BuildSend's change) and saves the raised counter
// before returning it, so no key is ever given out twice, even after a crash.
func (w *Wallet) NewAddress(b Branch) (*Key, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	index := w.file.next(b)
	k, err := w.keys.Key(b, index)
	if err != nil {
		return nil, err
	}
	if err := w.setNext(b, index+1); err != nil {
		return nil, err
	}
	return k, nil
}

// AdvanceTo raises branch b's counter to next (it never lowers it), as a
// restore does once it has found the last used address on the chain.
func (w *Wallet) AdvanceTo(b Branch, next uint32) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if b != Receive && b != Change {
		return fmt.Errorf("no %s: want receive (0) or change (1)", b)
	}
	if next > hdkeychain.HardenedKeyStart {
		return fmt.Errorf("%s index %d is past the last address index", b, next)
	}
	if next <= w.file.next(b) {
		return nil
	}
	return w.setNext(b, next)
}

// setNext saves the file with b's counter at next; the counter in memory
// changes only once the file on disk has.
func (w *Wallet) setNext(b Branch, next uint32) error {
	f := w.file
	if b == Change {
		f.NextChange = next
	} else {
		f.NextReceive = next
	}
	if err := f.seal(w.key, w.plaintext); err != nil {
		return err
	}
	return w.write(&f)
}

// write replaces the file with f and makes f the wallet's state.
func (w *Wallet) write(f *walletFile) error {
	data, err := f.encode()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(w.path, data, 0o600); err != nil {
		return fmt.Errorf("saving wallet file %s: %w", w.path, err)
	}
	w.file = *f
	return nil
}

// Key derives the key at index on branch b, given out or not.
func (w *Wallet) Key(b Branch, index uint32) (*Key, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	return w.keys.Key(b, index)
}

// Keys returns every key given out so far: the receive keys, then the change
// keys, each in index order. These are the addresses to ask a node about.
func (w *Wallet) Keys() ([]*Key, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.deriveIssued(); err != nil {
		return nil, err
	}
	keys := make([]*Key, 0, len(w.issued[Receive])+len(w.issued[Change]))
	keys = append(keys, w.issued[Receive]...)
	return append(keys, w.issued[Change]...), nil
}

// PrivateKey returns the key of a given-out address with key hash pkh; it
// makes the Wallet a KeySource for BuildSend. Close wipes the key returned.
func (w *Wallet) PrivateKey(pkh [chain.PubKeyHashSize]byte) (*secp256k1.PrivateKey, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.deriveIssued() != nil {
		return nil, false
	}
	k, ok := w.byHash[pkh]
	if !ok || k.PrivKey == nil {
		return nil, false
	}
	return k.PrivKey, true
}

// deriveIssued extends the cache of given-out keys up to the counters.
func (w *Wallet) deriveIssued() error {
	if w.closed {
		return ErrClosed
	}
	if w.byHash == nil {
		w.byHash = make(map[[chain.PubKeyHashSize]byte]*Key)
	}
	for _, b := range []Branch{Receive, Change} {
		for i := uint32(len(w.issued[b])); i < w.file.next(b); i++ {
			k, err := w.keys.Key(b, i)
			if err != nil {
				return err
			}
			w.issued[b] = append(w.issued[b], k)
			w.byHash[k.PubKeyHash] = k
		}
	}
	return nil
}

// Close wipes the wallet's secrets from memory and releases the file's lock.
func (w *Wallet) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.keys.zero()
	clear(w.key)
	clear(w.plaintext)
	for _, keys := range w.issued {
		for _, k := range keys {
			if k.PrivKey != nil {
				k.PrivKey.Zero()
			}
		}
	}
	w.issued = [2][]*Key{}
	w.byHash = nil
	return unlock(w.lock)
}
