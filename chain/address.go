package chain

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"golang.org/x/crypto/ripemd160" //lint:ignore SA1019 RIPEMD-160 is fixed by the address format, as in Bitcoin.
)

// ErrBadAddress is wrapped by every address decoding failure.
var ErrBadAddress = errors.New("invalid address")

// PubKeyHash is RIPEMD-160(SHA-256(pubKey)), the 20 bytes an output pays to.
func PubKeyHash(pubKey []byte) [PubKeyHashSize]byte {
	sha := sha256.Sum256(pubKey)
	h := ripemd160.New()
	h.Write(sha[:])
	var out [PubKeyHashSize]byte
	copy(out[:], h.Sum(nil))
	return out
}

// EncodeAddress returns the bech32 address of a key hash on the network p: witness
// version 0 and the 20-byte hash, as a P2WPKH address is built.
func (p *Params) EncodeAddress(pkh [PubKeyHashSize]byte) string {
	data, err := bech32.ConvertBits(pkh[:], 8, 5, true)
	if err != nil {
		// Regrouping 20 bytes into 5-bit groups with padding cannot fail.
		panic(err)
	}
	addr, err := bech32.Encode(p.AddressHRP, append([]byte{0}, data...))
	if err != nil {
		panic(err)
	}
	return addr
}

// DecodeAddress returns the key hash an address of network p pays to. An address
// of another Quarry network is refused by name.
func (p *Params) DecodeAddress(addr string) ([PubKeyHashSize]byte, error) {
	var pkh [PubKeyHashSize]byte
	hrp, data, version, err := bech32.DecodeGeneric(addr)
	if err != nil {
		return pkh, fmt.Errorf("%w %q: %v", ErrBadAddress, addr, err)
	}
	if hrp != p.AddressHRP {
		for _, other := range []*Params{MainParams, TestnetParams, RegtestParams} {
			if hrp == other.AddressHRP {
				return pkh, fmt.Errorf("%w %q: it is a %s address, this is %s", ErrBadAddress, addr, other.Name, p.Name)
			}
		}
		return pkh, fmt.Errorf("%w %q: prefix %q is not %q", ErrBadAddress, addr, hrp, p.AddressHRP)
	}
	if version != bech32.Version0 || len(data) == 0 || data[0] != 0 {
		return pkh, fmt.Errorf("%w %q: only witness version 0 with bech32 checksum is used", ErrBadAddress, addr)
	}
	program, err := bech32.ConvertBits(data[1:], 5, 8, false)
	if err != nil {
		return pkh, fmt.Errorf("%w %q: %v", ErrBadAddress, addr, err)
	}
	if len(program) != PubKeyHashSize {
		return pkh, fmt.Errorf("%w %q: program is %d bytes, want %d", ErrBadAddress, addr, len(program), PubKeyHashSize)
	}
	copy(pkh[:], program)
	return pkh, nil
}
