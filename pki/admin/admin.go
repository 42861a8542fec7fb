// Package admin is the certificate authority's admin socket: the
// operations of `intransit pki` that need the CA's store (revoke, crl,
// list, show, issue, sign), served by a daemon that holds the CA open
// over a root-only unix socket in the PKI directory, and the client the
// CLI uses there. Without a daemon the CLI runs the same operations on
// the store directly (Local); the CA interface is the seam between both.
package admin

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"

	"intransit/pki"
	"intransit/pki/store"
)

// SocketFile is the admin socket's name in the PKI directory: the CLI
// finds a daemon holding the CA by --dir alone.
const SocketFile = "admin.sock"

// CA is what `intransit pki` does with an open certificate authority.
// Methods are safe for concurrent use and give up when ctx ends. A request
// the CA refuses on purpose (unknown serial or name, already revoked, a
// profile's policy) is an error for which pki.IsRefusal is true, whether
// the CA is local or behind the socket; any other error means the
// operation could not run. Close releases what the CA holds (the store,
// or the connection).
type CA interface {
	// Revoke revokes the certificate ref names (a serial in hex, or a name
	// matching exactly one certificate not yet revoked) and returns its
	// record. Where a daemon holds the CA, the new CRL is signed and
	// published before Revoke returns.
	Revoke(ctx context.Context, ref string, reason store.Reason) (*Revoked, error)
	// CRL signs a new CRL with the next CRL number and returns it with
	// the bundle the PKI publishes with it.
	CRL(ctx context.Context) (*CRL, error)
	// List returns the records matching f.
	List(ctx context.Context, f store.Filter) ([]*store.Certificate, error)
	// Find returns the records ref names (see pki.CA.Find).
	Find(ctx context.Context, ref string) ([]*store.Certificate, error)
	// Sign issues a certificate for the key of csr with the identity of
	// req (see pki.CA.SignCSR) and returns it with the intermediate that
	// signed it.
	Sign(ctx context.Context, csr *x509.CertificateRequest, req pki.Request) (*Signed, error)
	// Close releases the CA.
	Close() error
}

// Revoked is a revocation done.
type Revoked struct {
	// Record is the revoked certificate's record.
	Record *store.Certificate `json:"record"`
	// CRL is the CRL signed after the revocation and Published where it
	// was written; both empty when nobody published (the CLI alone).
	CRL       *store.CRL `json:"crl,omitempty"`
	Published []string   `json:"published,omitempty"`
}

// CRL is a CRL just signed.
type CRL struct {
	// CRL is the list; Revoked counts the certificates it lists.
	CRL     *store.CRL `json:"crl"`
	Revoked int        `json:"revoked"`
	// Published lists where the daemon wrote it (empty for the CLI alone).
	Published []string `json:"published,omitempty"`
	// Bundle is what the PKI publishes in one CRL file
	// (pki.CA.PublishedCRLs, to be encoded by pki.EncodeCRLFile): the
	// DER of CRL first, then the CRL of every intermediate a rotation
	// replaced that is still valid. It is never empty.
	Bundle [][]byte `json:"bundle"`
}

// Signed is an issued certificate.
type Signed struct {
	// Record is its record; Certificate the certificate and Intermediate
	// the CA certificate that signed it.
	Record       *store.Certificate
	Certificate  *x509.Certificate
	Intermediate *x509.Certificate
}

// Publisher makes a freshly signed CRL take effect: it writes it where the
// gateways read it and has them re-read it, returning where it wrote.
// It is called after every revocation and CRL signing that a daemon serves.
type Publisher interface {
	PublishCRL(ctx context.Context, crl *store.CRL) ([]string, error)
}

// Local runs the operations on an open CA. With a Publisher (the daemon),
// a revocation signs and publishes a new CRL at once.
type Local struct {
	ca  *pki.CA
	pub Publisher
	log *slog.Logger
}

// NewLocal wraps ca; pub may be nil (the CLI alone), log too.
func NewLocal(ca *pki.CA, pub Publisher, log *slog.Logger) *Local {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Local{ca: ca, pub: pub, log: log}
}

// CA returns the CA l runs the operations on.
func (l *Local) CA() *pki.CA { return l.ca }

// Revoke implements CA.
func (l *Local) Revoke(ctx context.Context, ref string, reason store.Reason) (*Revoked, error) {
	rec, err := l.ca.RevokeRef(ctx, ref, reason)
	if err != nil {
		return nil, err
	}
	out := &Revoked{Record: rec}
	if l.pub == nil {
		return out, nil
	}
	c, err := l.CRL(ctx)
	if err != nil {
		return nil, fmt.Errorf("certificate %s revoked, but the new CRL was not published: %w", pki.FormatSerial(rec.Serial), err)
	}
	out.CRL, out.Published = c.CRL, c.Published
	return out, nil
}

// CRL implements CA.
func (l *Local) CRL(ctx context.Context) (*CRL, error) {
	c, err := l.ca.NewCRL(ctx)
	if err != nil {
		return nil, err
	}
	revoked, err := l.ca.RevokedSerials(ctx)
	if err != nil {
		return nil, err
	}
	bundle, err := l.ca.PublishedCRLs(ctx, c)
	if err != nil {
		return nil, err
	}
	out := &CRL{CRL: c, Revoked: len(revoked), Bundle: bundle}
	if l.pub != nil {
		if out.Published, err = l.pub.PublishCRL(ctx, c); err != nil {
			return nil, fmt.Errorf("CRL number %d signed but not published: %w", c.Number, err)
		}
		l.log.Info("CRL published", "number", c.Number, "revoked", len(revoked), "files", fmt.Sprint(out.Published))
	}
	return out, nil
}

// List implements CA.
func (l *Local) List(ctx context.Context, f store.Filter) ([]*store.Certificate, error) {
	return l.ca.List(ctx, f)
}

// Find implements CA.
func (l *Local) Find(ctx context.Context, ref string) ([]*store.Certificate, error) {
	return l.ca.Find(ctx, ref)
}

// Sign implements CA.
func (l *Local) Sign(ctx context.Context, csr *x509.CertificateRequest, req pki.Request) (*Signed, error) {
	is, err := l.ca.SignCSR(ctx, csr, req)
	if err != nil {
		return nil, err
	}
	return &Signed{Record: is.Record, Certificate: is.Certificate, Intermediate: l.ca.Intermediate()}, nil
}

// Close closes the CA.
func (l *Local) Close() error { return l.ca.Close() }
