package control

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"

	"intransit/tunnel/pqpsk"
)

// BindingExporterLabel is the TLS exporter label of the key binding: each
// end signs the exporter value together with its WireGuard public key, so
// that the signature is valid for this TLS session only.
const BindingExporterLabel = "EXPORTER-intransit-control-key-binding-v1"

const bindingDomain = "intransit control key binding v1\x00"

// bindingMessage is what a Hello's KeySignature signs: a domain string, the
// signer's role in the TLS session (so that a Hello cannot be reflected back
// to its sender), its kind, the exporter, and the WireGuard key.
func bindingMessage(ex pqpsk.Exporter, signer Role, kind Kind, wgKey [32]byte) ([]byte, error) {
	exp, err := ex.ExportKeyingMaterial(BindingExporterLabel, nil, 32)
	if err != nil {
		return nil, fmt.Errorf("export keying material for the key binding: %w", err)
	}
	msg := make([]byte, 0, len(bindingDomain)+2+len(exp)+len(wgKey))
	msg = append(msg, bindingDomain...)
	msg = append(msg, byte(signer), byte(kind))
	msg = append(msg, exp...)
	return append(msg, wgKey[:]...), nil
}

// signBinding signs the binding message with the certificate key.
func signBinding(signer crypto.Signer, msg []byte) ([]byte, error) {
	var (
		sig []byte
		err error
	)
	switch signer.Public().(type) {
	case ed25519.PublicKey:
		sig, err = signer.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		sig, err = signer.Sign(rand.Reader, h[:], crypto.SHA256)
	case *rsa.PublicKey:
		h := sha256.Sum256(msg)
		sig, err = signer.Sign(rand.Reader, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	default:
		return nil, fmt.Errorf("sign key binding: unsupported certificate key type %T", signer.Public())
	}
	if err != nil {
		return nil, fmt.Errorf("sign key binding: %w", err)
	}
	return sig, nil
}

// verifyBinding checks a key binding signature against the peer
// certificate's public key.
func verifyBinding(pub crypto.PublicKey, msg, sig []byte) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if ed25519.Verify(k, msg, sig) {
			return nil
		}
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		if ecdsa.VerifyASN1(k, h[:], sig) {
			return nil
		}
	case *rsa.PublicKey:
		h := sha256.Sum256(msg)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		if rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, opts) == nil {
			return nil
		}
	default:
		return fmt.Errorf("unsupported certificate key type %T", pub)
	}
	return errors.New("signature over the WireGuard key does not verify with the certificate key")
}
