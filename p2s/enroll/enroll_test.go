package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/testutil/pkitest"
	"intransit/p2s/store/bolt"
	"intransit/pki"
	"intransit/tlspolicy"
)

// env is an enrollment server over HTTPS with a real PKI.
type env struct {
	srv   *Server
	ca    *pki.CA
	url   string
	renew string
	prof  *tlspolicy.Profile
	now   time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "enrolltest"})
	is, err := ca.Issue(context.Background(), pki.Request{Profile: pki.ProfileGateway, Name: "gw",
		DNSNames: []string{"gw.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	gwCert := tls.Certificate{Certificate: [][]byte{is.Certificate.Raw, ca.Intermediate().Raw}, PrivateKey: is.Key}
	st, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	prof, err := tlspolicy.Builtin(tlspolicy.PQ)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{prof: prof, now: time.Now(), ca: ca}
	e.srv = &Server{Store: st, Groups: []string{"staff"}, ControlPort: 8444, RenewPort: 8446, Now: func() time.Time { return e.now },
		Gateways: []string{"gw-a.example", "gw-b.example"}, Authority: NewCAAuthority(ca, 0, 0)}
	cfg, err := tlspolicy.ServerConfig(tlspolicy.Options{Profile: prof, Certificate: &tlspolicy.StaticCertificate{Cert: gwCert}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(e.srv.Handler())
	hs.TLS = cfg
	hs.StartTLS()
	t.Cleanup(hs.Close)
	e.url = hs.URL
	bundle, _, err := e.srv.Authority.CA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cas, _ := ParseCAs(bundle)
	rcfg, err := tlspolicy.ServerConfig(tlspolicy.Options{Profile: prof, Certificate: &tlspolicy.StaticCertificate{Cert: gwCert},
		CAs: &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(cas...)}})
	if err != nil {
		t.Fatal(err)
	}
	rs := httptest.NewUnstartedServer(e.srv.RenewHandler())
	rs.TLS = rcfg
	rs.StartTLS()
	t.Cleanup(rs.Close)
	e.renew = rs.URL
	return e
}

func p256CSR(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NewCSR(k, "test")
	if err != nil {
		t.Fatal(err)
	}
	return k, csr
}

func reason(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

func TestEnrollAndRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok, _, err := e.srv.Invite(ctx, "alice", "staff", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakCSR, err := NewCSR(weak, "weak")
	if err != nil {
		t.Fatal(err)
	}
	// A weak key is refused before the token is spent.
	_, err = Enroll(ctx, e.url, tok, weakCSR, e.prof)
	if reason(err) != ReasonCSRRefused || !strings.Contains(err.Error(), "rsa-1024") {
		t.Fatalf("weak CSR: %v, want %s naming the key", err, ReasonCSRRefused)
	}
	key, csr := p256CSR(t)
	got, err := Enroll(ctx, e.url, tok, csr, e.prof)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if got.Name != "alice" || got.Group != "staff" || got.ControlPort != 8444 || !strings.HasSuffix(got.Identity, "/client/alice") ||
		strings.Join(got.Gateways, " ") != "gw-a.example gw-b.example" {
		t.Errorf("enrolled: %+v", got)
	}
	// Reused token.
	_, csr2 := p256CSR(t)
	if _, err := Enroll(ctx, e.url, tok, csr2, e.prof); reason(err) != ReasonTokenUsed {
		t.Errorf("reused token: %v, want %s", err, ReasonTokenUsed)
	}
	// Expired token.
	tok2, _, err := e.srv.Invite(ctx, "bob", "staff", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Minute)
	if _, err := Enroll(ctx, e.url, tok2, csr2, e.prof); reason(err) != ReasonTokenExpired {
		t.Errorf("expired token: %v, want %s", err, ReasonTokenExpired)
	}
	// A token whose secret was altered.
	tok3, _, err := e.srv.Invite(ctx, "carol", "staff", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tt, _ := ParseToken(tok3)
	tt.Secret[0] ^= 1
	if _, err := Enroll(ctx, e.url, tt.String(), csr2, e.prof); reason(err) != ReasonTokenInvalid {
		t.Errorf("altered secret: %v, want %s", err, ReasonTokenInvalid)
	}
	// A token pinning another CA: refused by the laptop before sending.
	tt, _ = ParseToken(tok3)
	tt.Pin[0] ^= 1
	if _, err := Enroll(ctx, e.url, tt.String(), csr2, e.prof); err == nil || !strings.Contains(err.Error(), "pin") {
		t.Errorf("wrong pin: %v", err)
	}
	if _, err := ParseToken("itp1.abc"); err == nil {
		t.Error("a malformed token parsed")
	}
	// Bad invitations.
	if _, _, err := e.srv.Invite(ctx, "dave", "nogroup", time.Hour); err == nil {
		t.Error("invitation into an unknown group")
	}
	if _, _, err := e.srv.Invite(ctx, "Dave!", "staff", time.Hour); err == nil {
		t.Error("invitation with a bad name")
	}

	// Renewal over mTLS with the enrolled certificate.
	cert, err := tls.X509KeyPair([]byte(got.Chain), pemKey(t, key))
	if err != nil {
		t.Fatal(err)
	}
	cas, err := ParseCAs([]byte(got.CA))
	if err != nil {
		t.Fatal(err)
	}
	_, csr3 := p256CSR(t)
	ren, err := Renew(ctx, e.renew, cert, cas, csr3, e.prof)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if ren.Name != "alice" || ren.Chain == got.Chain {
		t.Errorf("renewed: %+v", ren)
	}
	c, err := e.srv.Store.Client(ctx, "alice")
	if err != nil || len(c.Serials) != 2 {
		t.Errorf("client record after renewal: %+v %v", c, err)
	}
}

func pemKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestAdminInvite(t *testing.T) {
	e := newEnv(t)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: e.srv.AdminHandler()}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	inv, err := RequestInvite(context.Background(), sock, InviteRequest{Name: "erin", Group: "staff", TTL: time.Hour})
	if err != nil || !strings.HasPrefix(inv.Token, TokenPrefix+".") {
		t.Fatalf("invite: %+v %v", inv, err)
	}
	if _, err := RequestInvite(context.Background(), sock, InviteRequest{Name: "erin", Group: "x"}); reason(err) != ReasonBadRequest {
		t.Errorf("bad group over the socket: %v", err)
	}
	hs.Close()
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Error(err)
	}
}

func TestFailedSigningLeavesTheTokenUsable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok, _, err := e.srv.Invite(ctx, "frank", "staff", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good := e.srv.Authority
	e.srv.Authority = lockedSigner{good}
	_, csr := p256CSR(t)
	if _, err := Enroll(ctx, e.url, tok, csr, e.prof); reason(err) != ReasonInternal {
		t.Fatalf("enroll while the CA cannot sign: %v, want %s", err, ReasonInternal)
	}
	if _, err := e.srv.Store.Client(ctx, "frank"); err == nil {
		t.Fatal("a client was recorded without a certificate")
	}
	e.srv.Authority = good
	if got, err := Enroll(ctx, e.url, tok, csr, e.prof); err != nil || got.Name != "frank" {
		t.Fatalf("the token was spent by the failed attempt: %+v %v", got, err)
	}
}

// lockedSigner is the real authority whose signing fails, as when the CA's
// master key cannot be opened: the CA bundle is still served.
type lockedSigner struct{ Authority }

func (lockedSigner) SignClient(context.Context, *x509.CertificateRequest, string, time.Duration) (*Signed, error) {
	return nil, errors.New("the CA's master key cannot be opened")
}
