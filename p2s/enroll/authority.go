package enroll

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"time"

	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
)

// Authority signs client certificates for the enrollment server. Its
// methods are safe for concurrent use and give up when ctx ends.
type Authority interface {
	// SignClient issues a certificate of the PKI's client profile for the
	// key of csr, with the identity of name, living ttl (the profile's
	// default when 0). A request the CA refuses on purpose (weak key, bad
	// signature, lifetime) is an error for which pki.IsRefusal is true.
	SignClient(ctx context.Context, csr *x509.CertificateRequest, name string, ttl time.Duration) (*Signed, error)
	// CA returns the CA bundle (intermediate then root, PEM) and the root.
	CA(ctx context.Context) (bundle []byte, root *x509.Certificate, err error)
}

// Signed is an issued client certificate.
type Signed struct {
	// Certificate is the leaf.
	Certificate *x509.Certificate
	// Chain is the leaf followed by the intermediate, PEM.
	Chain []byte
	// Identity is the client's URI identity.
	Identity string
}

// PKIAuthority signs with the intransit PKI in Dir. It opens the PKI for
// each request and closes it right after, so that `intransit pki` commands
// (revoke, crl) can use the same PKI between requests.
type PKIAuthority struct {
	// Dir is the PKI directory and Secret its master key.
	Dir    string
	Secret keywrap.Secret
	// Store, when set, holds the PKI's records instead of the bbolt file
	// in Dir (a store several gateways share, on etcd).
	Store store.Store
	// Logger receives the PKI's issuance lines; nil discards them.
	Logger *slog.Logger
}

func (a *PKIAuthority) open(ctx context.Context) (*pki.CA, error) {
	ca, err := pki.Open(ctx, a.Dir, a.Secret, pki.OpenOptions{Store: a.Store, Logger: a.Logger})
	if err != nil {
		return nil, fmt.Errorf("open PKI %s: %w", a.Dir, err)
	}
	return ca, nil
}

// SignClient implements Authority.
func (a *PKIAuthority) SignClient(ctx context.Context, csr *x509.CertificateRequest, name string, ttl time.Duration) (*Signed, error) {
	ca, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	defer ca.Close()
	is, err := ca.SignCSR(ctx, csr, pki.Request{Profile: pki.ProfileClient, Name: name, TTL: ttl})
	if err != nil {
		return nil, err
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.Certificate.Raw})
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Intermediate().Raw})...)
	return &Signed{Certificate: is.Certificate, Chain: chain, Identity: ca.Identity(pki.ProfileClient, name).String()}, nil
}

// CA implements Authority.
func (a *PKIAuthority) CA(ctx context.Context) ([]byte, *x509.Certificate, error) {
	ca, err := a.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer ca.Close()
	return ca.Bundle(), ca.Root(), nil
}
