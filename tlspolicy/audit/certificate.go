package audit

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"intransit/tlspolicy/suites"
)

// certResult is the raw chain the server sent.
type certResult struct {
	source string
	certs  [][]byte
	ocsp   []byte
	err    error
}

// fetchCertificate gets the chain: from the clear-text Certificate message of
// a TLS 1.2-or-earlier handshake when the server speaks one, else from a
// TLS 1.3 handshake by crypto/tls with verification left to the audit.
func fetchCertificate(ctx context.Context, p *prober, f *findings, name string, timeout time.Duration) *certResult {
	if v, ok := f.best12(); ok {
		a := p.probe(ctx, p.helloFor(v, suiteIDs(suites.TLS12()), classicalGroups()), true)
		switch {
		case a.err != nil:
			return &certResult{source: "handshake", err: a.err}
		case a.flightErr != nil:
			return &certResult{source: "handshake", err: a.flightErr}
		}
		return &certResult{source: "handshake", certs: a.certs, ocsp: a.ocsp}
	}
	return fetchWithCryptoTLS(ctx, p, name, timeout)
}

func fetchWithCryptoTLS(ctx context.Context, p *prober, name string, timeout time.Duration) *certResult {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return &certResult{source: "crypto/tls", err: ctx.Err()}
	}
	defer func() { <-p.slots }()
	p.count.Add(1)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: &tls.Config{
		// The audit verifies the chain itself, against the profile, and
		// reports every problem instead of stopping at the first.
		InsecureSkipVerify: true,
		ServerName:         p.serverName,
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
	}}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return &certResult{source: "crypto/tls", err: fmt.Errorf("TLS 1.3 handshake: %w", timeoutOr(err, timeout))}
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	res := &certResult{source: "crypto/tls", ocsp: st.OCSPResponse}
	for _, c := range st.PeerCertificates {
		res.certs = append(res.certs, c.Raw)
	}
	return res
}

// describeCert summarises one certificate for the report.
func describeCert(c *x509.Certificate, now time.Time) CertInfo {
	info := CertInfo{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		DNSNames:           c.DNSNames,
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		DaysLeft:           int(c.NotAfter.Sub(now).Hours() / 24),
	}
	if info.DNSNames == nil {
		info.DNSNames = []string{}
	}
	info.IPAddresses = []string{}
	for _, ip := range c.IPAddresses {
		info.IPAddresses = append(info.IPAddresses, ip.String())
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		info.KeyType, info.KeyBits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		info.KeyType, info.KeyBits = "ECDSA "+k.Curve.Params().Name, k.Curve.Params().BitSize
	case ed25519.PublicKey:
		info.KeyType, info.KeyBits = "Ed25519", 256
	default:
		info.KeyType = fmt.Sprintf("%T", c.PublicKey)
	}
	return info
}

// selfSigned reports whether c signed itself.
func selfSigned(c *x509.Certificate) bool {
	return c.Subject.String() == c.Issuer.String() && c.CheckSignatureFrom(c) == nil
}
