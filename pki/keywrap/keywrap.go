// Package keywrap protects private keys at rest with a two-level key
// hierarchy: a master key (from a passphrase through argon2id, or 32 random
// bytes from a key file or the environment) wraps one data key per protected
// key, and each data key (AES-256-GCM) wraps its private key. Changing the
// master re-wraps only the data keys; the protected keys never change.
package keywrap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// FormatVersion is the version of the wrapped-key and master-header formats
// this package writes. Parsing refuses any other version.
const FormatVersion = 1

// KeySize is the size in bytes of master keys and data keys (AES-256).
const KeySize = 32

// ErrWrongSecret means the passphrase or key does not open the master header.
var ErrWrongSecret = errors.New("wrong passphrase or master key")

// SecretKind says what a Secret holds.
type SecretKind string

const (
	// KindPassphrase is a passphrase stretched through argon2id.
	KindPassphrase SecretKind = "passphrase"
	// KindRawKey is a 32-byte key used as the master key directly.
	KindRawKey SecretKind = "key"
	// KindToken is a master key that never leaves a device (a PKCS#11
	// token): it seals and opens data keys through a Sealer.
	KindToken SecretKind = "pkcs11"
)

// Sealer encrypts with a key it never reveals, such as an AES key inside a
// PKCS#11 token.
//
// Contract: Seal returns the plaintext sealed with AES-256-GCM (or an AEAD
// as strong) under a fresh random nonce, authenticating ad; the output is
// self-contained (nonce included). Open returns the plaintext of what Seal
// returned with the same ad, and an error for anything else: another key,
// another ad, any altered byte. Errors of the device are returned, never a
// panic. Both are safe for concurrent use.
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}

// Secret is what an operator or a service supplies to unlock the master key:
// a passphrase or a raw 32-byte key. Its String method never shows the value.
type Secret struct {
	kind  SecretKind
	value []byte
}

// Passphrase returns a Secret holding a passphrase. An empty passphrase is
// refused when used.
func Passphrase(p []byte) Secret {
	return Secret{kind: KindPassphrase, value: append([]byte(nil), p...)}
}

// RawKey returns a Secret holding a raw master key, which must be KeySize bytes.
func RawKey(k []byte) (Secret, error) {
	if len(k) != KeySize {
		return Secret{}, fmt.Errorf("master key is %d bytes, want %d", len(k), KeySize)
	}
	return Secret{kind: KindRawKey, value: append([]byte(nil), k...)}, nil
}

// ParseRawKey accepts a master key as 32 raw bytes, or as 64 hex digits or
// base64 of 32 bytes (surrounding white space ignored), as found in key files
// and environment variables.
func ParseRawKey(b []byte) (Secret, error) {
	if len(b) == KeySize {
		return RawKey(b)
	}
	s := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return RawKey(k)
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == KeySize {
		return RawKey(k)
	}
	return Secret{}, fmt.Errorf("master key must be %d raw bytes, %d hex digits or base64 of %d bytes", KeySize, 2*KeySize, KeySize)
}

// Kind reports what the secret holds.
func (s Secret) Kind() SecretKind { return s.kind }

// String hides the value so a Secret can never be logged by accident.
func (s Secret) String() string { return "keywrap.Secret(" + string(s.kind) + ", hidden)" }

// Wipe overwrites the secret's bytes.
func (s Secret) Wipe() { clear(s.value) }

// KDFParams are the argon2id parameters stretching a passphrase.
type KDFParams struct {
	// Time is the number of passes over memory.
	Time uint32 `json:"time"`
	// MemoryKiB is the memory used, in KiB.
	MemoryKiB uint32 `json:"memory_kib"`
	// Threads is the degree of parallelism.
	Threads uint8 `json:"threads"`
}

// DefaultKDF is the argon2id cost for passphrases: 64 MiB, 3 passes, 2 lanes
// (the second recommendation of RFC 9106, about a quarter second here).
func DefaultKDF() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2} }

func (p KDFParams) validate() error {
	if p.Time < 1 || p.MemoryKiB < 8*uint32(p.Threads) || p.Threads < 1 {
		return fmt.Errorf("argon2id parameters time=%d memory=%dKiB threads=%d are invalid", p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// MasterHeader is the public description of a master key stored beside the
// wrapped keys: how to derive it, and a check value that recognises it. It
// holds nothing that lets anyone derive the key without the secret.
type MasterHeader struct {
	// Version is FormatVersion.
	Version int `json:"version"`
	// Kind is the kind of secret the master key comes from.
	Kind SecretKind `json:"kind"`
	// KDF holds the argon2id parameters (passphrases only).
	KDF *KDFParams `json:"kdf,omitempty"`
	// Salt is the argon2id salt (passphrases only).
	Salt []byte `json:"salt,omitempty"`
	// Check is an HMAC of a fixed label under the master key (for a token
	// master, the label sealed by it), used to tell a wrong secret before
	// any key is touched.
	Check []byte `json:"check"`
	// Token is the RFC 7512 URI of the key for a token master (KindToken).
	Token string `json:"token,omitempty"`
}

// Master is an unlocked master key: raw key bytes, or a Sealer over a key
// held in a device. Wipe it when done.
type Master struct {
	key    []byte
	sealer Sealer
}

// NewTokenMaster makes a master key of the key behind s (a PKCS#11 AES key
// named by the URI uri) and returns it with its header.
func NewTokenMaster(s Sealer, uri string) (*Master, MasterHeader, error) {
	check, err := s.Seal([]byte(checkLabel), aad("check", ""))
	if err != nil {
		return nil, MasterHeader{}, fmt.Errorf("seal the master check with the token key: %w", err)
	}
	return &Master{sealer: s}, MasterHeader{Version: FormatVersion, Kind: KindToken, Check: check, Token: uri}, nil
}

// OpenTokenMaster returns the master described by h (a KindToken header)
// over s. It fails with an error wrapping ErrWrongSecret when the key
// behind s is not the one h was made with.
func OpenTokenMaster(h MasterHeader, s Sealer) (*Master, error) {
	if h.Version != FormatVersion {
		return nil, fmt.Errorf("master header version %d is not supported (want %d)", h.Version, FormatVersion)
	}
	if h.Kind != KindToken {
		return nil, fmt.Errorf("%w: this master key comes from a %s, not a token", ErrWrongSecret, h.Kind)
	}
	m := &Master{sealer: s}
	if !m.matches(h) {
		return nil, fmt.Errorf("%w: the token key %s is not the one this keyring was made with", ErrWrongSecret, h.Token)
	}
	return m, nil
}

// matches reports whether m is the master h describes.
func (m *Master) matches(h MasterHeader) bool {
	if m.sealer != nil {
		pt, err := m.sealer.Open(h.Check, aad("check", ""))
		return err == nil && subtle.ConstantTimeCompare(pt, []byte(checkLabel)) == 1
	}
	return h.Kind != KindToken && hmac.Equal(m.check(), h.Check)
}

// sealDataKey and openDataKey seal a data key under the master.
func (m *Master) sealDataKey(dek, ad []byte) ([]byte, error) {
	if m.sealer != nil {
		return m.sealer.Seal(dek, ad)
	}
	return seal(m.key, dek, ad)
}

func (m *Master) openSealedDataKey(sealed, ad []byte) ([]byte, error) {
	if m.sealer != nil {
		return m.sealer.Open(sealed, ad)
	}
	return open(m.key, sealed, ad)
}

const checkLabel = "intransit keywrap master check v1"

// NewMaster derives a fresh master key from secret (with a new random salt
// for passphrases, stretched with kdf) and returns it with its header.
func NewMaster(secret Secret, kdf KDFParams) (*Master, MasterHeader, error) {
	h := MasterHeader{Version: FormatVersion, Kind: secret.kind}
	if secret.kind == KindPassphrase {
		if err := kdf.validate(); err != nil {
			return nil, MasterHeader{}, err
		}
		h.KDF = &kdf
		h.Salt = make([]byte, 16)
		if _, err := rand.Read(h.Salt); err != nil {
			return nil, MasterHeader{}, fmt.Errorf("read salt: %w", err)
		}
	}
	key, err := derive(secret, h)
	if err != nil {
		return nil, MasterHeader{}, err
	}
	m := &Master{key: key}
	h.Check = m.check()
	return m, h, nil
}

// OpenMaster derives the master key described by h from secret. It returns
// an error wrapping ErrWrongSecret when the secret is not the one h was made
// with.
func OpenMaster(h MasterHeader, secret Secret) (*Master, error) {
	if h.Version != FormatVersion {
		return nil, fmt.Errorf("master header version %d is not supported (want %d)", h.Version, FormatVersion)
	}
	if h.Kind == KindToken {
		return nil, fmt.Errorf("this master key is in a PKCS#11 token (%s); no passphrase or key file opens it", h.Token)
	}
	if h.Kind != secret.kind {
		return nil, fmt.Errorf("%w: this master key comes from a %s, a %s was given", ErrWrongSecret, h.Kind, secret.kind)
	}
	key, err := derive(secret, h)
	if err != nil {
		return nil, err
	}
	m := &Master{key: key}
	if subtle.ConstantTimeCompare(m.check(), h.Check) != 1 {
		m.Wipe()
		return nil, ErrWrongSecret
	}
	return m, nil
}

func derive(secret Secret, h MasterHeader) ([]byte, error) {
	switch secret.kind {
	case KindPassphrase:
		if len(secret.value) == 0 {
			return nil, errors.New("the passphrase is empty")
		}
		if h.KDF == nil || len(h.Salt) < 16 {
			return nil, errors.New("master header lacks argon2id parameters or salt")
		}
		if err := h.KDF.validate(); err != nil {
			return nil, err
		}
		return argon2.IDKey(secret.value, h.Salt, h.KDF.Time, h.KDF.MemoryKiB, h.KDF.Threads, KeySize), nil
	case KindRawKey:
		if len(secret.value) != KeySize {
			return nil, fmt.Errorf("master key is %d bytes, want %d", len(secret.value), KeySize)
		}
		return append([]byte(nil), secret.value...), nil
	}
	return nil, fmt.Errorf("no secret given (kind %q)", secret.kind)
}

func (m *Master) check() []byte {
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(checkLabel))
	return mac.Sum(nil)
}

// Wipe overwrites the master key in memory.
func (m *Master) Wipe() { clear(m.key) }

// Wrapped is a private key protected by a data key, itself protected by the
// master key. Label binds the wrapping to its purpose (for example
// "intermediate"): unwrapping under another label fails.
type Wrapped struct {
	// Version is FormatVersion.
	Version int `json:"version"`
	// Label names the protected key; it is authenticated, not secret.
	Label string `json:"label"`
	// DataKey is the data key sealed by the master key (nonce || ciphertext).
	DataKey []byte `json:"data_key"`
	// Ciphertext is the protected key sealed by the data key (nonce || ciphertext).
	Ciphertext []byte `json:"ciphertext"`
}

// Wrap protects plaintext under a fresh data key sealed by m.
func (m *Master) Wrap(label string, plaintext []byte) (Wrapped, error) {
	dek := make([]byte, KeySize)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return Wrapped{}, fmt.Errorf("read data key: %w", err)
	}
	ct, err := seal(dek, plaintext, aad("key", label))
	if err != nil {
		return Wrapped{}, err
	}
	wdek, err := m.sealDataKey(dek, aad("dek", label))
	if err != nil {
		return Wrapped{}, err
	}
	return Wrapped{Version: FormatVersion, Label: label, DataKey: wdek, Ciphertext: ct}, nil
}

// Unwrap returns the protected key. It fails with ErrWrongSecret when m is
// not the master that wrapped w or w was altered.
func (m *Master) Unwrap(w Wrapped) ([]byte, error) {
	dek, err := m.openDataKey(w)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	pt, err := open(dek, w.Ciphertext, aad("key", w.Label))
	if err != nil {
		return nil, fmt.Errorf("wrapped key %q: the key does not decrypt under its data key (altered?): %w", w.Label, err)
	}
	return pt, nil
}

// Rewrap seals the data key of w under the master to instead of m, leaving
// the protected key's ciphertext as it is.
func (m *Master) Rewrap(w Wrapped, to *Master) (Wrapped, error) {
	dek, err := m.openDataKey(w)
	if err != nil {
		return Wrapped{}, err
	}
	defer clear(dek)
	wdek, err := to.sealDataKey(dek, aad("dek", w.Label))
	if err != nil {
		return Wrapped{}, err
	}
	w.DataKey = wdek
	return w, nil
}

func (m *Master) openDataKey(w Wrapped) ([]byte, error) {
	if w.Version != FormatVersion {
		return nil, fmt.Errorf("wrapped key %q: format version %d is not supported (want %d)", w.Label, w.Version, FormatVersion)
	}
	dek, err := m.openSealedDataKey(w.DataKey, aad("dek", w.Label))
	if err != nil {
		return nil, fmt.Errorf("wrapped key %q: %w", w.Label, ErrWrongSecret)
	}
	if len(dek) != KeySize {
		return nil, fmt.Errorf("wrapped key %q: data key is %d bytes, want %d", w.Label, len(dek), KeySize)
	}
	return dek, nil
}

func aad(layer, label string) []byte {
	return fmt.Appendf(nil, "intransit keywrap v%d %s %s", FormatVersion, layer, label)
}

func seal(key, plaintext, ad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plaintext)+g.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("read nonce: %w", err)
	}
	return g.Seal(nonce, nonce, plaintext, ad), nil
}

func open(key, sealed, ad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, errors.New("sealed data is too short")
	}
	pt, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], ad)
	if err != nil {
		return nil, fmt.Errorf("AES-GCM open: %w", err)
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES key: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("AES-GCM: %w", err)
	}
	return g, nil
}
