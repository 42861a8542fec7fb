package audit

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"intransit/tlspolicy"
)

// requireTool skips (or in CI fails) when an external tool is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true: it must be)", name)
		}
		t.Skipf("%s is not installed; install it to run this test", name)
	}
	return path
}

// opensslCert makes a self-signed certificate for localhost and 127.0.0.1
// with openssl; keyArgs choose the key ("rsa:1024", or "ec" with a curve).
func opensslCert(t *testing.T, dir, name string, keyArgs ...string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	args := append([]string{"req", "-x509", "-newkey"}, keyArgs...)
	args = append(args, "-keyout", keyFile, "-out", certFile, "-days", "90", "-nodes",
		"-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return certFile, keyFile
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startSServer runs `openssl s_server` with args until the test ends and
// returns its address once it accepts connections.
func startSServer(t *testing.T, certFile, keyFile string, args ...string) string {
	t.Helper()
	addr := freePort(t)
	all := append([]string{"s_server", "-accept", addr, "-cert", certFile, "-key", keyFile, "-www", "-quiet"}, args...)
	cmd := exec.Command("openssl", all...)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for range 100 {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("openssl s_server on %s did not start: %s", addr, log.String())
	return ""
}

func rootsFrom(t *testing.T, certFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(b); blk == nil {
		t.Fatalf("%s holds no PEM block", certFile)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return pool
}

func baseline(t *testing.T) *tlspolicy.Profile {
	t.Helper()
	p, err := tlspolicy.Builtin(tlspolicy.Baseline)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// weakServer is TLS 1.0 only, AES128-SHA (RSA key exchange), RSA-1024.
func weakServer(t *testing.T) (addr, certFile string) {
	requireTool(t, "openssl")
	cert, key := opensslCert(t, t.TempDir(), "weak", "rsa:1024")
	return startSServer(t, cert, key, "-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"), cert
}

// strongServer is TLS 1.2 and 1.3, ECDHE-ECDSA AEAD suites, P-256 key.
func strongServer(t *testing.T) (addr, certFile string) {
	requireTool(t, "openssl")
	cert, key := opensslCert(t, t.TempDir(), "strong", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	return startSServer(t, cert, key, "-no_ssl3", "-no_tls1", "-no_tls1_1",
		"-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
		"-groups", "X25519:P-256:P-384"), cert
}

// mixedServer is TLS 1.0 to 1.2 with DHE, ECDHE-CBC and RSA suites and an
// RSA-2048 key: many suites at several versions for the comparisons.
func mixedServer(t *testing.T) (addr, certFile string) {
	requireTool(t, "openssl")
	cert, key := opensslCert(t, t.TempDir(), "mixed", "rsa:2048")
	return startSServer(t, cert, key, "-no_tls1_3",
		"-cipher", "DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA256:@SECLEVEL=0"), cert
}

// ffdheServer is TLS 1.3 only with the groups ffdhe2048 and P-521, for
// which the audit's probes get a HelloRetryRequest and a ServerHello.
func ffdheServer(t *testing.T) (addr, certFile string) {
	requireTool(t, "openssl")
	cert, key := opensslCert(t, t.TempDir(), "ffdhe", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	return startSServer(t, cert, key, "-tls1_3", "-groups", "ffdhe2048:P-521"), cert
}

func runAudit(t *testing.T, addr string, roots *x509.CertPool) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Run(ctx, Options{Address: addr, ServerName: "localhost", Profile: baseline(t), Roots: roots, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatalf("audit of %s: %v", addr, err)
	}
	return r
}

func checkByID(r *Report, id string) (Check, bool) {
	i := slices.IndexFunc(r.Checks, func(c Check) bool { return c.ID == id })
	if i < 0 {
		return Check{}, false
	}
	return r.Checks[i], true
}

func TestWeakOpenSSLServerIsNotCompliant(t *testing.T) {
	addr, cert := weakServer(t)
	r := runAudit(t, addr, rootsFrom(t, cert))
	if r.Compliant {
		t.Fatalf("weak server reported compliant: %+v", r.Checks)
	}
	want := map[string]string{
		"protocol.tls1.0":     "allows TLS 1.2 to TLS 1.3",
		"suite.tls1.0.0x002f": "no forward secrecy (RSA key exchange)",
		"certificate.key":     "RSA key of 1024 bits is below the minimum of 2048",
	}
	for id, detail := range want {
		c, ok := checkByID(r, id)
		if !ok || c.Status != Fail || !strings.Contains(c.Detail, detail) {
			t.Errorf("check %s = %+v (present %v), want fail mentioning %q", id, c, ok, detail)
		}
	}
	if got := acceptedSuites(r); !slices.Equal(got, []string{"TLS 1.0 0x002f"}) {
		t.Errorf("accepted suites %v, want only TLS 1.0 AES128-SHA", got)
	}
	if c, _ := checkByID(r, "certificate.trust"); c.Status != Pass {
		t.Errorf("trust against --ca: %+v", c)
	}
}

func TestStrongOpenSSLServerIsCompliant(t *testing.T) {
	addr, cert := strongServer(t)
	r := runAudit(t, addr, rootsFrom(t, cert))
	if !r.Compliant {
		t.Fatalf("strong server not compliant: %+v", r.Failed())
	}
	want := []string{
		"TLS 1.2 0xc02b", "TLS 1.2 0xc02c", "TLS 1.2 0xcca9",
		"TLS 1.3 0x1301", "TLS 1.3 0x1302", "TLS 1.3 0x1303",
	}
	if got := acceptedSuites(r); !slices.Equal(got, want) {
		t.Errorf("accepted suites %v, want %v", got, want)
	}
	var groups []string
	for _, g := range r.Groups {
		groups = append(groups, fmt.Sprintf("%s:%v:%v", g.Name, g.TLS13, g.TLS12))
	}
	if want := []string{"X25519:true:true", "P-256:true:true", "P-384:true:true"}; !slices.Equal(groups, want) {
		t.Errorf("groups %v, want %v", groups, want)
	}
	if r.Certificate == nil || !r.Certificate.Trusted || !r.Certificate.HostnameMatch || r.Certificate.Chain[0].KeyType != "ECDSA P-256" {
		t.Errorf("certificate %+v", r.Certificate)
	}
	if !r.Renegotiation.Secure || r.Compression {
		t.Errorf("renegotiation %+v compression %v", r.Renegotiation, r.Compression)
	}

	r = runAudit(t, addr, nil)
	if c, _ := checkByID(r, "certificate.trust"); c.Status != Fail || r.Compliant {
		t.Errorf("self-signed certificate trusted by the system pool: %+v", c)
	}
}

func TestMixedOpenSSLServer(t *testing.T) {
	addr, cert := mixedServer(t)
	r := runAudit(t, addr, rootsFrom(t, cert))
	want := []string{
		"TLS 1.0 0xc014", "TLS 1.1 0xc014",
		"TLS 1.2 0x003d", "TLS 1.2 0x009e", "TLS 1.2 0xc014", "TLS 1.2 0xc02f",
	}
	if got := acceptedSuites(r); !slices.Equal(got, want) {
		t.Errorf("accepted suites %v, want %v", got, want)
	}
	if r.DHEBits < 2048 {
		t.Errorf("DHE prime of %d bits, want the 2048+ bits OpenSSL picks for an RSA-2048 key", r.DHEBits)
	}
	checks := map[string]Status{
		"suite.tls1.2.0xc02f": Pass,
		"suite.tls1.2.0x009e": Fail,
		"suite.tls1.0.0xc014": Fail,
		"suite.tls1.2.0x003d": Fail,
		"protocol.tls1.1":     Fail,
		"protocol.tls1.2":     Pass,
		"certificate.key":     Pass,
		"dhe-params":          Info,
	}
	for id, st := range checks {
		if c, _ := checkByID(r, id); c.Status != st {
			t.Errorf("check %s = %+v, want %s", id, c, st)
		}
	}
	if c, _ := checkByID(r, "suite.tls1.2.0x009e"); !strings.Contains(c.Detail, "not in the suites of profile baseline") {
		t.Errorf("DHE suite detail %q", c.Detail)
	}
}

func TestGroupsOutsideTheProfile(t *testing.T) {
	addr, cert := ffdheServer(t)
	r := runAudit(t, addr, rootsFrom(t, cert))
	var groups []string
	for _, g := range r.Groups {
		groups = append(groups, g.Name)
	}
	if !slices.Equal(groups, []string{"P-521", "ffdhe2048"}) {
		t.Errorf("groups %v, want P-521 and ffdhe2048", groups)
	}
	for _, id := range []string{"group.p-521", "group.ffdhe2048"} {
		if c, _ := checkByID(r, id); c.Status != Fail || !strings.Contains(c.Detail, "not in the groups of profile baseline") {
			t.Errorf("check %s = %+v, want fail", id, c)
		}
	}
}

func TestServerOrderEnforced(t *testing.T) {
	requireTool(t, "openssl")
	cert, key := opensslCert(t, t.TempDir(), "order", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
	addr := startSServer(t, cert, key, "-no_tls1_3", "-serverpref",
		"-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256")
	r := runAudit(t, addr, rootsFrom(t, cert))
	if r.ServerOrder != (ServerOrder{Protocol: "TLS 1.2", Enforced: true}) {
		t.Errorf("server order %+v, want enforced at TLS 1.2", r.ServerOrder)
	}
	addr, cert = strongServer(t)
	r = runAudit(t, addr, rootsFrom(t, cert))
	if r.ServerOrder != (ServerOrder{Protocol: "TLS 1.2", Enforced: false}) {
		t.Errorf("server order %+v, want client order at TLS 1.2", r.ServerOrder)
	}
}

func acceptedSuites(r *Report) []string {
	var out []string
	for _, s := range r.CipherSuites {
		out = append(out, s.Protocol+" "+s.Code)
	}
	slices.Sort(out)
	return out
}
