package audit

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
)

// The four cases in which the audit disagreed with sslscan, testssl.sh and
// openssl, each against a server configured that way.

// opensslChain makes a root, an intermediate and a localhost leaf valid for
// leafDays with openssl, and returns the files.
func opensslChain(t *testing.T, leafDays string) (root, inter, leaf, leafKey string) {
	t.Helper()
	requireTool(t, "openssl")
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	ext := func(name, text string) string {
		if err := os.WriteFile(path(name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path(name)
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	ec := []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}
	run(append([]string{"req", "-x509"}, append(ec, "-keyout", path("root.key"), "-out", path("root.pem"), "-days", "90", "-subj", "/CN=Audit Test Root")...)...)
	run(append([]string{"req"}, append(ec, "-keyout", path("inter.key"), "-out", path("inter.csr"), "-subj", "/CN=Audit Test Intermediate")...)...)
	run("x509", "-req", "-in", path("inter.csr"), "-CA", path("root.pem"), "-CAkey", path("root.key"), "-CAcreateserial",
		"-out", path("inter.pem"), "-days", "90", "-extfile", ext("inter.ext", "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n"))
	run(append([]string{"req"}, append(ec, "-keyout", path("leaf.key"), "-out", path("leaf.csr"), "-subj", "/CN=localhost")...)...)
	run("x509", "-req", "-in", path("leaf.csr"), "-CA", path("inter.pem"), "-CAkey", path("inter.key"), "-CAcreateserial",
		"-out", path("leaf.pem"), "-days", leafDays, "-extfile", ext("leaf.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"))
	return path("root.pem"), path("inter.pem"), path("leaf.pem"), path("leaf.key")
}

// TestGroupsOfTLS11OnlyServerAreLabelledTLS11: the groups of a server that
// speaks nothing newer than TLS 1.1 were reported as accepted at TLS 1.2.
func TestGroupsOfTLS11OnlyServerAreLabelledTLS11(t *testing.T) {
	requireTool(t, "openssl")
	cert, key := opensslCert(t, t.TempDir(), "tls11", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	addr := startSServer(t, cert, key, "-tls1_1", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0", "-groups", "P-256:X25519")
	r := runAudit(t, addr, rootsFrom(t, cert))
	var got []string
	for _, g := range r.Groups {
		got = append(got, g.Name+"@"+g.LegacyProtocol)
	}
	if want := []string{"X25519@TLS 1.1", "P-256@TLS 1.1"}; !slices.Equal(got, want) {
		t.Errorf("groups %v, want %v", got, want)
	}
	for _, id := range []string{"group.x25519", "group.p-256"} {
		c, _ := checkByID(r, id)
		if !strings.Contains(c.Detail, "(TLS 1.1)") || strings.Contains(c.Detail, "TLS 1.2") {
			t.Errorf("check %s = %+v, want it accepted at TLS 1.1 only", id, c)
		}
	}
}

// TestServerOrderWithChaCha20Exception: a server that enforces its order
// except for clients preferring ChaCha20 (openssl -prioritize_chacha, Go's
// crypto/tls) was reported as following the client's order.
func TestServerOrderWithChaCha20Exception(t *testing.T) {
	requireTool(t, "openssl")
	cert, key := opensslCert(t, t.TempDir(), "chacha", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	const ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"
	ca := certs.NewCA(t, "audit test CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	goAddr := goServer(t, &tls.Config{
		MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{leaf.TLS()},
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	})
	cases := []struct {
		name   string
		addr   string
		want   ServerOrder
		detail string
	}{
		{"openssl -serverpref -prioritize_chacha", startSServer(t, cert, key, "-no_tls1_3", "-serverpref", "-prioritize_chacha", "-cipher", ciphers),
			ServerOrder{Protocol: "TLS 1.2", Enforced: true, ChaChaFollowsClient: true}, "except that it picks ChaCha20-Poly1305"},
		{"crypto/tls", goAddr, ServerOrder{Protocol: "TLS 1.2", Enforced: true, ChaChaFollowsClient: true}, "except that it picks ChaCha20-Poly1305"},
		{"openssl -serverpref", startSServer(t, cert, key, "-no_tls1_3", "-serverpref", "-cipher", ciphers),
			ServerOrder{Protocol: "TLS 1.2", Enforced: true}, "server enforces its own suite order at TLS 1.2"},
		{"openssl", startSServer(t, cert, key, "-no_tls1_3", "-cipher", ciphers),
			ServerOrder{Protocol: "TLS 1.2"}, "follows the client's suite order"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := Run(ctx, Options{Address: c.addr, ServerName: "localhost", Profile: baseline(t), Timeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			check, _ := checkByID(r, "server-order")
			if r.ServerOrder != c.want || !strings.Contains(check.Detail, c.detail) {
				t.Errorf("server order %+v (%s), want %+v (%q)", r.ServerOrder, check.Detail, c.want, c.detail)
			}
		})
	}
}

// TestChainWithoutIntermediate: a server that omits its intermediate was
// reported as "signed by unknown authority"; testssl.sh says "chain
// incomplete".
func TestChainWithoutIntermediate(t *testing.T) {
	root, inter, leaf, key := opensslChain(t, "90")
	roots := rootsFrom(t, root)
	r := runAudit(t, startSServer(t, leaf, key, "-tls1_2"), roots)
	if c, _ := checkByID(r, "certificate.trust"); c.Status != Fail || !strings.Contains(c.Detail, "chain incomplete: the server does not send the intermediate") ||
		r.Certificate == nil || !strings.HasPrefix(r.Certificate.TrustError, "chain incomplete") {
		t.Errorf("leaf without its intermediate: %+v, certificate %+v", c, r.Certificate)
	}
	r = runAudit(t, startSServer(t, leaf, key, "-tls1_2", "-cert_chain", inter), roots)
	if c, _ := checkByID(r, "certificate.trust"); c.Status != Pass || len(certificateFailures(r)) > 0 {
		t.Errorf("leaf with its intermediate: %+v, failed %+v", c, certificateFailures(r))
	}
	// A self-signed certificate nobody trusts is not an incomplete chain.
	cert, ckey := opensslCert(t, t.TempDir(), "self", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	r = runAudit(t, startSServer(t, cert, ckey, "-tls1_2"), roots)
	if c, _ := checkByID(r, "certificate.trust"); c.Status != Fail || strings.Contains(c.Detail, "incomplete") || !strings.Contains(c.Detail, "unknown authority") {
		t.Errorf("untrusted self-signed certificate: %+v", c)
	}
}

// TestCertificateExpiringSoon: a certificate with 2 days left passed
// without a word; it fails certificate.expiry inside the window (30 days
// unless set) and passes outside it.
func TestCertificateExpiringSoon(t *testing.T) {
	root, inter, leaf, key := opensslChain(t, "2")
	addr := startSServer(t, leaf, key, "-tls1_2", "-cert_chain", inter)
	r := runAudit(t, addr, rootsFrom(t, root))
	c, _ := checkByID(r, "certificate.expiry")
	if c.Status != Fail || r.Compliant || !strings.Contains(c.Detail, "certificate 1 (CN=localhost) expires") || !strings.Contains(c.Detail, "warning window 30 days") {
		t.Errorf("certificate with 2 days left: %+v, compliant %v", c, r.Compliant)
	}
	t.Logf("2 days left: %s", c.Detail)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Run(ctx, Options{Address: addr, ServerName: "localhost", Profile: baseline(t), Roots: rootsFrom(t, root), ExpiryWindow: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := checkByID(r, "certificate.expiry"); c.Status != Pass || len(certificateFailures(r)) > 0 {
		t.Errorf("2 days left with a 1-day window: %+v, failed %+v", c, certificateFailures(r))
	}
}

// certificateFailures returns the failed certificate checks (openssl's
// default suites fail others under baseline).
func certificateFailures(r *Report) []Check {
	return slices.DeleteFunc(r.Failed(), func(c Check) bool { return !strings.HasPrefix(c.ID, "certificate") })
}
