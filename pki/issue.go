package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"intransit/pki/store"
)

// Request is what a certificate is asked for: the profile and the identity.
// The identity comes from the request, never from a CSR's own subject.
type Request struct {
	// Profile names the issuance profile.
	Profile string
	// Name is the subject's name: the common name, and the last element of
	// its intransit:// identity URI.
	Name string
	// DNSNames and IPAddresses are the host names (gateway and server).
	DNSNames    []string
	IPAddresses []net.IP
	// TTL is the lifetime; zero means the profile's default.
	TTL time.Duration
	// Backdate moves the whole validity window back: the certificate
	// starts and expires Backdate earlier, as if issued Backdate ago. It
	// lets a test hold a certificate already partway through its life
	// (renewal at two thirds); zero for every ordinary issuance. It must
	// be shorter than the lifetime.
	Backdate time.Duration
}

// Issued is a certificate just issued and recorded.
type Issued struct {
	// Certificate is the issued certificate.
	Certificate *x509.Certificate
	// Record is its record in the store.
	Record *store.Certificate
	// Key is the private key when the CA generated it (Issue), nil for
	// SignCSR.
	Key crypto.Signer
}

// Identity returns the URI identity of name under profile:
// intransit://<ca-name>/<profile>/<name>.
func (ca *CA) Identity(profile, name string) *url.URL {
	return &url.URL{Scheme: "intransit", Host: ca.cfg.Name, Path: "/" + profile + "/" + name}
}

// Issue generates a key of type kt and issues a certificate for it. The
// record is durable before Issue returns.
func (ca *CA) Issue(ctx context.Context, req Request, kt KeyType) (*Issued, error) {
	p, err := ca.checkRequest(req)
	if err != nil {
		return nil, err
	}
	key, err := kt.Generate()
	if err != nil {
		return nil, err
	}
	if err := p.Keys.Check(key.Public()); err != nil {
		return nil, refusef("profile %s: %v", p.Name, err)
	}
	out, err := ca.sign(ctx, p, req, key.Public())
	if err != nil {
		return nil, err
	}
	out.Key = key
	return out, nil
}

// SignCSR issues a certificate for the public key of csr, with the identity
// of req. The CSR's signature must verify and use SHA-256 or better; its
// subject and names are ignored. The record is durable before SignCSR
// returns.
func (ca *CA) SignCSR(ctx context.Context, csr *x509.CertificateRequest, req Request) (*Issued, error) {
	p, err := ca.checkRequest(req)
	if err != nil {
		return nil, err
	}
	if !strongSignature(csr.SignatureAlgorithm) {
		return nil, refusef("the CSR is signed with %s; SHA-256 or better is required", csr.SignatureAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refusef("the CSR's signature does not verify (not signed by the key it carries): %w", err)
	}
	if err := p.Keys.Check(csr.PublicKey); err != nil {
		return nil, refusef("profile %s: %v", p.Name, err)
	}
	return ca.sign(ctx, p, req, csr.PublicKey)
}

// checkRequest applies the profile's policy to everything but the key.
func (ca *CA) checkRequest(req Request) (Profile, error) {
	p, err := LookupProfile(req.Profile)
	if err != nil {
		return Profile{}, err
	}
	if err := CheckName(req.Name); err != nil {
		return p, refusef("name %v", err)
	}
	if req.TTL < 0 {
		return p, refusef("lifetime %s is negative", req.TTL)
	}
	if req.Backdate < 0 {
		return p, refusef("backdate %s is negative", req.Backdate)
	}
	if req.TTL > p.MaxTTL {
		return p, refusef("profile %s: lifetime %s is above the maximum of %s", p.Name, req.TTL, p.MaxTTL)
	}
	hosts := len(req.DNSNames) + len(req.IPAddresses)
	if p.HostNames && hosts == 0 {
		return p, refusef("profile %s: at least one DNS name or IP address is required", p.Name)
	}
	if !p.HostNames && hosts > 0 {
		return p, refusef("profile %s: DNS names and IP addresses are not allowed (the identity is %s)", p.Name, ca.Identity(p.Name, req.Name))
	}
	for _, d := range req.DNSNames {
		if err := checkDNSName(d); err != nil {
			return p, refusef("DNS name %q: %v", d, err)
		}
		if !ca.permitted(d) {
			return p, refusef("DNS name %q is outside the permitted domains %v", d, ca.cfg.PermittedDNSDomains)
		}
	}
	for _, ip := range req.IPAddresses {
		if ip == nil || ip.IsUnspecified() {
			return p, refusef("IP address %v is not a host address", ip)
		}
	}
	return p, nil
}

func (ca *CA) permitted(name string) bool {
	if len(ca.cfg.PermittedDNSDomains) == 0 {
		return true
	}
	for _, d := range ca.cfg.PermittedDNSDomains {
		if strings.EqualFold(name, d) || strings.HasSuffix(strings.ToLower(name), "."+strings.ToLower(d)) {
			return true
		}
	}
	return false
}

// checkDNSName accepts a plain host name: labels of letters, digits and
// '-', no wildcards, at most 253 characters.
func checkDNSName(name string) error {
	if name == "" || len(name) > 253 {
		return errors.New("must be 1 to 253 characters")
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return errors.New("has an empty or over-long label")
		}
		for i, c := range l {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(l)-1
			if !ok {
				return fmt.Errorf("label %q: only letters, digits and inner '-' are allowed (no wildcards)", l)
			}
		}
	}
	return nil
}

// sign builds, signs and records the certificate. A serial collision (which
// the store detects in the same transaction as the write) draws a new
// serial; the certificate leaves this function only once recorded.
func (ca *CA) sign(ctx context.Context, p Profile, req Request, pub crypto.PublicKey) (*Issued, error) {
	if ca.interKey == nil {
		return nil, errNoKeys
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = p.DefaultTTL
	}
	if req.Backdate >= ttl {
		return nil, refusef("backdate %s is not shorter than the lifetime %s", req.Backdate, ttl)
	}
	now := time.Now().UTC().Truncate(time.Second).Add(-req.Backdate)
	notAfter := now.Add(ttl)
	if notAfter.After(ca.inter.NotAfter) {
		return nil, refusef("lifetime %s would end after the intermediate CA expires (%s)", ttl, ca.inter.NotAfter.Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: req.Name, Organization: []string{ca.cfg.Name}},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           p.ExtKeyUsage,
		BasicConstraintsValid: true,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		URIs:                  []*url.URL{ca.Identity(p.Name, req.Name)},
	}
	if ca.cfg.LeafCRLURL != "" {
		tmpl.CRLDistributionPoints = []string{ca.cfg.LeafCRLURL}
	} else if ca.cfg.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{ca.cfg.CRLURL}
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	tmpl.SubjectKeyId = ski
	const attempts = 3
	for range attempts {
		sn, err := newSerial()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = sn
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.inter, pub, ca.interKey)
		if err != nil {
			return nil, fmt.Errorf("sign certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parse issued certificate: %w", err)
		}
		rec := recordOf(cert, p.Name, req.Name)
		err = ca.store.PutCertificate(ctx, rec)
		if errors.Is(err, store.ErrSerialExists) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ca.log.Info("certificate issued", "serial", FormatSerial(sn), "name", req.Name, "profile", p.Name, "not_after", notAfter)
		return &Issued{Certificate: cert, Record: rec}, nil
	}
	return nil, fmt.Errorf("drew %d serial numbers already in use; the random source is broken", attempts)
}

func recordOf(c *x509.Certificate, profile, name string) *store.Certificate {
	rec := &store.Certificate{
		Serial:    c.SerialNumber,
		Name:      name,
		Profile:   profile,
		Subject:   c.Subject.String(),
		DNSNames:  c.DNSNames,
		KeyType:   DescribeKey(c.PublicKey),
		NotBefore: c.NotBefore,
		NotAfter:  c.NotAfter,
		IssuedAt:  time.Now().UTC(),
		Status:    store.StatusValid,
		DER:       c.Raw,
	}
	for _, ip := range c.IPAddresses {
		rec.IPAddresses = append(rec.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		rec.URIs = append(rec.URIs, u.String())
	}
	return rec
}

// subjectKeyID is the key identifier of RFC 7093 section 2 method 1: the
// leftmost 160 bits of the SHA-256 of the subjectPublicKey bits. Go puts
// one in CA certificates by itself but not in leaves.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}
