package tlspolicy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"slices"
)

// CertificateSource supplies an endpoint's own certificate. Certificate is
// called on every handshake, from many goroutines at once; it must be cheap
// and must not block. A source that reloads returns the newest good
// certificate.
type CertificateSource interface {
	Certificate() (*tls.Certificate, error)
}

// CASet is a snapshot of trusted CA certificates: the pool for chain
// verification and the certificates themselves, which CRL signature checks
// need. A CASet is never modified after it is made.
type CASet struct {
	// Pool holds Certs.
	Pool *x509.CertPool
	// Certs are the trusted CA certificates.
	Certs []*x509.Certificate
}

// NewCASet makes a CASet from certificates.
func NewCASet(certs ...*x509.Certificate) *CASet {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &CASet{Pool: pool, Certs: slices.Clone(certs)}
}

// CASource supplies the CAs that peers' chains must end in. CAs is called on
// every handshake, from many goroutines at once; it must be cheap and must
// not block.
type CASource interface {
	CAs() *CASet
}

// Reloader is material that can be re-read on demand (on SIGHUP). Reload
// keeps the current material when the new one is broken and returns why.
type Reloader interface {
	Reload(ctx context.Context) error
}

// StaticCertificate is a CertificateSource that never changes, for
// certificates held in memory (issued by the PKI at start-up, for example).
type StaticCertificate struct {
	// Cert is the certificate with its private key and chain.
	Cert tls.Certificate
}

// Certificate returns the fixed certificate.
func (s *StaticCertificate) Certificate() (*tls.Certificate, error) { return &s.Cert, nil }

// StaticCAs is a CASource that never changes.
type StaticCAs struct {
	// Set is the fixed snapshot.
	Set *CASet
}

// CAs returns the fixed snapshot.
func (s *StaticCAs) CAs() *CASet { return s.Set }
