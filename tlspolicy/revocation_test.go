package tlspolicy

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy/crlsource"
)

// TestRevocationBundleOfTwoIssuers: during an intermediate rotation the
// CRL source holds the CRLs of both intermediates; a certificate is
// checked against the CRL of its own issuer, a revocation under either
// takes effect, an expired CRL refuses only the certificates of its
// issuer, and a bundle with two CRLs of one issuer or a forged one is
// refused whole.
func TestRevocationBundleOfTwoIssuers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	oldCA, newCA := certs.NewCA(t, "Intermediate 1"), certs.NewCA(t, "Intermediate 2")
	oldLeaf := oldCA.Issue(certs.LeafOptions{CommonName: "old", URIs: []string{"spiffe://test/old"}})
	oldBad := oldCA.Issue(certs.LeafOptions{CommonName: "old-bad", URIs: []string{"spiffe://test/old-bad"}})
	newLeaf := newCA.Issue(certs.LeafOptions{CommonName: "new", URIs: []string{"spiffe://test/new"}})
	newBad := newCA.Issue(certs.LeafOptions{CommonName: "new-bad", URIs: []string{"spiffe://test/new-bad"}})
	bundle := func(ders ...[]byte) []byte {
		var out []byte
		for _, d := range ders {
			out = append(out, certs.PEM("X509 CRL", d)...)
		}
		return out
	}
	hour := time.Now().Add(time.Hour)
	path := certs.WriteFile(t, dir, "crl.pem", bundle(newCA.CRL(hour, newBad.Cert), oldCA.CRL(hour, oldBad.Cert)))
	cas := &StaticCAs{Set: NewCASet(oldCA.Cert, newCA.Cert)}
	rev, err := NewRevocation(ctx, &crlsource.File{Path: path}, cas, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		leaf    *certs.Leaf
		ca      *certs.CA
		revoked bool
	}{{oldLeaf, oldCA, false}, {oldBad, oldCA, true}, {newLeaf, newCA, false}, {newBad, newCA, true}} {
		r := rev.Check([]*x509.Certificate{tc.leaf.Cert, tc.ca.Cert})
		if tc.revoked != (r != nil && r.Reason == ReasonRevoked) || (!tc.revoked && r != nil) {
			t.Errorf("%s: %v, want revoked %v", tc.leaf.Cert.Subject.CommonName, r, tc.revoked)
		}
	}

	// The old intermediate's CRL lapses: only its certificates are
	// undecidable; NextUpdate is the earliest.
	soon := time.Now().Add(time.Minute)
	certs.ReplaceFile(t, dir, "crl.pem", bundle(newCA.CRL(hour, newBad.Cert), oldCA.CRL(soon, oldBad.Cert)))
	if err := rev.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rev.NextUpdate(); !got.Equal(soon.UTC().Truncate(time.Second)) && got.Sub(soon).Abs() > time.Second {
		t.Errorf("NextUpdate %s, want the earliest, %s", got, soon)
	}
	rev.now = func() time.Time { return soon.Add(time.Second) }
	if r := rev.Check([]*x509.Certificate{oldLeaf.Cert, oldCA.Cert}); r == nil || r.Reason != ReasonRevocationUnknown {
		t.Errorf("old leaf after its CRL lapsed: %v, want revocation_unknown", r)
	}
	if r := rev.Check([]*x509.Certificate{newLeaf.Cert, newCA.Cert}); r != nil {
		t.Errorf("new leaf refused for the old intermediate's lapsed CRL: %v", r)
	}
	rev.now = time.Now

	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"two of one issuer": {bundle(newCA.CRL(hour), newCA.CRL(hour)), "two CRLs of"},
		"a forged one":      {bundle(newCA.CRL(hour), certs.NewCA(t, "Intermediate 1").CRL(hour)), "CRL 2 of 2: signature does not verify"},
	} {
		certs.ReplaceFile(t, dir, "crl.pem", tc.data)
		if err := rev.Reload(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
		if r := rev.Check([]*x509.Certificate{oldBad.Cert, oldCA.Cert}); r == nil || r.Reason != ReasonRevoked {
			t.Errorf("%s: the refused bundle replaced the CRLs in use: %v", name, r)
		}
	}
}
