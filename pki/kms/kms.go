// Package kms keeps keys in a PKCS#11 token (an HSM, a smart card, or
// SoftHSM): CA signing keys generated inside the token and used through
// crypto.Signer, and AES keys that seal data keys (a master key). The keys
// are made sensitive and not extractable; nothing of them ever reaches the
// process, let alone the disk. Tokens are named by RFC 7512 URIs (see URI).
package kms

import (
	"crypto"
	"errors"

	"intransit/pki/keywrap"
)

// Errors of a Keys; test with errors.Is.
var (
	// ErrExists means a key with the label is in the token already.
	ErrExists = errors.New("a key with this label exists in the token")
	// ErrNotFound means no key has the label.
	ErrNotFound = errors.New("no key with this label in the token")
	// ErrUnsupported means the token or this package cannot make the key
	// type asked for.
	ErrUnsupported = errors.New("key type not supported in a token")
)

// Keys is a place where keys are made and used but never leave.
//
// Contract, for every implementation:
//   - GenerateSigner makes a key pair of type alg ("ecdsa-p256",
//     "ecdsa-p384", "rsa-3072", "rsa-4096"; others give ErrUnsupported)
//     labelled label, its private half sensitive, never extractable and
//     good for signing only (no decryption, unwrapping or derivation). A
//     label already used by any key gives ErrExists and changes nothing.
//   - Signer returns the key pair labelled label; ErrNotFound when there is
//     none. Its Public is the pair's public key; Sign takes a digest and
//     crypto.SignerOpts as crypto.Signer says (ECDSA ASN.1 signatures; RSA
//     PKCS #1 v1.5, or PSS when opts is *rsa.PSSOptions), and every
//     signature verifies under Public.
//   - GenerateSecret makes an AES-256 key labelled label, sensitive and
//     never extractable, with the same label rule; Secret returns it. The
//     keywrap.Sealer of either seals with AES-256-GCM under a fresh random
//     nonce per call, and Open fails for any altered byte or other
//     additional data.
//   - Delete removes the keys labelled label (a failed set-up cleans up
//     with it); no key with the label is not an error.
//   - An error of the device (token removed, session lost, wrong PIN) is
//     returned wrapped with what was being done, never a panic.
//   - Methods are safe for concurrent use; none may be called after Close.
type Keys interface {
	GenerateSigner(label, alg string) (crypto.Signer, error)
	Signer(label string) (crypto.Signer, error)
	GenerateSecret(label string) (keywrap.Sealer, error)
	Secret(label string) (keywrap.Sealer, error)
	Delete(label string) error
	Close() error
}
