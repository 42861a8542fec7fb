package audit

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy"
)

// goServer serves TLS with crypto/tls on loopback until the test ends.
func goServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = c.(*tls.Conn).HandshakeContext(ctx)
			}()
		}
	}()
	return ln.Addr().String()
}

// profileConfig is a server configuration built from the profile's own
// lists, the way the intransit proxy serves.
func profileConfig(p *tlspolicy.Profile, chain tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: p.MinVersion, MaxVersion: p.MaxVersion,
		CipherSuites: p.CipherSuites, CurvePreferences: p.Groups,
		Certificates: []tls.Certificate{chain},
	}
}

func TestGoServerWithProfileListsIsCompliant(t *testing.T) {
	ca := certs.NewCA(t, "audit test CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	chain := leaf.TLS()
	chain.Certificate = append(chain.Certificate, ca.Cert.Raw)
	for _, name := range []string{tlspolicy.Baseline, tlspolicy.Modern, tlspolicy.PQ} {
		t.Run(name, func(t *testing.T) {
			prof, err := tlspolicy.Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			addr := goServer(t, profileConfig(prof, chain))
			r, err := Run(context.Background(), Options{Address: addr, ServerName: "localhost", Profile: prof, Roots: ca.Pool(), ExpiryWindow: testCertWindow})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Compliant {
				t.Fatalf("crypto/tls server built from profile %s is not compliant with it: %+v", name, r.Failed())
			}
			if r.Certificate == nil || len(r.Certificate.Chain) != 2 || !r.Certificate.ChainInOrder || !r.Certificate.Trusted {
				t.Errorf("certificate %+v", r.Certificate)
			}
			for _, g := range prof.Groups {
				if _, ok := checkByID(r, "group."+strings.ToLower(groupName(g))); !ok {
					t.Errorf("group %s of the profile not found accepted", groupName(g))
				}
			}
		})
	}
}

func TestCertificateFindings(t *testing.T) {
	ca := certs.NewCA(t, "audit test CA")
	other := certs.NewCA(t, "unrelated CA")
	good := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	expiring := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}, NotAfter: time.Now().Add(2 * time.Hour)})
	misordered := good.TLS()
	misordered.Certificate = append(misordered.Certificate, other.Cert.Raw)
	cases := []struct {
		name       string
		cert       tls.Certificate
		serverName string
		now        time.Time
		check      string
		detail     string
		failed     int
	}{
		{"hostname", good.TLS(), "www.example.org", time.Now(), "certificate.hostname", "not www.example.org", 1},
		{"expired", expiring.TLS(), "localhost", time.Now().Add(3 * time.Hour), "certificate.validity", "expired", 2},
		{"chain order", misordered, "localhost", time.Now(), "certificate.chain-order", "is not signed by the next one", 1},
		{"untrusted", other.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}}).TLS(), "localhost", time.Now(), "certificate.trust", "unknown authority", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prof := baseline(t)
			addr := goServer(t, profileConfig(prof, c.cert))
			r, err := Run(context.Background(), Options{
				Address: addr, ServerName: c.serverName, Profile: prof, Roots: ca.Pool(), ExpiryWindow: testCertWindow,
				Now: func() time.Time { return c.now },
			})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := checkByID(r, c.check)
			if got.Status != Fail || !strings.Contains(got.Detail, c.detail) || r.Compliant {
				t.Errorf("check %s = %+v, want a failure mentioning %q", c.check, got, c.detail)
			}
			if len(r.Failed()) != c.failed {
				t.Errorf("want %d failed checks, got %+v", c.failed, r.Failed())
			}
		})
	}
}

func TestTLS13OnlyServerCertificateViaCryptoTLS(t *testing.T) {
	ca := certs.NewCA(t, "audit test CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "localhost", Key: certs.RSA1024, DNSNames: []string{"localhost"}})
	prof, err := tlspolicy.Builtin(tlspolicy.Modern)
	if err != nil {
		t.Fatal(err)
	}
	addr := goServer(t, profileConfig(prof, leaf.TLS()))
	r, err := Run(context.Background(), Options{Address: addr, ServerName: "localhost", Profile: prof, Roots: ca.Pool(), ExpiryWindow: testCertWindow})
	if err != nil {
		t.Fatal(err)
	}
	if r.Certificate == nil || r.Certificate.Source != "crypto/tls" || !r.Certificate.Trusted {
		t.Fatalf("certificate %+v", r.Certificate)
	}
	if c, _ := checkByID(r, "certificate.key"); c.Status != Fail || !strings.Contains(c.Detail, "1024 bits") {
		t.Errorf("certificate.key %+v", c)
	}
	if r.Renegotiation.Applicable {
		t.Error("renegotiation reported applicable on a TLS 1.3-only server")
	}
}

// A server that accepts a group outside the profile is caught, and a
// profile that requires post-quantum groups fails a classical server.
func TestGroupFindings(t *testing.T) {
	ca := certs.NewCA(t, "audit test CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	prof := baseline(t)
	cfg := profileConfig(prof, leaf.TLS())
	cfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP521}
	addr := goServer(t, cfg)
	r, err := Run(context.Background(), Options{Address: addr, ServerName: "localhost", Profile: prof, Roots: ca.Pool(), ExpiryWindow: testCertWindow})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := checkByID(r, "group.p-521"); c.Status != Fail {
		t.Errorf("group.p-521 = %+v, want fail", c)
	}
	pq, err := tlspolicy.Builtin(tlspolicy.PQ)
	if err != nil {
		t.Fatal(err)
	}
	r, err = Run(context.Background(), Options{Address: addr, ServerName: "localhost", Profile: pq, Roots: ca.Pool(), ExpiryWindow: testCertWindow})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := checkByID(r, "group.hybrid-pq"); c.Status != Fail {
		t.Errorf("group.hybrid-pq = %+v, want fail", c)
	}
}

// A stapled OCSP response is seen both in the clear (TLS 1.2
// CertificateStatus) and through crypto/tls (TLS 1.3).
func TestOCSPStaple(t *testing.T) {
	ca := certs.NewCA(t, "audit test CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	stapled := leaf.TLS()
	stapled.OCSPStaple = []byte("an OCSP response, stapled as is")
	for _, name := range []string{tlspolicy.Baseline, tlspolicy.Modern} {
		t.Run(name, func(t *testing.T) {
			prof, err := tlspolicy.Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			addr := goServer(t, profileConfig(prof, stapled))
			r, err := Run(context.Background(), Options{Address: addr, ServerName: "localhost", Profile: prof, Roots: ca.Pool(), ExpiryWindow: testCertWindow})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := checkByID(r, "certificate.ocsp-staple")
			if r.Certificate == nil || !r.Certificate.OCSPStapled || c.Detail != "OCSP response stapled (31 bytes)" {
				t.Errorf("certificate %+v, check %+v", r.Certificate, c)
			}
		})
	}
}

// testCertWindow is the expiry warning window of audits of servers whose
// certificates come from internal/testutil/certs, which live a day.
const testCertWindow = time.Hour
