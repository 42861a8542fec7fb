// Package certs makes X.509 material for tests: a CA, leaf certificates with
// chosen names and key types, PEM files on disk and signed CRLs. It is built
// on crypto/x509 alone so that tests do not depend on the PKI under test.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"intransit/internal/atomicfile"
)

// KeyType chooses the key algorithm and size of a generated certificate.
type KeyType int

// Key types a test may ask for. RSA1024 exists to test refusals.
const (
	ECDSAP256 KeyType = iota
	ECDSAP384
	RSA2048
	RSA1024
	Ed25519
)

// NewKey generates a private key of type kt.
func NewKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kt {
	case ECDSAP256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case Ed25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("certs: unknown key type %d", kt)
	}
	if err != nil {
		t.Fatalf("certs: generate key: %v", err)
	}
	return k
}

// CA is a self-signed certificate authority that issues leaves and CRLs.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	t       testing.TB
	serial  int64
}

// NewCA makes a self-signed ECDSA P-256 CA named name, valid for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := NewKey(t, ECDSAP256)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"intransit tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("certs: create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("certs: parse CA: %v", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: PEM("CERTIFICATE", der), t: t, serial: 1}
}

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LeafOptions describes a leaf certificate to issue. Zero values mean: an
// ECDSA P-256 key, usable for both server and client authentication, valid
// for a day.
type LeafOptions struct {
	CommonName string
	OrgUnits   []string
	DNSNames   []string
	IPs        []net.IP
	URIs       []string
	Key        KeyType
	NotAfter   time.Time
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// TLS returns the leaf as a tls.Certificate (without the CA).
func (l *Leaf) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key, Leaf: l.Cert}
}

// Issue signs a new leaf certificate.
func (ca *CA) Issue(o LeafOptions) *Leaf {
	t := ca.t
	t.Helper()
	key := NewKey(t, o.Key)
	ca.serial++
	notAfter := o.NotAfter
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      pkix.Name{CommonName: o.CommonName, OrganizationalUnit: o.OrgUnits},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
	}
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, u := range o.URIs {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("certs: URI SAN %q: %v", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("certs: issue %s: %v", o.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("certs: parse leaf: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("certs: marshal key: %v", err)
	}
	return &Leaf{Cert: cert, Key: key, CertPEM: PEM("CERTIFICATE", der), KeyPEM: PEM("PRIVATE KEY", keyDER)}
}

// CRL returns a DER CRL signed by the CA that revokes the given
// certificates and is valid until nextUpdate.
func (ca *CA) CRL(nextUpdate time.Time, revoked ...*x509.Certificate) []byte {
	t := ca.t
	t.Helper()
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	ca.serial++
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(ca.serial),
		ThisUpdate:                time.Now().Add(-time.Minute),
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatalf("certs: create CRL: %v", err)
	}
	return der
}

// PEM encodes der as one PEM block of the given type.
func PEM(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

// WriteFile writes data to dir/name (mode 0600) and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("certs: write %s: %v", path, err)
	}
	return path
}

// ReplaceFile atomically replaces dir/name with data (mode 0600), as a
// deployment tool would, with atomicfile.Write.
func ReplaceFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		t.Fatalf("certs: %v", err)
	}
	return path
}

// WriteFiles writes the leaf as base.crt and base.key in dir and returns
// both paths.
func (l *Leaf) WriteFiles(t testing.TB, dir, base string) (certPath, keyPath string) {
	t.Helper()
	return WriteFile(t, dir, base+".crt", l.CertPEM), WriteFile(t, dir, base+".key", l.KeyPEM)
}
