package enroll

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"intransit/pki/renewal"
	"intransit/tlspolicy"
)

// requestTimeout bounds one API call.
const requestTimeout = 30 * time.Second

// NewCSR makes a PEM certificate signing request for key. The CA takes the
// identity from the token, so the subject only helps a human reading it.
func NewCSR(key crypto.Signer, name string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, fmt.Errorf("CSR for %s: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCAs parses a PEM bundle of CA certificates.
func ParseCAs(bundle []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("CA bundle: no certificate")
	}
	return out, nil
}

// Enroll redeems token at the gateway's enrollment URL (https://host[:port])
// with the CSR: it fetches the CA bundle, checks its root against the
// token's pin, then sends the token and CSR over TLS verified against that
// CA (profile prof) and returns the certificate. A refusal by the gateway
// is a *Refusal.
func Enroll(ctx context.Context, base string, token string, csrPEM []byte, prof *tlspolicy.Profile) (*Enrolled, error) {
	tt, err := ParseToken(token)
	if err != nil {
		return nil, err
	}
	u, err := parseBase(base)
	if err != nil {
		return nil, err
	}
	bundle, err := fetchPinnedCA(ctx, u, tt)
	if err != nil {
		return nil, err
	}
	cfg, err := tlspolicy.ClientConfig(tlspolicy.Options{Profile: prof, CAs: caSource(bundle), ServerName: u.Hostname()})
	if err != nil {
		return nil, err
	}
	return post(ctx, cfg, u.JoinPath(PathEnroll).String(), &Request{Token: token, CSR: string(csrPEM)})
}

// Renew asks the gateway's renewal URL for a new certificate for csrPEM,
// authenticating with the current certificate cert over mTLS; the server
// is verified against the CA bundle cas.
func Renew(ctx context.Context, base string, cert tls.Certificate, cas []*x509.Certificate, csrPEM []byte, prof *tlspolicy.Profile) (*Enrolled, error) {
	u, err := parseBase(base)
	if err != nil {
		return nil, err
	}
	cfg, err := tlspolicy.ClientConfig(tlspolicy.Options{Profile: prof, CAs: &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(cas...)},
		ServerName: u.Hostname(), Certificate: &tlspolicy.StaticCertificate{Cert: cert}})
	if err != nil {
		return nil, err
	}
	return post(ctx, cfg, u.JoinPath(PathRenew).String(), &Request{CSR: string(csrPEM)})
}

// Issuer is the laptop's renewal.Issuer: Renew over the gateway's renewal
// endpoint. The CA takes the name from the current certificate, not from
// the CSR. A certificate the gateway refuses to renew (HTTP 403: not issued
// through its enrollment) is a *renewal.Refused.
type Issuer struct {
	// URL returns the endpoint to ask (https://HOST:PORT); it is called at
	// each renewal, so that a client that moved to another gateway asks
	// that one.
	URL func() string
	// CAs are those the server's chain must end in; Profile the TLS
	// profile.
	CAs     []*x509.Certificate
	Profile *tlspolicy.Profile
}

// Renew implements renewal.Issuer.
func (i *Issuer) Renew(ctx context.Context, cur *tls.Certificate, csrPEM []byte) ([]byte, error) {
	got, err := Renew(ctx, i.URL(), *cur, i.CAs, csrPEM, i.Profile)
	var ref *Refusal
	if errors.As(err, &ref) && ref.Status == http.StatusForbidden {
		return nil, &renewal.Refused{Reason: ref.Error()}
	}
	if err != nil {
		return nil, err
	}
	return []byte(got.Chain), nil
}

func parseBase(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("gateway URL %q: %w", base, err)
	}
	if u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("gateway URL %q: want https://HOST[:PORT]", base)
	}
	u.Path = ""
	return u, nil
}

// caSource makes a CA source of the bundle's certificates.
func caSource(certs []*x509.Certificate) tlspolicy.CASource {
	return &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(certs...)}
}

// fetchPinnedCA downloads the CA bundle and checks it against the pin.
// The connection is not authenticated yet (the laptop trusts no CA so
// far); nothing secret is sent, and what comes back counts only if its
// root matches the pin the token carries.
func fetchPinnedCA(ctx context.Context, u *url.URL, tt TokenText) ([]*x509.Certificate, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} // #nosec G402 -- content is verified against the pin
	body, err := do(ctx, cfg, http.MethodGet, u.JoinPath(PathCA).String(), nil)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCAs(body)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if tt.pinMatches(c.Raw) && c.IsCA && bytes.Equal(c.RawIssuer, c.RawSubject) {
			return certs, nil
		}
	}
	return nil, errors.New("the gateway's CA does not match the token's pin: refusing to enroll (wrong gateway, or someone in between)")
}

func post(ctx context.Context, cfg *tls.Config, url string, req *Request) (*Enrolled, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	data, err := do(ctx, cfg, http.MethodPost, url, body)
	if err != nil {
		return nil, err
	}
	var out Enrolled
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("gateway answer: %w", err)
	}
	return &out, nil
}

// do runs one request over a fresh client with cfg and returns the body of
// a 200 answer; other answers become a *Refusal.
func do(ctx context.Context, cfg *tls.Config, method, url string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	tr := &http.Transport{TLSClientConfig: cfg, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext, ForceAttemptHTTP2: false}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		ref := &Refusal{Status: resp.StatusCode}
		if json.Unmarshal(data, ref) != nil || ref.Reason == "" {
			return nil, fmt.Errorf("%s %s: HTTP %s", method, url, resp.Status)
		}
		return nil, ref
	}
	return data, nil
}
