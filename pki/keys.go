package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
)

// KeyType names a key algorithm and size.
type KeyType string

// The key types the PKI generates.
const (
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	RSA2048   KeyType = "rsa-2048"
	RSA3072   KeyType = "rsa-3072"
	RSA4096   KeyType = "rsa-4096"
	Ed25519   KeyType = "ed25519"
)

// KeyTypes lists the key types ParseKeyType accepts.
func KeyTypes() []KeyType {
	return []KeyType{ECDSAP256, ECDSAP384, RSA2048, RSA3072, RSA4096, Ed25519}
}

// CAKeyTypes lists the key types allowed for CA keys (RSA-2048 is for
// leaves only).
func CAKeyTypes() []KeyType { return []KeyType{ECDSAP256, ECDSAP384, RSA3072, RSA4096, Ed25519} }

// ParseKeyType accepts a key type name, case-insensitively.
func ParseKeyType(s string) (KeyType, error) {
	for _, k := range KeyTypes() {
		if strings.EqualFold(string(k), s) {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown key type %q (one of %v)", s, KeyTypes())
}

// Generate makes a new private key of this type.
func (k KeyType) Generate() (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch k {
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unknown key type %q", k)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", k, err)
	}
	return key, nil
}

// DescribeKey names the type of a public key the way KeyType does
// ("ecdsa-p256", "rsa-1024", ...), including sizes KeyType does not generate.
func DescribeKey(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(p.Curve.Params().Name, "-", ""))
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", p.N.BitLen())
	case ed25519.PublicKey:
		return string(Ed25519)
	}
	return fmt.Sprintf("%T", pub)
}
