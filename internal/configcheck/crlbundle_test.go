package configcheck

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
	"intransit/tlspolicy"
)

// TestLoadIdentityCRLBundle: after an intermediate rotation the CRL file
// the PKI publishes is a bundle of both intermediates' CRLs; the check
// (intransitd --check) accepts it with the PKI's CA bundle, and the
// revocation checker it loads refuses a revoked leaf of the replaced
// intermediate.
func TestLoadIdentityCRLBundle(t *testing.T) {
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "corp"})
	dir := t.TempDir()
	issue := func(ca *pki.CA, name string) (*x509.Certificate, pki.IssuedFiles) {
		is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: name, DNSNames: []string{name + ".test"}}, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		files, err := ca.WriteIssued(dir, is)
		if err != nil {
			t.Fatal(err)
		}
		return is.Certificate, files
	}
	_, gw := issue(ca, "gw-a")
	old, _ := issue(ca, "old")
	pkiDir, inter1 := ca.Dir(), ca.Intermediate()
	ca.Close()
	secret := keywrap.Passphrase([]byte(pkitest.Passphrase))
	if _, err := pki.RotateIntermediate(ctx, pkiDir, secret, pki.RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Open(ctx, pkiDir, secret, pki.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if _, err := ca.Revoke(ctx, old.SerialNumber, store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	c, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crls, err := ca.PublishedCRLs(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(dir, "identity.crl")
	bundle := string(pki.EncodeCRLFile(crlFile, crls))
	if n := strings.Count(bundle, "BEGIN X509 CRL"); n != 2 {
		t.Fatalf("the published CRL file holds %d CRLs, want 2", n)
	}
	write(t, crlFile, bundle, 0o644)
	m := material{dir: dir}
	cfg := m.config(t, gw.Chain, gw.Key, filepath.Join(pkiDir, pki.BundleFile), crlFile, "")
	if err := Check(ctx, cfg); err != nil {
		t.Fatalf("Check refuses the CRL bundle: %v", err)
	}
	id, err := LoadIdentity(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := id.Revocation.Check([]*x509.Certificate{old, inter1}); r == nil || r.Reason != tlspolicy.ReasonRevoked {
		t.Fatalf("the revoked leaf of the replaced intermediate: %v, want refused as revoked", r)
	}
}
