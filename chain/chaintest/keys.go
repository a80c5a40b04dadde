package chaintest

import (
	"bytes"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// OtherKey is a fixed key that no Generator makes: a spend signed with it
// breaks the rule that the key must hash to the spent output's.
func OtherKey() *secp256k1.PrivateKey {
	var seed [32]byte
	seed[0], seed[31] = 0x22, 0x33
	return secp256k1.PrivKeyFromBytes(seed[:])
}

// HighS re-encodes a DER signature with S replaced by N-S: the same signature
// to ECDSA, but the malleable form the low-S rule forbids.
func HighS(t testing.TB, der []byte) []byte {
	t.Helper()
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		t.Fatal(err)
	}
	r, s := sig.R(), sig.S()
	s.Negate()
	// Serialize would make S low again: encode by hand, each integer minimal
	// and positive.
	rb, sb := r.Bytes(), s.Bytes()
	derInt := func(b []byte) []byte {
		b = bytes.TrimLeft(b, "\x00")
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{0x02, byte(len(b))}, b...)
	}
	body := append(derInt(rb[:]), derInt(sb[:])...)
	return append([]byte{0x30, byte(len(body))}, body...)
}
