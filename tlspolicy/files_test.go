package tlspolicy

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy/crlsource"
)

func TestKeyPairFilesReload(t *testing.T) {
	f := newFixture(t)
	log, logs := newLogger()
	certPath, keyPath := f.server.WriteFiles(t, f.dir, "server")
	kp, err := LoadKeyPairFiles(certPath, keyPath, mustProfile(t, Baseline), log)
	if err != nil {
		t.Fatal(err)
	}
	current := func() string {
		c, err := kp.Certificate()
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if current() != "server" {
		t.Fatalf("loaded %q", current())
	}
	ctx := context.Background()

	certs.ReplaceFile(t, f.dir, "server.crt", []byte("not PEM"))
	if err := kp.Reload(ctx); err == nil {
		t.Fatal("a broken certificate file was accepted")
	}
	if current() != "server" || !strings.Contains(logs.String(), "keeping the previous version") {
		t.Fatalf("after a broken file: serving %q, log:\n%s", current(), logs)
	}

	weak := f.ca.Issue(certs.LeafOptions{CommonName: "weak", Key: certs.RSA1024})
	certs.ReplaceFile(t, f.dir, "server.crt", weak.CertPEM)
	certs.ReplaceFile(t, f.dir, "server.key", weak.KeyPEM)
	if err := kp.Reload(ctx); err == nil || !strings.Contains(err.Error(), "1024 bits") {
		t.Fatalf("a certificate below the profile was accepted: %v", err)
	}

	next := f.ca.Issue(certs.LeafOptions{CommonName: "server-2", DNSNames: []string{"localhost"}})
	certs.ReplaceFile(t, f.dir, "server.crt", next.CertPEM)
	if err := kp.Reload(ctx); err == nil {
		t.Fatal("a certificate that does not match its key was accepted")
	}
	certs.ReplaceFile(t, f.dir, "server.key", next.KeyPEM)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go kp.Watch(wctx, 20*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for current() != "server-2" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if current() != "server-2" {
		t.Fatalf("Watch did not pick up the new pair; serving %q", current())
	}
}

func TestCAFile(t *testing.T) {
	f := newFixture(t)
	other := certs.NewCA(t, "Other CA")
	path := certs.WriteFile(t, f.dir, "cas.pem", append(append([]byte{}, f.ca.CertPEM...), other.CertPEM...))
	cf, err := LoadCAFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cf.CAs().Certs); n != 2 {
		t.Fatalf("loaded %d CAs, want 2", n)
	}
	for name, data := range map[string][]byte{
		"leaf":     f.alice.CertPEM,
		"empty":    nil,
		"key":      f.alice.KeyPEM,
		"trailing": append(append([]byte{}, f.ca.CertPEM...), "garbage"...),
	} {
		certs.ReplaceFile(t, f.dir, "cas.pem", data)
		if err := cf.Reload(context.Background()); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if n := len(cf.CAs().Certs); n != 2 {
			t.Errorf("%s: the previous set was not kept (%d CAs)", name, n)
		}
	}
}

func TestRevocationRefusesBadCRLs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cas := &StaticCAs{Set: NewCASet(f.ca.Cert)}
	log, logs := newLogger()
	rev, err := NewRevocation(ctx, &crlsource.File{Path: f.crlPath}, cas, log)
	if err != nil {
		t.Fatal(err)
	}
	if r := rev.Check([]*x509.Certificate{f.mallory.Cert, f.ca.Cert}); r == nil || r.Reason != ReasonRevoked {
		t.Fatalf("mallory not revoked: %v", r)
	}
	if r := rev.Check([]*x509.Certificate{f.alice.Cert, f.ca.Cert}); r != nil {
		t.Fatalf("alice refused: %v", r)
	}

	impostor := certs.NewCA(t, "Test CA") // same name, other key
	certs.ReplaceFile(t, f.dir, "ca.crl", impostor.CRL(time.Now().Add(time.Hour), f.alice.Cert))
	if err := rev.Reload(ctx); err == nil || !strings.Contains(err.Error(), "signature does not verify") {
		t.Fatalf("a CRL signed by another key: %v", err)
	}
	if r := rev.Check([]*x509.Certificate{f.alice.Cert, f.ca.Cert}); r != nil {
		t.Fatalf("the forged CRL took effect: %v", r)
	}
	if !strings.Contains(logs.String(), "keeping the previous CRL") {
		t.Errorf("refused CRL not logged:\n%s", logs)
	}

	stranger := certs.NewCA(t, "Stranger CA")
	certs.ReplaceFile(t, f.dir, "ca.crl", stranger.CRL(time.Now().Add(time.Hour)))
	if err := rev.Reload(ctx); err == nil || !strings.Contains(err.Error(), "not a trusted CA") {
		t.Fatalf("a CRL from an unknown issuer: %v", err)
	}

	certs.ReplaceFile(t, f.dir, "ca.crl", []byte("junk"))
	if err := rev.Reload(ctx); err == nil {
		t.Fatal("junk CRL accepted")
	}

	rev.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if r := rev.Check([]*x509.Certificate{f.alice.Cert, f.ca.Cert}); r == nil || r.Reason != ReasonRevocationUnknown {
		t.Fatalf("expired CRL: %v, want revocation_unknown", r)
	}
}

func TestRevocationWatchRefreshesAtNextUpdate(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cas := &StaticCAs{Set: NewCASet(f.ca.Cert)}
	first := f.ca.CRL(time.Now().Add(3 * time.Second))
	fresh := f.ca.CRL(time.Now().Add(time.Hour), f.alice.Cert)
	mux := http.NewServeMux()
	mux.HandleFunc("/crl", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(fresh) })
	served := 0
	src := &crlsource.Handler{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		if served == 1 {
			_, _ = w.Write(first)
			return
		}
		mux.ServeHTTP(w, r)
	}), Path: "/crl"}
	rev, err := NewRevocation(ctx, src, cas, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := rev.Check([]*x509.Certificate{f.alice.Cert, f.ca.Cert}); r != nil {
		t.Fatalf("alice refused by the first CRL: %v", r)
	}
	done := make(chan struct{})
	go func() { rev.Watch(ctx, time.Hour); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for ReasonOf(checkErr(rev, f.alice.Cert, f.ca.Cert)) != ReasonRevoked && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if r := rev.Check([]*x509.Certificate{f.alice.Cert, f.ca.Cert}); r == nil || r.Reason != ReasonRevoked {
		t.Fatalf("the CRL was not refreshed at its nextUpdate: %v", r)
	}
	cancel()
	<-done
}

func TestHandlerSourceStatus(t *testing.T) {
	src := &crlsource.Handler{Handler: http.NotFoundHandler(), Path: "/crl"}
	if _, err := src.FetchCRL(context.Background()); err == nil || !strings.Contains(err.Error(), "status 404") {
		t.Fatalf("404 from handler: %v", err)
	}
}

// checkErr returns Check's refusal as an error (nil when allowed).
func checkErr(rev *Revocation, chain ...*x509.Certificate) error {
	if r := rev.Check(chain); r != nil {
		return r
	}
	return nil
}
