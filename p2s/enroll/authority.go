package enroll

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"time"

	"intransit/pki"
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

// ReasonBusy is the refusal of a signing that waited MaxWait for one of
// the CAAuthority's signing slots (HTTP 503: try again later).
const ReasonBusy = "busy"

// Defaults of CAAuthority.
const (
	DefaultMaxSigning = 4
	DefaultMaxWait    = 5 * time.Second
)

// CAAuthority signs with a CA the daemon unlocked once at start and keeps
// open: the CA bundle is served from memory, and no request opens the
// store or runs the master key's KDF. At most MaxSigning signatures run at
// once; a request that finds every slot taken waits for one as long as its
// context and MaxWait allow, then is refused with ReasonBusy (HTTP 503).
type CAAuthority struct {
	ca      *pki.CA
	bundle  []byte
	slots   chan struct{}
	maxWait time.Duration
}

// NewCAAuthority signs with ca, which stays the caller's to close after the
// authority's last use. maxSigning and maxWait default to
// DefaultMaxSigning and DefaultMaxWait when 0.
func NewCAAuthority(ca *pki.CA, maxSigning int, maxWait time.Duration) *CAAuthority {
	if maxSigning <= 0 {
		maxSigning = DefaultMaxSigning
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	return &CAAuthority{ca: ca, bundle: ca.Bundle(), slots: make(chan struct{}, maxSigning), maxWait: maxWait}
}

// SignClient implements Authority.
func (a *CAAuthority) SignClient(ctx context.Context, csr *x509.CertificateRequest, name string, ttl time.Duration) (*Signed, error) {
	if err := a.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-a.slots }()
	is, err := a.ca.SignCSR(ctx, csr, pki.Request{Profile: pki.ProfileClient, Name: name, TTL: ttl})
	if err != nil {
		return nil, err
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: is.Certificate.Raw})
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.ca.Intermediate().Raw})...)
	return &Signed{Certificate: is.Certificate, Chain: chain, Identity: a.ca.Identity(pki.ProfileClient, name).String()}, nil
}

// acquire takes a signing slot: at once when one is free, else waiting as
// long as ctx and maxWait allow.
func (a *CAAuthority) acquire(ctx context.Context) error {
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}
	wait, cancel := context.WithTimeout(ctx, a.maxWait)
	defer cancel()
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-wait.Done():
		if err := ctx.Err(); err != nil {
			return err
		}
		return refuse(http.StatusServiceUnavailable, ReasonBusy, "the CA is busy signing (%d at once); try again later", cap(a.slots))
	}
}

// CA implements Authority, from memory.
func (a *CAAuthority) CA(context.Context) ([]byte, *x509.Certificate, error) {
	return a.bundle, a.ca.Root(), nil
}
