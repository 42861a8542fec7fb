package enroll

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/renewal"
	"intransit/tlspolicy"
)

// TestIssuerContract runs the renewal.Issuer contract against the
// gateway's renewal endpoint, through a renewal.Renewer as the laptop
// uses it: the renewal keeps the identity, takes a fresh key and the same
// lifetime, is recorded for the client, written in place and taken into
// use; a certificate of the same CA that was not issued through the
// enrollment is refused (renewal.IsRefused); a server whose chain does not
// end in the pinned CA is not asked, and the renewal fails without being
// a refusal. A failed renewal changes nothing.
func TestIssuerContract(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok, _, err := e.srv.Invite(ctx, "alice", "staff", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, csr := p256CSR(t)
	got, err := Enroll(ctx, e.url, tok, csr, e.prof)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, []byte(got.Chain), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pemKey(t, key), 0o600); err != nil {
		t.Fatal(err)
	}
	kp := loadPair(t, certFile, keyFile)
	cas, err := ParseCAs([]byte(got.CA))
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{URL: func() string { return e.renew }, CAs: cas, Profile: e.prof}
	old := leafOf(t, kp)
	var renewed *x509.Certificate
	r := &renewal.Renewer{Name: "client", CertFile: certFile, KeyFile: keyFile, Source: kp, Issuer: iss,
		Renewed: func(c *x509.Certificate) { renewed = c }}
	if err := r.Renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	cur := leafOf(t, kp)
	if renewed == nil || !renewed.Equal(cur) || cur.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatalf("the renewed certificate is not the one in use")
	}
	if len(cur.URIs) != 1 || cur.URIs[0].String() != old.URIs[0].String() || cur.Subject.CommonName != "alice" {
		t.Errorf("renewed %s %v, want %s %v", cur.Subject, cur.URIs, old.Subject, old.URIs)
	}
	if a, b := mustPKIX(t, old), mustPKIX(t, cur); bytes.Equal(a, b) {
		t.Errorf("the renewed certificate keeps the old key")
	}
	if got, want := cur.NotAfter.Sub(cur.NotBefore), old.NotAfter.Sub(old.NotBefore); got != want {
		t.Errorf("lifetime %s, want %s as before", got, want)
	}
	if !leafOf(t, loadPair(t, certFile, keyFile)).Equal(cur) {
		t.Errorf("the files hold another certificate than the one in use")
	}
	if c, err := e.srv.Store.Client(ctx, "alice"); err != nil || len(c.Serials) != 2 || c.Serials[1] != pki.FormatSerial(cur.SerialNumber) {
		t.Errorf("client record after the renewal: %+v %v", c, err)
	}

	// Issued by the same CA, but not through the enrollment: refused.
	is, err := e.ca.Issue(ctx, pki.Request{Profile: pki.ProfileClient, Name: "mallory"}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	files, err := e.ca.WriteIssued(t.TempDir(), is)
	if err != nil {
		t.Fatal(err)
	}
	mkp := loadPair(t, files.Chain, files.Key)
	err = (&renewal.Renewer{Name: "client", CertFile: files.Chain, KeyFile: files.Key, Source: mkp, Issuer: iss}).Renew(ctx)
	if !renewal.IsRefused(err) {
		t.Fatalf("renewal of a certificate not enrolled: %v, want a refusal", err)
	}
	t.Logf("not enrolled: %v", err)
	if !leafOf(t, mkp).Equal(is.Certificate) || !leafOf(t, loadPair(t, files.Chain, files.Key)).Equal(is.Certificate) {
		t.Errorf("a refused renewal changed the certificate")
	}

	// Another CA pinned: the gateway is not trusted, nothing is sent.
	other := pkitest.NewCA(t, pki.InitOptions{Name: "otherca"})
	untrusted := &Issuer{URL: func() string { return e.renew }, CAs: []*x509.Certificate{other.Root()}, Profile: e.prof}
	err = (&renewal.Renewer{Name: "client", CertFile: certFile, KeyFile: keyFile, Source: kp, Issuer: untrusted}).Renew(ctx)
	if err == nil || renewal.IsRefused(err) {
		t.Fatalf("renewal at a gateway of another CA: %v, want a failure that is not a refusal", err)
	}
	if !leafOf(t, kp).Equal(cur) || !leafOf(t, loadPair(t, certFile, keyFile)).Equal(cur) {
		t.Errorf("a failed renewal changed the certificate")
	}
}

func loadPair(t *testing.T, certFile, keyFile string) *tlspolicy.KeyPairFiles {
	t.Helper()
	kp, err := tlspolicy.LoadKeyPairFiles(certFile, keyFile, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func leafOf(t *testing.T, src tlspolicy.CertificateSource) *x509.Certificate {
	t.Helper()
	c, err := src.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

func mustPKIX(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
