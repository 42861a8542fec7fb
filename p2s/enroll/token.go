package enroll

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TokenPrefix starts every token text and names its format.
const TokenPrefix = "itp1"

// Sizes of the token's parts.
const (
	tokenIDSize     = 9
	tokenSecretSize = 32
	pinSize         = sha256.Size
)

// DefaultTokenTTL is how long a token is valid when no expiry is asked for.
const DefaultTokenTTL = 24 * time.Hour

// MaxTokenTTL bounds a token's validity.
const MaxTokenTTL = 30 * 24 * time.Hour

// TokenText is a parsed token: "itp1.<id>.<secret>.<pin>", each part in
// unpadded base64url. The pin is SHA-256 of the CA's root certificate
// (DER), so that the laptop knows which CA to trust before it trusts any.
type TokenText struct {
	// ID names the token, Secret proves it, Pin is the CA root's SHA-256.
	ID     string
	Secret []byte
	Pin    [pinSize]byte
}

// String renders the token.
func (t TokenText) String() string {
	enc := base64.RawURLEncoding
	return strings.Join([]string{TokenPrefix, t.ID, enc.EncodeToString(t.Secret), enc.EncodeToString(t.Pin[:])}, ".")
}

// SecretHash is what the gateway stores of the secret.
func (t TokenText) SecretHash() []byte {
	h := sha256.Sum256(t.Secret)
	return h[:]
}

// MatchesHash reports, in constant time, whether the secret hashes to h.
func (t TokenText) MatchesHash(h []byte) bool {
	return subtle.ConstantTimeCompare(t.SecretHash(), h) == 1
}

// newTokenText makes a fresh random token for a CA root.
func newTokenText(rootDER []byte) (TokenText, error) {
	id := make([]byte, tokenIDSize)
	secret := make([]byte, tokenSecretSize)
	if _, err := rand.Read(id); err != nil {
		return TokenText{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return TokenText{}, err
	}
	return TokenText{ID: base64.RawURLEncoding.EncodeToString(id), Secret: secret, Pin: sha256.Sum256(rootDER)}, nil
}

// ParseToken parses a token text, saying which part is wrong.
func ParseToken(s string) (TokenText, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 4 || parts[0] != TokenPrefix {
		return TokenText{}, fmt.Errorf("token: want %s.<id>.<secret>.<pin> (4 parts separated by dots), got %d parts", TokenPrefix, len(parts))
	}
	enc := base64.RawURLEncoding
	id, err := enc.DecodeString(parts[1])
	if err != nil || len(id) != tokenIDSize {
		return TokenText{}, errors.New("token: the id (part 2) is not 12 base64url characters")
	}
	secret, err := enc.DecodeString(parts[2])
	if err != nil || len(secret) != tokenSecretSize {
		return TokenText{}, errors.New("token: the secret (part 3) is not 43 base64url characters")
	}
	pin, err := enc.DecodeString(parts[3])
	if err != nil || len(pin) != pinSize {
		return TokenText{}, errors.New("token: the CA pin (part 4) is not 43 base64url characters")
	}
	t := TokenText{ID: parts[1], Secret: secret}
	copy(t.Pin[:], pin)
	return t, nil
}

// pinMatches reports whether der is the pinned root.
func (t TokenText) pinMatches(der []byte) bool {
	h := sha256.Sum256(der)
	return bytes.Equal(h[:], t.Pin[:])
}
