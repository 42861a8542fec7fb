//go:build cgo

package kms

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"intransit/internal/secretfile"
	"intransit/pki/keywrap"
)

// Token is an open PKCS#11 token: the Keys of one token, through
// crypto11. Keys it makes carry their label as CKA_LABEL and CKA_ID.
type Token struct {
	uri URI
	ctx *crypto11.Context
}

var _ Keys = (*Token)(nil)

// Open loads u's module, finds the token labelled u.Token and logs in with
// the PIN read from u.PINFile (refused when group or others may access
// it). A missing module, a missing token and a wrong PIN each give an error
// saying which.
func Open(u URI) (*Token, error) {
	pin, err := secretfile.Read("PKCS#11 PIN file", u.PINFile)
	if err != nil {
		return nil, err
	}
	defer clear(pin)
	pin = bytes.TrimRight(pin, "\r\n")
	if len(pin) == 0 {
		return nil, fmt.Errorf("PKCS#11 PIN file %s is empty", u.PINFile)
	}
	if _, err := os.Stat(u.ModulePath); err != nil {
		return nil, fmt.Errorf("PKCS#11 module %s: %w (install it, or fix module-path in the URI)", u.ModulePath, err)
	}
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:            u.ModulePath,
		TokenLabel:      u.Token,
		Pin:             string(pin),
		MaxSessions:     16,
		PoolWaitTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, openError(u, err)
	}
	return &Token{uri: u, ctx: ctx}, nil
}

func openError(u URI, err error) error {
	var p11 pkcs11.Error
	if errors.As(err, &p11) {
		switch p11 {
		case pkcs11.CKR_PIN_INCORRECT:
			return fmt.Errorf("PKCS#11 token %q: wrong PIN (from %s): %w", u.Token, u.PINFile, err)
		case pkcs11.CKR_PIN_LOCKED:
			return fmt.Errorf("PKCS#11 token %q: the PIN is locked after too many wrong tries: %w", u.Token, err)
		}
	}
	if err.Error() == "could not find PKCS#11 token" {
		return fmt.Errorf("PKCS#11 module %s has no token labelled %q (softhsm2-util --show-slots lists them)", u.ModulePath, u.Token)
	}
	return fmt.Errorf("PKCS#11 token %q in %s: %w", u.Token, u.ModulePath, err)
}

// URI returns the token's URI (without an object).
func (t *Token) URI() URI { return t.uri.WithObject("") }

// GenerateSigner implements Keys.
func (t *Token) GenerateSigner(label, alg string) (crypto.Signer, error) {
	if err := t.free(label); err != nil {
		return nil, err
	}
	id := []byte(label)
	pub, err := crypto11.NewAttributeSetWithIDAndLabel(id, id)
	if err != nil {
		return nil, err
	}
	// A CA key signs and does nothing else: no decryption, unwrapping or
	// derivation, which tokens otherwise allow by default.
	priv := pub.Copy()
	for _, a := range []crypto11.AttributeType{pkcs11.CKA_DECRYPT, pkcs11.CKA_UNWRAP, pkcs11.CKA_DERIVE} {
		if err := priv.Set(a, false); err != nil {
			return nil, err
		}
	}
	var s crypto.Signer
	switch alg {
	case "ecdsa-p256":
		s, err = t.ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P256())
	case "ecdsa-p384":
		s, err = t.ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P384())
	case "rsa-3072":
		s, err = t.ctx.GenerateRSAKeyPairWithAttributes(pub, priv, 3072)
	case "rsa-4096":
		s, err = t.ctx.GenerateRSAKeyPairWithAttributes(pub, priv, 4096)
	default:
		return nil, fmt.Errorf("%w: %s (a token key is ecdsa-p256, ecdsa-p384, rsa-3072 or rsa-4096)", ErrUnsupported, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key %q in token %q: %w", alg, label, t.uri.Token, err)
	}
	return t.signer(s, label), nil
}

// signer wraps a token key so that its errors say which key and token.
func (t *Token) signer(s crypto.Signer, label string) crypto.Signer {
	return &tokenSigner{Signer: s, what: fmt.Sprintf("key %q in PKCS#11 token %q", label, t.uri.Token)}
}

type tokenSigner struct {
	crypto.Signer
	what string
}

// Sign implements crypto.Signer.
func (s *tokenSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", s.what, err)
	}
	return sig, nil
}

// Signer implements Keys.
func (t *Token) Signer(label string) (crypto.Signer, error) {
	ss, err := t.ctx.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("find key %q in token %q: %w", label, t.uri.Token, err)
	}
	if len(ss) == 0 {
		return nil, fmt.Errorf("%w: %q in token %q", ErrNotFound, label, t.uri.Token)
	}
	return t.signer(ss[0], label), nil
}

// GenerateSecret implements Keys.
func (t *Token) GenerateSecret(label string) (keywrap.Sealer, error) {
	if err := t.free(label); err != nil {
		return nil, err
	}
	id := []byte(label)
	k, err := t.ctx.GenerateSecretKeyWithLabel(id, id, 256, crypto11.CipherAES)
	if err != nil {
		return nil, fmt.Errorf("generate AES-256 key %q in token %q: %w", label, t.uri.Token, err)
	}
	return newSealer(k, label)
}

// Secret implements Keys.
func (t *Token) Secret(label string) (keywrap.Sealer, error) {
	ks, err := t.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("find key %q in token %q: %w", label, t.uri.Token, err)
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("%w: %q in token %q", ErrNotFound, label, t.uri.Token)
	}
	return newSealer(ks[0], label)
}

// Delete implements Keys.
func (t *Token) Delete(label string) error {
	ss, err := t.ctx.FindKeyPairs(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("find key %q in token %q: %w", label, t.uri.Token, err)
	}
	for _, s := range ss {
		if err := s.Delete(); err != nil {
			return fmt.Errorf("delete key %q from token %q: %w", label, t.uri.Token, err)
		}
	}
	ks, err := t.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("find key %q in token %q: %w", label, t.uri.Token, err)
	}
	for _, k := range ks {
		if err := k.Delete(); err != nil {
			return fmt.Errorf("delete key %q from token %q: %w", label, t.uri.Token, err)
		}
	}
	return nil
}

// Close logs out and releases the module.
func (t *Token) Close() error { return t.ctx.Close() }

// free refuses a label some key of the token already has.
func (t *Token) free(label string) error {
	if label == "" {
		return errors.New("a token key needs a label")
	}
	pks, err := t.ctx.FindPrivateKeys(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("look for key %q in token %q: %w", label, t.uri.Token, err)
	}
	ks, err := t.ctx.FindKeys(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("look for key %q in token %q: %w", label, t.uri.Token, err)
	}
	if len(pks)+len(ks) > 0 {
		return fmt.Errorf("%w: %q in token %q; refusing to make a second one", ErrExists, label, t.uri.Token)
	}
	return nil
}

// sealer is AES-256-GCM with a token key; the output is nonce || sealed.
type sealer struct {
	aead  cipher.AEAD
	label string
}

func newSealer(k *crypto11.SecretKey, label string) (*sealer, error) {
	g, err := k.NewGCM()
	if err != nil {
		return nil, fmt.Errorf("AES-GCM with token key %q: %w", label, err)
	}
	return &sealer{aead: g, label: label}, nil
}

// Seal implements keywrap.Sealer. crypto11 panics when the device fails
// under cipher.AEAD's Seal, which has no error; that panic is returned as
// an error here.
func (s *sealer) Seal(plaintext, ad []byte) (out []byte, err error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("read nonce: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("seal with token key %q: %v", s.label, r)
		}
	}()
	return s.aead.Seal(nonce, nonce, plaintext, ad), nil
}

// Open implements keywrap.Sealer.
func (s *sealer) Open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed data is too short")
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, fmt.Errorf("open with token key %q: %w", s.label, err)
	}
	return pt, nil
}
