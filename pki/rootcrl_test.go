package pki_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
)

// crlCheckAll runs openssl verify -crl_check_all on leaf with the root,
// the given intermediates as untrusted, and the CRL files; it returns
// openssl's output and whether it verified.
func crlCheckAll(t *testing.T, bin, dir, leaf string, inters []string, crls ...string) (string, bool) {
	t.Helper()
	args := []string{"verify", "-crl_check_all", "-CAfile", filepath.Join(dir, pki.RootCertFile)}
	for _, i := range inters {
		args = append(args, "-untrusted", i)
	}
	for _, c := range crls {
		args = append(args, "-CRLfile", c)
	}
	out, err := openssl(t, bin, append(args, leaf)...)
	return out, err == nil && strings.Contains(out, ": OK")
}

func writeCRL(t *testing.T, ca *pki.CA, path string) string {
	t.Helper()
	c, err := ca.NewCRL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pki.PEMCRL(c.DER), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRevocationCompleteWithOpenSSL: the root signs a CRL for its
// intermediates and the intermediate points at it; openssl verify
// -crl_check_all passes for a good leaf, fails for a revoked leaf, and
// fails for every leaf once their intermediate is revoked.
func TestRevocationCompleteWithOpenSSL(t *testing.T) {
	bin := pkitest.Openssl(t)
	ctx := context.Background()
	secret := keywrap.Passphrase([]byte(pkitest.Passphrase))
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: dir, Name: "rev", CRLURL: "http://pki.example.net/ca/crl", Secret: secret, KDF: pkitest.FastKDF()})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if got := ca.Intermediate().CRLDistributionPoints; !slices.Equal(got, []string{"http://pki.example.net/ca/root.crl"}) {
		t.Fatalf("intermediate CDP = %v, want the root CRL beside the leaves' CRL", got)
	}
	out := t.TempDir()
	issue := func(name string) string {
		is, err := ca.Issue(ctx, issueReq(pki.ProfileGateway, name), pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(is.Certificate.CRLDistributionPoints, []string{"http://pki.example.net/ca/crl"}) {
			t.Fatalf("leaf CDP = %v", is.Certificate.CRLDistributionPoints)
		}
		f, err := ca.WriteIssued(out, is)
		if err != nil {
			t.Fatal(err)
		}
		return f.Cert
	}
	good, bad := issue("good"), issue("bad")
	if _, err := ca.RevokeRef(ctx, "bad", store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	interCRL := writeCRL(t, ca, filepath.Join(out, "inter.crl.pem"))
	rootCRL := filepath.Join(dir, pki.RootCRLPEMFile)
	inters := []string{filepath.Join(dir, pki.IntermediateFile)}

	if o, ok := crlCheckAll(t, bin, dir, good, inters, interCRL); ok || !strings.Contains(o, "unable to get certificate CRL") {
		t.Fatalf("without the root CRL openssl should miss the intermediate's CRL:\n%s", o)
	}
	if o, ok := crlCheckAll(t, bin, dir, good, inters, rootCRL, interCRL); !ok {
		t.Fatalf("good leaf with -crl_check_all:\n%s", o)
	}
	if o, ok := crlCheckAll(t, bin, dir, bad, inters, rootCRL, interCRL); ok || !strings.Contains(o, "certificate revoked") {
		t.Fatalf("revoked leaf with -crl_check_all should fail as revoked:\n%s", o)
	}

	if _, err := pki.RevokeIntermediate(ctx, dir, keywrap.Passphrase([]byte("wrong")), ca.Intermediate().SerialNumber, store.ReasonKeyCompromise); err == nil {
		t.Fatal("RevokeIntermediate with a wrong passphrase succeeded")
	}
	rl, err := pki.RevokeIntermediate(ctx, dir, secret, ca.Intermediate().SerialNumber, store.ReasonKeyCompromise)
	if err != nil {
		t.Fatal(err)
	}
	if rl.Number.Int64() != 2 || len(rl.RevokedCertificateEntries) != 1 {
		t.Fatalf("root CRL number %v with %d entries, want 2 with 1", rl.Number, len(rl.RevokedCertificateEntries))
	}
	if _, err := pki.RevokeIntermediate(ctx, dir, secret, ca.Intermediate().SerialNumber, store.ReasonKeyCompromise); !pki.IsRefusal(err) {
		t.Fatalf("revoking it again: %v, want a refusal", err)
	}
	o, ok := crlCheckAll(t, bin, dir, good, inters, rootCRL, interCRL)
	if ok || !strings.Contains(o, "certificate revoked") {
		t.Fatalf("a leaf under a revoked intermediate should fail:\n%s", o)
	}
	t.Logf("leaf under the revoked intermediate: %s", strings.TrimSpace(o))
	der, err := ca.RootCRL()
	if err != nil || len(der) == 0 {
		t.Fatalf("RootCRL: %v", err)
	}
}

// TestIntermediateRotationWithOpenSSL: a new intermediate under the same
// root; during the overlap leaves of both verify with -crl_check_all (each
// intermediate signs its own CRL), a leaf of the old one can still be
// revoked, new leaves come from the new one, and revoking the old
// intermediate fails only its leaves.
func TestIntermediateRotationWithOpenSSL(t *testing.T) {
	bin := pkitest.Openssl(t)
	ctx := context.Background()
	r := rotatedPKI(t, "rot", pki.ProfileServer)
	dir, out, secret, ca, inter1, inter2, old1, old2, issue := r.dir, r.out, r.secret, r.ca, r.inter1, r.inter2, r.old1, r.old2, r.issue
	if inter2.Subject.CommonName != "rot Intermediate CA 2" || inter2.CheckSignatureFrom(ca.Root()) != nil || len(inter2.CRLDistributionPoints) != 1 {
		t.Fatalf("new intermediate %q, CDP %v", inter2.Subject.CommonName, inter2.CRLDistributionPoints)
	}
	if !ca.Intermediate().Equal(inter2) || len(ca.Intermediates()) != 2 || !ca.Intermediates()[1].Equal(inter1) {
		t.Fatal("the opened CA does not issue from the new intermediate with the old one beside it")
	}
	bundle, err := os.ReadFile(filepath.Join(dir, pki.BundleFile))
	if err != nil || strings.Count(string(bundle), "BEGIN CERTIFICATE") != 3 {
		t.Fatalf("%s holds %d certificates, want both intermediates and the root (%v)", pki.BundleFile, strings.Count(string(bundle), "BEGIN CERTIFICATE"), err)
	}
	new1 := issue(ca, "new1")
	if _, err := ca.RevokeRef(ctx, "old2", store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	checkCRLsServed(t, ca, inter1, inter2, new1)
	crl2 := writeCRL(t, ca, filepath.Join(out, "inter2.crl.pem"))
	prev, err := ca.PreviousCRLs(ctx)
	if err != nil || len(prev) != 1 {
		t.Fatalf("PreviousCRLs: %d, %v", len(prev), err)
	}
	crl1 := filepath.Join(out, "inter1.crl.pem")
	if err := os.WriteFile(crl1, prev[0], 0o644); err != nil {
		t.Fatal(err)
	}
	prevDir := filepath.Join(dir, pki.PreviousIntermediatesDir, pki.FormatSerial(inter1.SerialNumber)+".crt")
	inters := []string{filepath.Join(dir, pki.IntermediateFile), prevDir}
	rootCRL := filepath.Join(dir, pki.RootCRLPEMFile)
	for _, leaf := range []string{old1, new1} {
		if o, ok := crlCheckAll(t, bin, dir, leaf, inters, rootCRL, crl1, crl2); !ok {
			t.Fatalf("%s during the overlap:\n%s", filepath.Base(leaf), o)
		}
	}
	if o, ok := crlCheckAll(t, bin, dir, old2, inters, rootCRL, crl1, crl2); ok || !strings.Contains(o, "certificate revoked") {
		t.Fatalf("a revoked leaf of the old intermediate verifies:\n%s", o)
	}
	if _, err := pki.RevokeIntermediate(ctx, dir, secret, inter1.SerialNumber, store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if o, ok := crlCheckAll(t, bin, dir, old1, inters, rootCRL, crl1, crl2); ok || !strings.Contains(o, "certificate revoked") {
		t.Fatalf("a leaf of the revoked old intermediate verifies:\n%s", o)
	}
	if o, ok := crlCheckAll(t, bin, dir, new1, inters, rootCRL, crl1, crl2); !ok {
		t.Fatalf("a leaf of the new intermediate fails after the old one is revoked:\n%s", o)
	}
}

// checkCRLsServed: leaves of the new intermediate point at
// <crl_url>/<its serial>, and the CA's handler serves there the new
// intermediate's CRL, at crl_url itself the first one's (whose leaves
// point there), and nothing for a serial that is no intermediate.
func checkCRLsServed(t *testing.T, ca *pki.CA, inter1, inter2 *x509.Certificate, newLeaf string) {
	t.Helper()
	b, err := os.ReadFile(newLeaf)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	want := "http://pki.example.net/crl/" + pki.FormatSerial(inter2.SerialNumber)
	if !slices.Equal(leaf.CRLDistributionPoints, []string{want}) {
		t.Fatalf("new leaf CDP = %v, want %s", leaf.CRLDistributionPoints, want)
	}
	srv := httptest.NewServer(ca.Handler())
	defer srv.Close()
	get := func(path string) (*x509.RevocationList, int) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, resp.StatusCode
		}
		rl, err := x509.ParseRevocationList(body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return rl, resp.StatusCode
	}
	for path, issuer := range map[string]*x509.Certificate{
		"/crl": inter1,
		"/crl/" + pki.FormatSerial(inter2.SerialNumber):                  inter2,
		"/crl/" + strings.ToUpper(pki.FormatSerial(inter1.SerialNumber)): inter1,
	} {
		rl, code := get(path)
		if rl == nil || rl.CheckSignatureFrom(issuer) != nil {
			t.Errorf("GET %s: status %d, want a CRL signed by %q", path, code, issuer.Subject.CommonName)
		}
	}
	if _, code := get("/crl/0a0b0c0d0e0f1011"); code != http.StatusNotFound {
		t.Errorf("GET /crl/<not an intermediate>: status %d, want 404", code)
	}
}

// rotation is a fresh PKI whose first intermediate issued two leaves (old1
// and old2, their certificate files) and was then replaced by
// RotateIntermediate; ca is the PKI opened again, issuing from inter2, and
// closed when the test ends. issue writes a leaf of ca and returns its
// certificate file.
type rotation struct {
	dir            string
	secret         keywrap.Secret
	ca             *pki.CA
	inter1, inter2 *x509.Certificate
	old1, old2     string
	out            string // where issue writes
	issue          func(ca *pki.CA, name string) string
}

// rotatedPKI builds a rotation named name whose leaves have profile.
func rotatedPKI(t *testing.T, name, profile string) *rotation {
	t.Helper()
	ctx := context.Background()
	r := &rotation{dir: filepath.Join(t.TempDir(), "pki"), secret: keywrap.Passphrase([]byte(pkitest.Passphrase))}
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: r.dir, Name: name, CRLURL: "http://pki.example.net/crl", Secret: r.secret, KDF: pkitest.FastKDF()})
	if err != nil {
		t.Fatal(err)
	}
	r.out = t.TempDir()
	r.issue = func(ca *pki.CA, name string) string {
		t.Helper()
		is, err := ca.Issue(ctx, issueReq(profile, name), pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ca.WriteIssued(r.out, is)
		if err != nil {
			t.Fatal(err)
		}
		return f.Cert
	}
	r.old1, r.old2 = r.issue(ca, "old1"), r.issue(ca, "old2")
	r.inter1 = ca.Intermediate()
	ca.Close()
	if r.inter2, err = pki.RotateIntermediate(ctx, r.dir, r.secret, pki.RotateOptions{}); err != nil {
		t.Fatalf("RotateIntermediate: %v", err)
	}
	if r.ca, err = pki.Open(ctx, r.dir, r.secret, pki.OpenOptions{}); err != nil {
		t.Fatalf("Open after rotation: %v", err)
	}
	t.Cleanup(func() { r.ca.Close() })
	return r
}
