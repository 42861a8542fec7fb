package renewal

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"intransit/pki"
	"intransit/tlspolicy"
)

// Issuer has the successor of a certificate issued.
//
// Contract: Renew gets the current certificate cur (with its private key,
// which a remote issuer authenticates with) and a PEM CSR for the new key,
// and returns the new chain in PEM, leaf first, carrying the same identity
// (URI SAN) and the CSR's key. It blocks until the CA answered or ctx
// ended. A certificate the CA refuses to renew (revoked, unknown, not its
// own, mismatched) is an error for which IsRefused is true; any other
// error means the renewal could not run and may work when retried. Renew
// is safe for concurrent use.
type Issuer interface {
	Renew(ctx context.Context, cur *tls.Certificate, csrPEM []byte) ([]byte, error)
}

// Refused is the error of a renewal the CA refused on purpose.
type Refused struct {
	// Reason is what the CA said.
	Reason string
}

// Error implements error.
func (r *Refused) Error() string { return "renewal refused: " + r.Reason }

// IsRefused reports whether err says the CA refused the renewal.
func IsRefused(err error) bool {
	var r *Refused
	return errors.As(err, &r) || pki.IsRefusal(err)
}

// Local is an Issuer over a CA held in the same process (the daemon that
// holds the CA renews its own certificate); the same Signer the renewal
// API serves.
type Local struct {
	CA Signer
}

// Renew implements Issuer.
func (l *Local) Renew(ctx context.Context, cur *tls.Certificate, csrPEM []byte) ([]byte, error) {
	leaf, err := leafOf(cur)
	if err != nil {
		return nil, err
	}
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	is, err := l.CA.Renew(ctx, leaf, csr)
	if err != nil {
		return nil, err
	}
	return chainPEM(is.Certificate, l.CA.Intermediate()), nil
}

// requestTimeout bounds one renewal request.
const requestTimeout = 30 * time.Second

// Remote is an Issuer over the renewal API of the gateway holding the CA,
// reached over mTLS with the current certificate.
type Remote struct {
	// URL is https://HOST:PORT of the renewal listener.
	URL string
	// Profile is the TLS profile; CAs those the server's chain must end in.
	Profile *tlspolicy.Profile
	CAs     tlspolicy.CASource
	// Identity, when set, is the URI identity the server's certificate
	// must carry; for a URL naming an address, it is checked instead of
	// the address.
	Identity string
}

// Renew implements Issuer.
func (rm *Remote) Renew(ctx context.Context, cur *tls.Certificate, csrPEM []byte) ([]byte, error) {
	u, err := url.Parse(rm.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("renewal URL %q: want https://HOST:PORT", rm.URL)
	}
	o := tlspolicy.Options{Profile: rm.Profile, CAs: rm.CAs, ServerName: u.Hostname(), Certificate: &tlspolicy.StaticCertificate{Cert: *cur}}
	if rm.Identity != "" {
		o.Allow = tlspolicy.Identity{URIs: []string{rm.Identity}}
		if net.ParseIP(u.Hostname()) != nil {
			o.ServerName = ""
		}
	}
	cfg, err := tlspolicy.ClientConfig(o)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(Request{CSR: string(csrPEM)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	tr := &http.Transport{TLSClientConfig: cfg, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	target := u.JoinPath(Path).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("renewal at %s: %w", target, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("renewal at %s: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ref refusal
		if json.Unmarshal(data, &ref) != nil || ref.Message == "" {
			return nil, fmt.Errorf("renewal at %s: HTTP %s", target, resp.Status)
		}
		if resp.StatusCode == http.StatusForbidden {
			return nil, &Refused{Reason: ref.Message}
		}
		return nil, fmt.Errorf("renewal at %s: HTTP %s: %s", target, resp.Status, ref.Message)
	}
	var ans Answer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("renewal at %s: answer: %w", target, err)
	}
	return []byte(ans.Chain), nil
}

func leafOf(c *tls.Certificate) (*x509.Certificate, error) {
	if c == nil || len(c.Certificate) == 0 {
		return nil, fmt.Errorf("no current certificate")
	}
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("current certificate: %w", err)
	}
	return leaf, nil
}
