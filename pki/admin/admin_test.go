package admin_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/admin"
	"intransit/pki/store"
)

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	mu   sync.Mutex
	crls []*store.CRL
}

func (r *recorder) PublishCRL(_ context.Context, c *store.CRL) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.crls = append(r.crls, c)
	return []string{"recorded"}, nil
}

func csrFor(t *testing.T, name string) *x509.CertificateRequest {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, k)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// serve runs the admin socket of an open CA in its directory and returns
// a client of it.
func serve(t *testing.T, ca *pki.CA, pub admin.Publisher) *admin.Client {
	t.Helper()
	ln, err := admin.Listen(ca.Dir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.Serve(ctx, ln, admin.NewLocal(ca, pub, nil), nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c, err := admin.Dial(context.Background(), ca.Dir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCA is the contract of admin.CA, run against every implementation:
// sign, list, find, revoke (once), CRL; refusals stay refusals.
func testCA(t *testing.T, ca admin.CA, published func() int) {
	ctx := context.Background()
	s, err := ca.Sign(ctx, csrFor(t, "x"), pki.Request{Profile: pki.ProfileGateway, Name: "gw1", DNSNames: []string{"gw1.test"},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.7")}})
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if s.Record.Name != "gw1" || s.Record.Serial.Cmp(s.Certificate.SerialNumber) != 0 || s.Certificate.CheckSignatureFrom(s.Intermediate) != nil {
		t.Fatalf("signed %+v: record and certificate disagree, or not signed by the intermediate", s.Record)
	}
	if len(s.Certificate.IPAddresses) != 1 || !s.Certificate.IPAddresses[0].Equal(net.ParseIP("192.0.2.7")) {
		t.Errorf("IP addresses %v", s.Certificate.IPAddresses)
	}
	if _, err := ca.Sign(ctx, csrFor(t, "x"), pki.Request{Profile: "nope", Name: "gw2"}); !pki.IsRefusal(err) {
		t.Errorf("sign with an unknown profile: %v, want a refusal", err)
	}
	recs, err := ca.List(ctx, store.Filter{Profile: pki.ProfileGateway})
	if err != nil || len(recs) != 1 || recs[0].Serial.Cmp(s.Record.Serial) != 0 {
		t.Fatalf("list: %v %v", recs, err)
	}
	if recs, err := ca.List(ctx, store.Filter{Status: store.StatusRevoked}); err != nil || len(recs) != 0 {
		t.Fatalf("list revoked before any revocation: %v %v", recs, err)
	}
	for _, ref := range []string{"gw1", pki.FormatSerial(s.Record.Serial)} {
		if recs, err := ca.Find(ctx, ref); err != nil || len(recs) != 1 || recs[0].Name != "gw1" {
			t.Errorf("find %s: %v %v", ref, recs, err)
		}
	}
	if _, err := ca.Find(ctx, "nobody"); !pki.IsRefusal(err) {
		t.Errorf("find an unknown name: %v, want a refusal", err)
	}
	before := published()
	rv, err := ca.Revoke(ctx, "gw1", store.ReasonKeyCompromise)
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if rv.Record.Status != store.StatusRevoked || rv.Record.Serial.Cmp(s.Record.Serial) != 0 || rv.Record.Reason != store.ReasonKeyCompromise {
		t.Errorf("revoked record %+v", rv.Record)
	}
	if n := published() - before; (rv.CRL != nil) != (n == 1) {
		t.Errorf("revoke answered CRL %v, and %d CRLs were published", rv.CRL, n)
	}
	if rv.CRL != nil {
		list, err := x509.ParseRevocationList(rv.CRL.DER)
		if err != nil || len(list.RevokedCertificateEntries) != 1 || list.RevokedCertificateEntries[0].SerialNumber.Cmp(s.Record.Serial) != 0 {
			t.Errorf("the CRL published with the revocation does not list it: %v", err)
		}
	}
	if _, err := ca.Revoke(ctx, "gw1", store.ReasonKeyCompromise); !pki.IsRefusal(err) {
		t.Errorf("revoke twice: %v, want a refusal", err)
	}
	c1, err := ca.CRL(ctx)
	if err != nil {
		t.Fatalf("crl: %v", err)
	}
	c2, err := ca.CRL(ctx)
	if err != nil {
		t.Fatalf("crl: %v", err)
	}
	if c1.Revoked != 1 || c2.CRL.Number <= c1.CRL.Number {
		t.Errorf("CRLs %d then %d, %d revoked; want increasing numbers and 1 revoked", c1.CRL.Number, c2.CRL.Number, c1.Revoked)
	}
	if _, err := x509.ParseRevocationList(c2.CRL.DER); err != nil {
		t.Errorf("CRL: %v", err)
	}
}

func TestLocalCA(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "local"})
	testCA(t, admin.NewLocal(ca, nil, nil), func() int { return 0 })
}

func TestLocalCAPublishes(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "publish"})
	rec := &recorder{}
	testCA(t, admin.NewLocal(ca, rec, nil), func() int { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.crls) })
}

func TestSocketCA(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "socket"})
	rec := &recorder{}
	c := serve(t, ca, rec)
	fi, err := os.Stat(c.Socket())
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("admin socket %v, mode %v: want a socket of mode 0600", err, fi.Mode())
	}
	testCA(t, c, func() int { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.crls) })
}

// TestDial: no socket and a stale socket file mean no daemon; a socket
// with a server behind it is used.
func TestDial(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := admin.Dial(ctx, dir); !errors.Is(err, admin.ErrNoDaemon) {
		t.Errorf("no socket: %v, want ErrNoDaemon", err)
	}
	ln, err := admin.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := admin.Dial(ctx, dir); err != nil {
		t.Errorf("listening socket: %v", err)
	} else {
		c.Close()
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(filepath.Join(dir, admin.SocketFile)); err != nil {
		t.Fatalf("the stale socket file is gone: %v", err)
	}
	if _, err := admin.Dial(ctx, dir); !errors.Is(err, admin.ErrNoDaemon) {
		t.Errorf("stale socket: %v, want ErrNoDaemon", err)
	}
}

// TestProtocol: bad bodies and reasons are refusals (400 or 409, exit 1
// for the CLI); GET is not served.
func TestProtocol(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "proto"})
	c := serve(t, ca, nil)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", c.Socket())
	}}}
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", admin.PathRevoke, `{"ref":"x","reason":"keyCompromise","extra":1}`, http.StatusBadRequest, "unknown field"},
		{"POST", admin.PathRevoke, `{"ref":"x","reason":"bored"}`, http.StatusConflict, "bored"},
		{"POST", admin.PathRevoke, `{"ref":"nobody","reason":"keyCompromise"}`, http.StatusConflict, "nobody"},
		{"POST", admin.PathSign, `{"csr":"AAAA","profile":"client","name":"a"}`, http.StatusConflict, "CSR"},
		{"POST", admin.PathList, `not json`, http.StatusBadRequest, "request body"},
		{"GET", admin.PathList, ``, http.StatusMethodNotAllowed, ""},
	} {
		req, err := http.NewRequest(tc.method, "http://intransitd"+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s %s %s: %d %q, want %d containing %q", tc.method, tc.path, tc.body, resp.StatusCode, b.String(), tc.status, tc.want)
		}
	}
	if _, err := c.Revoke(context.Background(), "nobody", store.ReasonKeyCompromise); !pki.IsRefusal(err) || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("client revoke of an unknown name: %v, want a refusal naming it", err)
	}
}

// TestCRLFiles writes DER and PEM by the file name and then runs Then.
func TestCRLFiles(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "files"})
	crl, err := ca.NewCRL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	der, pemPath := filepath.Join(dir, "crl.der"), filepath.Join(dir, "crl.pem")
	ran := false
	f := &admin.CRLFiles{Paths: []string{der, pemPath}, Then: func(context.Context) error { ran = true; return nil }}
	done, err := f.PublishCRL(context.Background(), crl)
	if err != nil || len(done) != 2 || !ran {
		t.Fatalf("publish: %v %v, then ran %v", done, err, ran)
	}
	if b, _ := os.ReadFile(der); !bytes.Equal(b, crl.DER) {
		t.Errorf("%s is not the DER CRL", der)
	}
	if b, _ := os.ReadFile(pemPath); !bytes.Equal(b, pki.PEMCRL(crl.DER)) {
		t.Errorf("%s is not the PEM CRL", pemPath)
	}
	f.Then = func(context.Context) error { return errors.New("reload failed") }
	if _, err := f.PublishCRL(context.Background(), crl); err == nil || !strings.Contains(err.Error(), "reload failed") {
		t.Errorf("a failing Then: %v", err)
	}
}
