package tunnel

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"

	"golang.org/x/crypto/curve25519"
)

// KeySize is the size of every WireGuard key.
const KeySize = 32

// PublicKey is a WireGuard (Curve25519) public key. Its text form is
// standard base64, as wg(8) prints it.
type PublicKey [KeySize]byte

// PrivateKey is a WireGuard (Curve25519) private key. It never prints
// itself: String and LogValue are redacted; Base64 encodes it on request.
type PrivateKey [KeySize]byte

// PresharedKey is a WireGuard preshared symmetric key, mixed into every
// handshake (the project sets it from a post-quantum KEM, see tunnel/pqpsk).
// Like PrivateKey it never prints itself.
type PresharedKey [KeySize]byte

// GeneratePrivateKey returns a new random, clamped private key.
func GeneratePrivateKey() (PrivateKey, error) {
	var k PrivateKey
	if _, err := rand.Read(k[:]); err != nil {
		return PrivateKey{}, fmt.Errorf("generating private key: %w", err)
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

// GeneratePresharedKey returns a new random preshared key.
func GeneratePresharedKey() (PresharedKey, error) {
	var k PresharedKey
	if _, err := rand.Read(k[:]); err != nil {
		return PresharedKey{}, fmt.Errorf("generating preshared key: %w", err)
	}
	return k, nil
}

// PublicKey derives the public key.
func (k PrivateKey) PublicKey() PublicKey {
	pub, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		// X25519 with the base point fails only for a low-order result,
		// which no scalar produces with the base point.
		panic(fmt.Sprintf("tunnel: X25519 with the base point: %v", err))
	}
	return PublicKey(pub)
}

// ParsePublicKey parses a base64 public key.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := parseKey(s)
	return PublicKey(b), err
}

// ParsePrivateKey parses a base64 private key.
func ParsePrivateKey(s string) (PrivateKey, error) {
	b, err := parseKey(s)
	return PrivateKey(b), err
}

// ParsePresharedKey parses a base64 preshared key.
func ParsePresharedKey(s string) (PresharedKey, error) {
	b, err := parseKey(s)
	return PresharedKey(b), err
}

// parseKey decodes a base64 key; its errors never quote the input, which
// may be secret.
func parseKey(s string) ([KeySize]byte, error) {
	var k [KeySize]byte
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return k, fmt.Errorf("key is not valid base64 (%d characters)", len(s))
	}
	if len(b) != KeySize {
		return k, fmt.Errorf("key is %d bytes, want %d", len(b), KeySize)
	}
	copy(k[:], b)
	return k, nil
}

// String returns the key in base64.
func (k PublicKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// IsZero reports whether the key is all zeros (unset).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// Base64 returns the private key in base64, for writing it where it belongs.
func (k PrivateKey) Base64() string { return base64.StdEncoding.EncodeToString(k[:]) }

// String returns a fixed placeholder, so that a key never lands in a log.
func (k PrivateKey) String() string { return "PrivateKey(redacted)" }

// LogValue keeps the key out of slog output.
func (k PrivateKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// IsZero reports whether the key is all zeros (unset).
func (k PrivateKey) IsZero() bool { return k == PrivateKey{} }

// Base64 returns the preshared key in base64, for writing it where it belongs.
func (k PresharedKey) Base64() string { return base64.StdEncoding.EncodeToString(k[:]) }

// String returns a fixed placeholder, so that a key never lands in a log.
func (k PresharedKey) String() string { return "PresharedKey(redacted)" }

// LogValue keeps the key out of slog output.
func (k PresharedKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// hexKey is the form of keys in wireguard-go's configuration protocol.
func hexKey(k [KeySize]byte) string { return hex.EncodeToString(k[:]) }
