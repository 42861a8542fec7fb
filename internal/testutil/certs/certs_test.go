package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"
)

func TestIssueVerifiesAndRoundTrips(t *testing.T) {
	ca := NewCA(t, "certs test CA")
	for _, tt := range []struct {
		key  KeyType
		want string
	}{
		{ECDSAP256, "P-256"}, {ECDSAP384, "P-384"}, {RSA2048, "RSA-2048"}, {RSA1024, "RSA-1024"}, {Ed25519, "Ed25519"},
	} {
		leaf := ca.Issue(LeafOptions{CommonName: "leaf", DNSNames: []string{"localhost"}, URIs: []string{"spiffe://t/leaf"}, OrgUnits: []string{"ops"}, Key: tt.key})
		var got string
		switch k := leaf.Cert.PublicKey.(type) {
		case *ecdsa.PublicKey:
			got = k.Curve.Params().Name
		case *rsa.PublicKey:
			got = "RSA-" + map[int]string{2048: "2048", 1024: "1024"}[k.N.BitLen()]
		case ed25519.PublicKey:
			got = "Ed25519"
		}
		if got != tt.want {
			t.Errorf("key type %d gave %s, want %s", tt.key, got, tt.want)
		}
		if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s leaf does not verify: %v", tt.want, err)
		}
		if leaf.Cert.URIs[0].String() != "spiffe://t/leaf" || leaf.Cert.Subject.OrganizationalUnit[0] != "ops" {
			t.Errorf("names lost: %v %v", leaf.Cert.URIs, leaf.Cert.Subject)
		}
		dir := t.TempDir()
		crt, key := leaf.WriteFiles(t, dir, "leaf")
		if _, err := tls.LoadX509KeyPair(crt, key); err != nil {
			t.Errorf("%s files do not load: %v", tt.want, err)
		}
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %v, %v", fi.Mode(), err)
		}
	}
}

func TestCRL(t *testing.T) {
	ca := NewCA(t, "certs test CA")
	revoked := ca.Issue(LeafOptions{CommonName: "revoked"})
	next := time.Now().Add(time.Hour).Truncate(time.Second)
	crl, err := x509.ParseRevocationList(ca.CRL(next, revoked.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(revoked.Cert.SerialNumber) != 0 {
		t.Errorf("revoked entries %v", crl.RevokedCertificateEntries)
	}
	if !crl.NextUpdate.Equal(next.UTC()) {
		t.Errorf("nextUpdate %v, want %v", crl.NextUpdate, next)
	}
}
