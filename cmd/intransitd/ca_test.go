package main

import (
	"context"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/daemonconfig"
	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/admin"
	"intransit/pki/keywrap"
	"intransit/pki/store"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
)

// TestHeldCA: the daemon opens the CA once, serves the admin socket in the
// PKI directory, and a revocation through it replaces identity.crl and
// reaches the gateways' revocation checker before the call returns.
func TestHeldCA(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ca, is, crlFile, pass := heldCALab(t, "held", "peer", "crl.pem", pki.PEMCRL)
	pkiDir := ca.Dir()
	inter := ca.Intermediate()
	ca.Close()

	cas := &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(inter)}
	rev, err := tlspolicy.NewRevocation(ctx, &crlsource.File{Path: crlFile}, cas, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &daemonconfig.Config{Identity: daemonconfig.Identity{CRL: crlFile},
		PKI: &daemonconfig.P2SPKI{Dir: pkiDir, PassphraseFile: pass}}
	rt, err := startCA(ctx, cfg, rev, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := admin.Dial(ctx, pkiDir)
	if err != nil {
		rt.close()
		t.Fatal(err)
	}
	if ref := rev.Check([]*x509.Certificate{is.Certificate}); ref != nil {
		t.Fatalf("refused before the revocation: %v", ref)
	}
	t0 := time.Now()
	rv, err := c.Revoke(ctx, "peer", store.ReasonKeyCompromise)
	t.Logf("revoke through the socket took %s", time.Since(t0))
	if err != nil {
		t.Fatal(err)
	}
	if len(rv.Published) != 1 || rv.Published[0] != crlFile {
		t.Errorf("published to %v, want %s", rv.Published, crlFile)
	}
	if ref := rev.Check([]*x509.Certificate{is.Certificate}); ref == nil || ref.Reason != tlspolicy.ReasonRevoked {
		t.Errorf("the revocation did not reach the checker: %v", ref)
	}
	c.Close()
	rt.close()
	if _, err := os.Stat(filepath.Join(pkiDir, admin.SocketFile)); err == nil {
		t.Errorf("admin socket left after close")
	}
	if _, err := admin.Dial(ctx, pkiDir); err == nil {
		t.Errorf("admin socket still answers after close")
	}
}

// TestHeldCAAfterRotation: after an intermediate rotation, while
// identity.crl still holds the replaced intermediate's CRL, the daemon
// still owns the file, and revoking a leaf of the replaced intermediate
// through the admin socket publishes the CRLs of both intermediates there,
// so that the gateways' checker refuses that leaf.
func TestHeldCAAfterRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ca, is, crlFile, pass := heldCALab(t, "rotated", "old", "identity.crl", func(der []byte) []byte { return der })
	pkiDir, inter1 := ca.Dir(), ca.Intermediate()
	ca.Close()
	inter2, err := pki.RotateIntermediate(ctx, pkiDir, keywrap.Passphrase([]byte(pkitest.Passphrase)), pki.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := tlspolicy.NewRevocation(ctx, &crlsource.File{Path: crlFile}, &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(inter1, inter2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &daemonconfig.Config{Identity: daemonconfig.Identity{CRL: crlFile},
		PKI: &daemonconfig.P2SPKI{Dir: pkiDir, PassphraseFile: pass}}
	rt, err := startCA(ctx, cfg, rev, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.close()
	if ok, why := ownsCRLFile(rt.ca, cfg.Identity); !ok {
		t.Fatalf("the daemon does not own identity.crl holding the replaced intermediate's CRL: %s", why)
	}
	c, err := admin.Dial(ctx, pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rv, err := c.Revoke(ctx, "old", store.ReasonKeyCompromise)
	if err != nil {
		t.Fatal(err)
	}
	if len(rv.Published) != 1 || rv.Published[0] != crlFile {
		t.Errorf("published to %v, want %s", rv.Published, crlFile)
	}
	if ref := rev.Check([]*x509.Certificate{is.Certificate, inter1}); ref == nil || ref.Reason != tlspolicy.ReasonRevoked {
		t.Errorf("the revoked leaf of the replaced intermediate is not refused: %v", ref)
	}
	b, err := os.ReadFile(crlFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "BEGIN X509 CRL"); n != 2 {
		t.Errorf("identity.crl holds %d PEM CRLs, want those of both intermediates", n)
	}
}

// TestOwnsCRLFile: the daemon replaces identity.crl only when it is a file
// with the held CA's CRL, or none yet.
func TestOwnsCRLFile(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "mine"})
	other := pkitest.NewCA(t, pki.InitOptions{Name: "other"})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mine, err := ca.NewCRL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := other.NewCRL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, crl string
		want      bool
	}{
		{"a URL", "https://pki.example/crl", false},
		{"no file yet", filepath.Join(dir, "none.pem"), true},
		{"ours, PEM", write("mine.pem", pki.PEMCRL(mine.DER)), true},
		{"ours, DER", write("mine.der", mine.DER), true},
		{"another CA's", write("theirs.pem", pki.PEMCRL(theirs.DER)), false},
		{"not a CRL", write("junk.pem", []byte("junk")), false},
	} {
		ok, why := ownsCRLFile(ca, daemonconfig.Identity{CRL: tc.crl})
		if ok != tc.want || (!ok && why == "") {
			t.Errorf("%s: %v %q, want %v (with a reason when false)", tc.name, ok, why, tc.want)
		}
	}
}

// countingPublisher counts the CRLs that reach it.
type countingPublisher struct{ numbers []uint64 }

func (p *countingPublisher) PublishCRL(_ context.Context, c *store.CRL) ([]string, error) {
	p.numbers = append(p.numbers, c.Number)
	return []string{"x"}, nil
}

func TestMonotonicPublisher(t *testing.T) {
	t.Parallel()
	next := &countingPublisher{}
	m := &monotonic{next: next}
	for _, n := range []uint64{2, 1, 3, 3} {
		if _, err := m.PublishCRL(context.Background(), &store.CRL{Number: n}); err != nil {
			t.Fatal(err)
		}
	}
	if got := next.numbers; len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 3 {
		t.Errorf("published %v, want 2, 3, 3 (1 is older than 2)", got)
	}
}

// heldCALab is a fresh CA named name with a gateway leaf named leaf, its
// current CRL written (through encode) to crlFile, identity.crl of the
// tests, and the PKI's passphrase in the private file pass.
func heldCALab(t *testing.T, name, leaf, crlName string, encode func(der []byte) []byte) (ca *pki.CA, is *pki.Issued, crlFile, pass string) {
	t.Helper()
	ctx := context.Background()
	ca = pkitest.NewCA(t, pki.InitOptions{Name: name})
	is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: leaf, DNSNames: []string{leaf + ".test"}}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crlFile, pass = filepath.Join(dir, crlName), filepath.Join(dir, "pass")
	if err := os.WriteFile(crlFile, encode(first.DER), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pass, []byte(pkitest.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca, is, crlFile, pass
}
