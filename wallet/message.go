package wallet

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/quarrychain/quarry/chain"
)

// messageMagic tags signed messages, as Core's "Bitcoin Signed Message:\n",
// so a message signature can never be a transaction signature.
const messageMagic = "Quarry Signed Message:\n"

// ErrBadMessageSignature is returned for a signature that is malformed or
// not made by the address's key.
var ErrBadMessageSignature = errors.New("message signature does not verify")

// MessageHash is the hash a message signature signs, Core's construction with
// Quarry's tag: SHA-256d(compact size | tag | compact size | message).
func MessageHash(message string) chain.Hash {
	var b []byte
	b = chain.AppendCompactSize(b, uint64(len(messageMagic)))
	b = append(b, messageMagic...)
	b = chain.AppendCompactSize(b, uint64(len(message)))
	b = append(b, message...)
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}

// SignMessage signs message with key: base64 of a 65-byte recoverable
// signature (a header byte 31-34 for a compressed key, then r and s), as
// Core's signmessage gives, so the verifier needs only the address.
func SignMessage(key *secp256k1.PrivateKey, message string) string {
	h := MessageHash(message)
	return base64.StdEncoding.EncodeToString(ecdsa.SignCompact(key, h[:], true))
}

// VerifyMessage checks that signature (from SignMessage) signs message with
// the key paying to address on network p.
func VerifyMessage(p *chain.Params, address, signature, message string) error {
	pkh, err := p.DecodeAddress(address)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("%w: not base64", ErrBadMessageSignature)
	}
	h := MessageHash(message)
	pub, compressed, err := ecdsa.RecoverCompact(sig, h[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessageSignature, err)
	}
	if !compressed || chain.PubKeyHash(pub.SerializeCompressed()) != pkh {
		return fmt.Errorf("%w: signed by another key than %s's", ErrBadMessageSignature, address)
	}
	return nil
}
