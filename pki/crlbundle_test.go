package pki_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/admin"
	"intransit/pki/store"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
)

// readLeaf parses the certificate in the PEM file path.
func readLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPublishedCRLBundleDuringOverlap: after an intermediate rotation the
// CRL file the PKI publishes (admin.CRLFiles, as the daemon writes
// identity.crl) holds the CRL of both intermediates, each signed by its
// own; a revoked leaf of the old intermediate is listed under the old
// issuer, refused by a tlspolicy.Revocation read from that file and by
// openssl verify -crl_check_all with it, while leaves of both
// intermediates that are not revoked pass. Once the old intermediate is
// revoked by the root, its CRL leaves the file.
func TestPublishedCRLBundleDuringOverlap(t *testing.T) {
	bin := pkitest.Openssl(t)
	ctx := context.Background()
	r := rotatedPKI(t, "bundle", pki.ProfileGateway)
	dir, out, secret, ca, inter1, inter2, old1, old2, issue := r.dir, r.out, r.secret, r.ca, r.inter1, r.inter2, r.old1, r.old2, r.issue
	new1 := issue(ca, "new1")
	if _, err := ca.RevokeRef(ctx, "old2", store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}

	crlFile := filepath.Join(out, "identity.crl")
	pub := &admin.CRLFiles{Paths: []string{crlFile}, CA: ca}
	publish := func() []*x509.RevocationList {
		t.Helper()
		c, err := ca.CurrentCRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.PublishCRL(ctx, c); err != nil {
			t.Fatalf("PublishCRL: %v", err)
		}
		b, err := os.ReadFile(crlFile)
		if err != nil {
			t.Fatal(err)
		}
		var lists []*x509.RevocationList
		for rest := b; ; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				break
			}
			rl, err := x509.ParseRevocationList(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			lists = append(lists, rl)
		}
		if len(lists) == 0 { // one CRL in a file not named .pem is DER
			rl, err := x509.ParseRevocationList(b)
			if err != nil {
				t.Fatalf("%s is neither a PEM bundle nor a DER CRL: %v", crlFile, err)
			}
			lists = append(lists, rl)
		}
		return lists
	}

	lists := publish()
	if len(lists) != 2 {
		t.Fatalf("the published file holds %d CRLs, want those of both intermediates", len(lists))
	}
	revokedSN := readLeaf(t, old2).SerialNumber
	var underOld bool
	for i, want := range []*x509.Certificate{inter2, inter1} {
		if err := lists[i].CheckSignatureFrom(want); err != nil {
			t.Fatalf("CRL %d is not signed by %q: %v", i, want.Subject.CommonName, err)
		}
	}
	for _, e := range lists[1].RevokedCertificateEntries {
		underOld = underOld || e.SerialNumber.Cmp(revokedSN) == 0
	}
	if !underOld {
		t.Fatalf("the old intermediate's CRL does not list the revoked leaf %s", pki.FormatSerial(revokedSN))
	}

	rev, err := tlspolicy.NewRevocation(ctx, &crlsource.File{Path: crlFile}, &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(ca.Root(), inter1, inter2)}, nil)
	if err != nil {
		t.Fatalf("tlspolicy.NewRevocation from the published file: %v", err)
	}
	if r := rev.Check([]*x509.Certificate{readLeaf(t, old2), inter1, ca.Root()}); r == nil || r.Reason != tlspolicy.ReasonRevoked {
		t.Fatalf("the revoked leaf of the old intermediate: %v, want refused as revoked", r)
	}
	for _, leaf := range []struct {
		path  string
		inter *x509.Certificate
	}{{old1, inter1}, {new1, inter2}} {
		if r := rev.Check([]*x509.Certificate{readLeaf(t, leaf.path), leaf.inter, ca.Root()}); r != nil {
			t.Fatalf("%s: refused: %v", filepath.Base(leaf.path), r)
		}
	}

	inters := []string{filepath.Join(dir, pki.IntermediateFile), filepath.Join(dir, pki.PreviousIntermediatesDir, pki.FormatSerial(inter1.SerialNumber)+".crt")}
	rootCRL := filepath.Join(dir, pki.RootCRLPEMFile)
	o, ok := crlCheckAll(t, bin, dir, old2, inters, rootCRL, crlFile)
	if ok || !strings.Contains(o, "certificate revoked") {
		t.Fatalf("openssl verify -crl_check_all of the revoked old leaf with the bundle should fail as revoked:\n%s", o)
	}
	t.Logf("revoked leaf of the old intermediate: %s", strings.TrimSpace(o))
	for _, leaf := range []string{old1, new1} {
		if o, ok := crlCheckAll(t, bin, dir, leaf, inters, rootCRL, crlFile); !ok {
			t.Fatalf("openssl verify -crl_check_all of %s with the bundle:\n%s", filepath.Base(leaf), o)
		}
	}
	if o, err := openssl(t, bin, "crl", "-in", crlFile, "-noout", "-issuer"); err != nil || !strings.Contains(o, inter2.Subject.CommonName) {
		t.Fatalf("openssl crl -in the bundle: %v\n%s", err, o)
	}

	if _, err := pki.RevokeIntermediate(ctx, dir, secret, inter1.SerialNumber, store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RevokeRef(ctx, "new1", store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if lists := publish(); len(lists) != 1 || lists[0].CheckSignatureFrom(inter2) != nil {
		t.Fatalf("after the root revoked the old intermediate the file holds %d CRLs, want the new intermediate's alone", len(lists))
	}
}
