package renewal_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/renewal"
	"intransit/pki/store"
	"intransit/tlspolicy"
)

// lab is a CA, a gateway certificate issued by it in files, and the
// issuers to renew it with.
type lab struct {
	ca        *pki.CA
	certFile  string
	keyFile   string
	issued    *pki.Issued
	serverURL string
	cas       *tlspolicy.StaticCAs
}

func newLab(t *testing.T, name string) *lab {
	t.Helper()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: name})
	l := &lab{ca: ca, cas: &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(ca.Root(), ca.Intermediate())}}
	l.issued, l.certFile, l.keyFile = l.issue(t, "gw-b", 10*time.Minute, 0)
	return l
}

// issue issues a gateway certificate into files.
func (l *lab) issue(t *testing.T, name string, ttl, backdate time.Duration) (*pki.Issued, string, string) {
	t.Helper()
	is, err := l.ca.Issue(context.Background(), pki.Request{Profile: pki.ProfileGateway, Name: name, DNSNames: []string{name + ".test"},
		TTL: ttl, Backdate: backdate}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	files, err := l.ca.WriteIssued(t.TempDir(), is)
	if err != nil {
		t.Fatal(err)
	}
	return is, files.Chain, files.Key
}

// serve starts the renewal API over the CA, with a server certificate
// of its own.
func (l *lab) serve(t *testing.T) {
	t.Helper()
	_, chain, key := l.issue(t, "gw-a", time.Hour, 0)
	prof, err := tlspolicy.Builtin(tlspolicy.PQ)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tlspolicy.LoadKeyPairFiles(chain, key, prof, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := renewal.ServerConfig(tlspolicy.Options{Profile: prof, Certificate: kp})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(renewal.Handler(l.ca, nil))
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	l.serverURL = srv.URL
}

// issuers are the two Issuer implementations, over the same CA.
func (l *lab) issuers(t *testing.T) map[string]renewal.Issuer {
	l.serve(t)
	prof, err := tlspolicy.Builtin(tlspolicy.Modern)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]renewal.Issuer{
		"local":  &renewal.Local{CA: l.ca},
		"remote": &renewal.Remote{URL: l.serverURL, Profile: prof, CAs: l.cas, Identity: l.ca.Identity(pki.ProfileGateway, "gw-a").String()},
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

func leaf(t *testing.T, src tlspolicy.CertificateSource) *x509.Certificate {
	t.Helper()
	c, err := src.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

// TestIssuerContract runs the Issuer contract against both issuers: a
// renewal keeps the identity and names, takes a fresh key and the same
// lifetime, is written in place and taken into use; a revoked
// certificate and one of another CA are refused, and the files and the
// certificate in use stay as they were.
func TestIssuerContract(t *testing.T) {
	for _, name := range []string{"local", "remote"} {
		t.Run(name, func(t *testing.T) {
			l := newLab(t, "renewca")
			iss := l.issuers(t)[name]
			kp := loadPair(t, l.certFile, l.keyFile)
			old := leaf(t, kp)
			var renewed *x509.Certificate
			r := &renewal.Renewer{Name: "identity", CertFile: l.certFile, KeyFile: l.keyFile, Source: kp, Issuer: iss,
				Renewed: func(c *x509.Certificate) { renewed = c }}
			if err := r.Renew(context.Background()); err != nil {
				t.Fatalf("renew: %v", err)
			}
			cur := leaf(t, kp)
			if renewed == nil || !renewed.Equal(cur) {
				t.Fatalf("Renewed was not called with the certificate in use")
			}
			if cur.SerialNumber.Cmp(old.SerialNumber) == 0 {
				t.Fatalf("the certificate in use was not replaced")
			}
			if len(cur.URIs) != 1 || cur.URIs[0].String() != old.URIs[0].String() {
				t.Errorf("identity %v, want %v", cur.URIs, old.URIs)
			}
			if len(cur.DNSNames) != 1 || cur.DNSNames[0] != "gw-b.test" {
				t.Errorf("DNS names %v, want [gw-b.test]", cur.DNSNames)
			}
			if pki.DescribeKey(cur.PublicKey) != pki.DescribeKey(old.PublicKey) {
				t.Errorf("key type %s, want %s", pki.DescribeKey(cur.PublicKey), pki.DescribeKey(old.PublicKey))
			}
			if oldKey, _ := x509.MarshalPKIXPublicKey(old.PublicKey); string(oldKey) == string(mustPKIX(t, cur)) {
				t.Errorf("the renewed certificate keeps the old key")
			}
			if got, want := cur.NotAfter.Sub(cur.NotBefore), old.NotAfter.Sub(old.NotBefore); got != want {
				t.Errorf("lifetime %s, want %s as before", got, want)
			}
			// The files on disk are the pair in use, key mode 0600.
			again := loadPair(t, l.certFile, l.keyFile)
			if !leaf(t, again).Equal(cur) {
				t.Errorf("the files hold another certificate than the one in use")
			}
			if fi, err := os.Stat(l.keyFile); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode: %v %v, want 0600", fi.Mode().Perm(), err)
			}
			if st := r.Status(time.Now()); st.Renewals != 1 || st.State != status.CertOK || !st.RenewAt.Equal(renewal.At(cur)) {
				t.Errorf("status after a renewal: %+v", st)
			}

			// Revoked: refused, nothing changes.
			if _, err := l.ca.Revoke(context.Background(), cur.SerialNumber, store.ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(l.certFile)
			err := r.Renew(context.Background())
			if !renewal.IsRefused(err) {
				t.Fatalf("renewal of a revoked certificate: %v, want a refusal", err)
			}
			t.Logf("revoked: %v", err)
			if after, _ := os.ReadFile(l.certFile); string(after) != string(before) || !leaf(t, kp).Equal(cur) {
				t.Errorf("a refused renewal changed the certificate")
			}

			// Another CA's certificate (same name): refused.
			other := newLab(t, "otherca")
			okp := loadPair(t, other.certFile, other.keyFile)
			or := &renewal.Renewer{Name: "identity", CertFile: other.certFile, KeyFile: other.keyFile, Source: okp, Issuer: iss}
			if err := or.Renew(context.Background()); !renewal.IsRefused(err) {
				t.Fatalf("renewal of another CA's certificate: %v, want a refusal", err)
			}
		})
	}
}

func mustPKIX(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRenewRefusesWhatItMustNot: the CA renews only what it issued and
// recorded, unrevoked, of the gateway and server profiles.
func TestRenewRefusesWhatItMustNot(t *testing.T) {
	l := newLab(t, "renewca")
	ctx := context.Background()
	csr := func() *x509.CertificateRequest {
		key, err := pki.ECDSAP256.Generate()
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := pki.ParseCSR(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	client, err := l.ca.Issue(ctx, pki.Request{Profile: pki.ProfileClient, Name: "alice"}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ca.Renew(ctx, client.Certificate, csr()); !pki.IsRefusal(err) {
		t.Errorf("renewal of a client certificate: %v, want a refusal", err)
	}
	other := newLab(t, "otherca")
	if _, err := l.ca.Renew(ctx, other.issued.Certificate, csr()); !pki.IsRefusal(err) {
		t.Errorf("renewal of another CA's certificate: %v, want a refusal", err)
	}
	if _, err := l.ca.Renew(ctx, nil, csr()); !pki.IsRefusal(err) {
		t.Errorf("renewal without a certificate: %v, want a refusal", err)
	}
	is, err := l.ca.Renew(ctx, l.issued.Certificate, csr())
	if err != nil {
		t.Fatalf("renewal of a good gateway certificate: %v", err)
	}
	if is.Record.Name != "gw-b" || is.Record.Profile != pki.ProfileGateway {
		t.Errorf("renewed record %s/%s, want gw-b/gateway", is.Record.Name, is.Record.Profile)
	}
	// The old certificate may renew again (a renewal whose answer was lost).
	if _, err := l.ca.Renew(ctx, l.issued.Certificate, csr()); err != nil {
		t.Errorf("second renewal of the same certificate: %v", err)
	}
}

// TestBackdatedCertificateRenewsEarly: a certificate issued with Backdate
// is already partway through its life; its renewal time is two thirds in.
func TestBackdatedCertificateRenewsEarly(t *testing.T) {
	l := newLab(t, "renewca")
	is, _, _ := l.issue(t, "gw-c", 10*time.Minute, 6*time.Minute)
	c := is.Certificate
	if got := c.NotAfter.Sub(c.NotBefore); got != 10*time.Minute+pki.ClockSkew {
		t.Errorf("lifetime %s, want %s", got, 10*time.Minute+pki.ClockSkew)
	}
	if left := time.Until(renewal.At(c)); left > time.Minute {
		t.Errorf("renewal in %s, want within a minute for a certificate 6 of 10 minutes old", left)
	}
	if _, err := l.ca.Issue(context.Background(), pki.Request{Profile: pki.ProfileGateway, Name: "gw-d", DNSNames: []string{"d.test"},
		TTL: time.Minute, Backdate: time.Minute}, pki.ECDSAP256); !pki.IsRefusal(err) {
		t.Errorf("backdate as long as the lifetime: %v, want a refusal", err)
	}
}

// TestFinishInstall: a crash between the steps of Install leaves a pair
// that FinishInstall makes consistent.
func TestFinishInstall(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name              string
		keyNext, certNext string
		wantCert, wantKey string
	}{
		{"nothing pending", "", "", "c1", "k1"},
		{"key written, chain not", "k2", "", "c1", "k1"},
		{"both written", "k2", "c2", "c2", "k2"},
		{"key switched, chain not", "", "c2", "c2", "k1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(cert, "c1")
			write(key, "k1")
			if tc.keyNext != "" {
				write(key+".next", tc.keyNext)
			}
			if tc.certNext != "" {
				write(cert+".next", tc.certNext)
			}
			if err := renewal.FinishInstall(cert, key); err != nil {
				t.Fatal(err)
			}
			if c, k := read(cert), read(key); c != tc.wantCert || k != tc.wantKey {
				t.Errorf("after FinishInstall: %s/%s, want %s/%s", c, k, tc.wantCert, tc.wantKey)
			}
			for _, p := range []string{cert + ".next", key + ".next"} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind", p)
				}
			}
		})
	}
}

// TestRetry: the backoff doubles from RetryMin and stops at RetryMax.
func TestRetry(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := renewal.Retry(i + 1); got != w {
			t.Errorf("Retry(%d) = %s, want %s", i+1, got, w)
		}
	}
}
