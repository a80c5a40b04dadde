// Package wallet owns the model of a Quarry wallet: the BIP39 mnemonic and the
// seed made from it, BIP32 key derivation on a BIP84-style path, addresses, the
// encrypted keystore file with its address counters, amount parsing and
// formatting, the wallet's coins as a node shows them (View), the file of its
// unconfirmed sends (PendingSends), coin selection, and building and signing
// transactions (BuildSend: several payments, the fee from the amounts, spend
// everything, chosen coins).
//
// It reaches a node only through the Node interface, which the caller
// (cmd/wallet, over JSON-RPC) implements; the caller broadcasts what BuildSend
// returns. It imports chain only for transaction types, key hashes, addresses
// and signing, so that the rules a signature must satisfy live in one place.
//
// # Keys
//
// A wallet is one BIP39 mnemonic (24 words from 256 bits of crypto/rand when
// created here; any valid BIP39 length when restored) and an optional BIP39
// passphrase. Keys come from one account on the path
//
//	m/84'/coin'/0'/branch/index
//
// where branch 0 receives and branch 1 takes change, as in BIP84, and coin is
// 0 on main and 1 on testnet and regtest. That is what Bitcoin does (SLIP-44
// gives 1 to every test network), so a Quarry main wallet and a Quarry test
// wallet made from one mnemonic never share keys, and Bitcoin tools can
// reproduce Quarry's keys from the mnemonic for recovery.
//
// # Keystore
//
// One JSON file per wallet (see Create and Open) holds the mnemonic encrypted
// with a key stretched from the passphrase by argon2id, sealed with
// XChaCha20-Poly1305. Every other field is authenticated as associated data,
// so any edit to the file is detected. The file is replaced atomically and
// locked against a second process for as long as a Wallet is open.
package wallet
