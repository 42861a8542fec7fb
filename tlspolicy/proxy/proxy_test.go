package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"intransit/internal/testutil/certs"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
)

// logBuffer collects log lines written by concurrent connections.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond every 10ms for up to 5 seconds.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// requireTool skips (fails under CI=true) when an external tool is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed; skipping the test against the real tool", name)
	}
	return path
}

// echoServer accepts plaintext connections on loopback and echoes them.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// httpTarget serves "hello from the target" over plaintext HTTP on loopback.
func httpTarget(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello from the target\n")
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// running is a proxy started by startProxy.
type running struct {
	addr  string
	reg   *prometheus.Registry
	logs  *logBuffer
	proxy *Proxy
}

// metricsText scrapes the proxy's status endpoint.
func (r *running) metricsText(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.proxy.StatusHandler(r.reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// startProxy runs a proxy on a loopback port until the test ends. build
// makes its TLS config from options that carry the log and metrics.
func startProxy(t *testing.T, mode Mode, target string, o tlspolicy.Options, tweak func(*Config)) *running {
	t.Helper()
	r := &running{reg: prometheus.NewRegistry(), logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pm, err := tlspolicy.NewMetrics(r.reg)
	if err != nil {
		t.Fatal(err)
	}
	xm, err := NewMetrics(r.reg)
	if err != nil {
		t.Fatal(err)
	}
	o.Logger, o.Metrics = log, pm
	build := tlspolicy.ServerConfig
	if mode == ModeClient {
		build = tlspolicy.ClientConfig
	}
	tc, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Mode: mode, Target: target, TLS: tc, Profile: o.Profile.Name, Logger: log, PolicyMetrics: pm, Metrics: xm, HandshakeTimeout: 5 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	if r.proxy, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.proxy.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r
}

type fixture struct {
	dir           string
	ca            *certs.CA
	server, alice *certs.Leaf
	caPath        string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), ca: certs.NewCA(t, "Proxy Test CA")}
	f.server = f.ca.Issue(certs.LeafOptions{CommonName: "server-1", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	f.alice = f.ca.Issue(certs.LeafOptions{CommonName: "alice", URIs: []string{"spiffe://intransit.test/alice"}})
	f.caPath = certs.WriteFile(t, f.dir, "ca.pem", f.ca.CertPEM)
	return f
}

func profile(t *testing.T, name string) *tlspolicy.Profile {
	t.Helper()
	p, err := tlspolicy.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenSSLClients(t *testing.T) {
	openssl := requireTool(t, "openssl")
	f := newFixture(t)
	target := echoServer(t)
	proxies := map[string]*running{}
	for _, name := range []string{tlspolicy.Baseline, tlspolicy.FIPS, tlspolicy.PQ} {
		proxies[name] = startProxy(t, ModeServer, target, tlspolicy.Options{Profile: profile(t, name), Certificate: &tlspolicy.StaticCertificate{Cert: f.server.TLS()}}, nil)
	}
	tests := []struct {
		name    string
		profile string
		args    []string
		want    tlspolicy.Reason // empty: accepted
		alert   string           // what openssl prints of the alert it got
	}{
		{"TLS 1.1", tlspolicy.Baseline, []string{"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}, tlspolicy.ReasonVersion, "alert protocol version"},
		{"non-PFS AES256-SHA", tlspolicy.Baseline, []string{"-tls1_2", "-cipher", "AES256-SHA"}, tlspolicy.ReasonCipherSuite, "alert handshake failure"},
		{"ECDHE-ECDSA-AES256-GCM-SHA384", tlspolicy.Baseline, []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"}, "", ""},
		{"TLS 1.3", tlspolicy.Baseline, []string{"-tls1_3"}, "", ""},
		{"ChaCha20 under fips", tlspolicy.FIPS, []string{"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}, tlspolicy.ReasonCipherSuite, "alert handshake failure"},
		{"X25519 under fips", tlspolicy.FIPS, []string{"-tls1_3", "-groups", "X25519"}, tlspolicy.ReasonGroup, "alert insufficient security"},
		{"AES-GCM under fips", tlspolicy.FIPS, []string{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384", "-groups", "P-256"}, "", ""},
		{"classical groups under pq", tlspolicy.PQ, []string{"-tls1_3", "-groups", "X25519:P-256"}, tlspolicy.ReasonGroup, "alert insufficient security"},
		{"openssl's default groups under pq", tlspolicy.PQ, []string{"-tls1_3"}, tlspolicy.ReasonGroup, "alert insufficient security"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			px := proxies[tt.profile]
			before := px.logs.String()
			args := append([]string{"s_client", "-connect", px.addr, "-servername", "localhost", "-CAfile", f.caPath, "-verify_return_error", "-brief"}, tt.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, args...)
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			if tt.want == "" {
				if err != nil || !strings.Contains(string(out), "CONNECTION ESTABLISHED") {
					t.Fatalf("openssl %v refused: %v\n%s\nproxy log:\n%s", tt.args, err, out, px.logs.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("openssl %v was accepted:\n%s", tt.args, out)
			}
			if !strings.Contains(string(out), tt.alert) || strings.Contains(string(out), "internal error") {
				t.Errorf("openssl %v does not print %q:\n%s", tt.args, tt.alert, out)
			}
			if !waitFor(func() bool {
				return strings.Contains(strings.TrimPrefix(px.logs.String(), before), "reason="+string(tt.want))
			}) {
				t.Fatalf("no log line with reason=%s:\n%s", tt.want, strings.TrimPrefix(px.logs.String(), before))
			}
			// What the client offered is named: openssl offers X448,
			// ffdhe2048 and TLS_EMPTY_RENEGOTIATION_INFO_SCSV, which
			// crypto/tls has no names for.
			logged := strings.TrimPrefix(px.logs.String(), before)
			if strings.Contains(logged, "CurveID(") || strings.Contains(logged, "0x") {
				t.Errorf("refusal logged with numbers, not names:\n%s", logged)
			}
			t.Logf("%s", logged)
		})
	}
}

// pkiCA opens a fresh CA of the project's PKI in a temporary directory.
func pkiCA(t *testing.T, name string) *pki.CA {
	t.Helper()
	ca, err := pki.Init(context.Background(), pki.InitOptions{
		Dir: filepath.Join(t.TempDir(), name), Name: name, Secret: keywrap.Passphrase([]byte("test passphrase")),
		KDF: keywrap.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1},
	})
	if err != nil {
		t.Fatalf("pki.Init: %v", err)
	}
	t.Cleanup(func() { ca.Close() })
	return ca
}

// pkiIssue issues a certificate from the PKI and writes it to dir.
func pkiIssue(t *testing.T, ca *pki.CA, dir string, req pki.Request) (*pki.Issued, pki.IssuedFiles) {
	t.Helper()
	is, err := ca.Issue(context.Background(), req, pki.ECDSAP256)
	if err != nil {
		t.Fatalf("pki issue %s: %v", req.Name, err)
	}
	files, err := ca.WriteIssued(dir, is)
	if err != nil {
		t.Fatalf("pki write %s: %v", req.Name, err)
	}
	return is, files
}

// TestCurlMutualTLS runs curl through the proxy with client certificates
// issued by the project's PKI, revocation from the PKI's CRL handler and a
// URI SAN allow-list.
func TestCurlMutualTLS(t *testing.T) {
	curl := requireTool(t, "curl")
	ctx := context.Background()
	dir := t.TempDir()
	ca := pkiCA(t, "proxytest")
	_, server := pkiIssue(t, ca, dir, pki.Request{Profile: pki.ProfileServer, Name: "localhost", DNSNames: []string{"localhost"}})
	aliceIssued, alice := pkiIssue(t, ca, dir, pki.Request{Profile: pki.ProfileClient, Name: "alice"})
	malloryIssued, mallory := pkiIssue(t, ca, dir, pki.Request{Profile: pki.ProfileClient, Name: "mallory"})
	_, bob := pkiIssue(t, ca, dir, pki.Request{Profile: pki.ProfileClient, Name: "bob"})
	_, outsider := pkiIssue(t, pkiCA(t, "othertest"), t.TempDir(), pki.Request{Profile: pki.ProfileClient, Name: "alice"})
	if _, err := ca.Revoke(ctx, malloryIssued.Certificate.SerialNumber, store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	caPath := certs.WriteFile(t, dir, "bundle.pem", ca.Bundle())

	log := slog.New(slog.DiscardHandler)
	prof := profile(t, tlspolicy.Baseline)
	kp, err := tlspolicy.LoadKeyPairFiles(server.Chain, server.Key, prof, log)
	if err != nil {
		t.Fatal(err)
	}
	cas, err := tlspolicy.LoadCAFile(caPath, log)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := tlspolicy.NewRevocation(ctx, &crlsource.Handler{Handler: ca.Handler(), Path: "/crl"}, cas, log)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, ModeServer, httpTarget(t), tlspolicy.Options{
		Profile: prof, Certificate: kp, CAs: cas, Revocation: rev,
		Allow: tlspolicy.Identity{URIs: []string{ca.Identity(pki.ProfileClient, "alice").String()}},
	}, nil)
	port := strings.Split(px.addr, ":")[1]
	url := "https://localhost:" + port + "/"
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		base := []string{"-sS", "--max-time", "10", "--resolve", "localhost:" + port + ":127.0.0.1", "--cacert", caPath}
		out, err := exec.CommandContext(ctx, curl, append(base, args...)...).CombinedOutput()
		return string(out), err
	}
	tests := []struct {
		name    string
		client  *pki.IssuedFiles
		want    tlspolicy.Reason
		alert12 string // what curl prints of the alert over TLS 1.2
	}{
		{"allowed client", &alice, "", ""},
		{"revoked", &mallory, tlspolicy.ReasonRevoked, "alert certificate revoked"},
		{"other CA", &outsider, tlspolicy.ReasonChain, "alert unknown ca"},
		{"URI SAN not allowed", &bob, tlspolicy.ReasonIdentity, "alert access denied"},
		{"no client certificate", nil, tlspolicy.ReasonNoCertificate, "alert handshake failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, version := range []string{"--tlsv1.2", "--tlsv1.3"} {
				before := px.logs.String()
				args := []string{version, url}
				if tt.client != nil {
					args = append([]string{"--cert", tt.client.Chain, "--key", tt.client.Key}, args...)
				}
				if version == "--tlsv1.2" {
					args = append([]string{"--tls-max", "1.2"}, args...)
				}
				out, err := run(args...)
				if tt.want == "" {
					if err != nil || out != "hello from the target\n" {
						t.Fatalf("%s: curl through the proxy: %v\n%s\nproxy log:\n%s", version, err, out, px.logs.String())
					}
					// The connection is logged by name, with the client's
					// serial as pki list prints it.
					serial := "peer_serial=" + pki.FormatSerial(aliceIssued.Certificate.SerialNumber)
					if logged := strings.TrimPrefix(px.logs.String(), before); !strings.Contains(logged, serial) || !strings.Contains(logged, "group=") || strings.Contains(logged, "CurveID(") {
						t.Errorf("%s: no connection line with %s and a named group:\n%s", version, serial, logged)
					}
					continue
				}
				if err == nil {
					t.Fatalf("%s: curl was let through:\n%s", version, out)
				}
				// In TLS 1.2 the refusal reaches the client as the alert
				// TLS sends for that failure; in TLS 1.3 the client
				// certificate arrives after the server's Finished, and
				// crypto/tls sends bad_certificate, encrypted, for every
				// refusal of it.
				alert := "alert bad certificate"
				if version == "--tlsv1.2" {
					alert = tt.alert12
				}
				if !strings.Contains(out, alert) {
					t.Errorf("%s: curl does not print %q:\n%s", version, alert, out)
				}
				if !waitFor(func() bool {
					return strings.Contains(strings.TrimPrefix(px.logs.String(), before), "reason="+string(tt.want))
				}) {
					t.Fatalf("%s: no log line with reason=%s:\n%s", version, tt.want, strings.TrimPrefix(px.logs.String(), before))
				}
			}
		})
	}
	t.Run("TLS 1.1", func(t *testing.T) {
		out, err := run("--tlsv1.1", "--tls-max", "1.1", "--cert", alice.Chain, "--key", alice.Key, url)
		if err == nil || !strings.Contains(out, "alert protocol version") {
			t.Errorf("curl --tlsv1.1: %v, want the protocol_version alert:\n%s", err, out)
		}
	})
	t.Run("plaintext HTTP", func(t *testing.T) {
		out, err := run("-i", "http://"+px.addr+"/")
		if err != nil || !strings.HasPrefix(out, "HTTP/1.1 400") || !strings.Contains(out, "requires TLS") {
			t.Fatalf("plain HTTP to the TLS port: %v\n%s", err, out)
		}
		if !strings.Contains(px.logs.String(), "reason=plaintext") {
			t.Errorf("no plaintext refusal logged:\n%s", px.logs.String())
		}
	})
}

func TestPlaintextNeverHangs(t *testing.T) {
	f := newFixture(t)
	px := startProxy(t, ModeServer, echoServer(t), tlspolicy.Options{Profile: profile(t, tlspolicy.Baseline), Certificate: &tlspolicy.StaticCertificate{Cert: f.server.TLS()}},
		func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	for _, tt := range []struct {
		name, send, log string
	}{
		{"other protocol", "EHLO mail.example\r\n", "reason=plaintext"},
		{"silent client", "", "reason=handshake"},
		{"health check", "close", "connection closed before sending anything"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", px.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			switch tt.send {
			case "":
			case "close":
				_ = c.(*net.TCPConn).CloseWrite()
			default:
				if _, err := io.WriteString(c, tt.send); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(make([]byte, 64))
			if n != 0 || (!errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset")) {
				t.Fatalf("read %d bytes, %v; want the proxy to close the connection", n, err)
			}
			if !waitFor(func() bool { return strings.Contains(px.logs.String(), tt.log) }) {
				t.Fatalf("no %s line:\n%s", tt.log, px.logs.String())
			}
		})
	}
	if !strings.Contains(px.metricsText(t), `intransit_tls_refusals_total{profile="baseline",reason="handshake",role="server"} 1`) {
		t.Errorf("a health check was counted as a refusal:\n%s", px.metricsText(t))
	}
}

func TestPQProfileThroughProxy(t *testing.T) {
	f := newFixture(t)
	px := startProxy(t, ModeServer, echoServer(t), tlspolicy.Options{Profile: profile(t, tlspolicy.PQ), Certificate: &tlspolicy.StaticCertificate{Cert: f.server.TLS()}}, nil)
	dial := func(groups ...tls.CurveID) (*tls.Conn, error) {
		d := &tls.Dialer{Config: &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost", CurvePreferences: groups}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", px.addr)
		if err != nil {
			return nil, err
		}
		return c.(*tls.Conn), nil
	}
	if c, err := dial(tls.X25519); err == nil {
		c.Close()
		t.Fatal("an X25519-only client was accepted under the pq profile")
	}
	if !waitFor(func() bool { return strings.Contains(px.logs.String(), "reason=group") }) {
		t.Fatalf("no group refusal logged:\n%s", px.logs.String())
	}
	c, err := dial(tls.X25519MLKEM768)
	if err != nil {
		t.Fatalf("X25519MLKEM768 client refused: %v\n%s", err, px.logs.String())
	}
	defer c.Close()
	if _, err := io.WriteString(c, "pq"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		t.Fatalf("echo through the proxy: %v", err)
	}
	wants := []string{
		`intransit_tls_handshakes_total{group="X25519MLKEM768",profile="pq",resumed="false",role="server",suite=`,
		`intransit_tls_refusals_total{profile="pq",reason="group",role="server"} 1`,
		`intransit_tls_proxy_open_connections 1`,
	}
	// The refused connection is logged before its handler has returned and
	// left the open-connections gauge: wait for the scrape to settle.
	var m string
	waitFor(func() bool {
		m = px.metricsText(t)
		for _, want := range wants {
			if !strings.Contains(m, want) {
				return false
			}
		}
		return true
	})
	for _, want := range wants {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
}

func TestHotReloadKeepsOpenConnections(t *testing.T) {
	f := newFixture(t)
	certPath, keyPath := f.server.WriteFiles(t, f.dir, "server")
	log := slog.New(slog.DiscardHandler)
	kp, err := tlspolicy.LoadKeyPairFiles(certPath, keyPath, profile(t, tlspolicy.Baseline), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go kp.Watch(ctx, 20*time.Millisecond)
	px := startProxy(t, ModeServer, echoServer(t), tlspolicy.Options{Profile: profile(t, tlspolicy.Baseline), Certificate: kp}, nil)
	dial := func() *tls.Conn {
		c, err := tls.Dial("tcp", px.addr, &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	echo := func(c *tls.Conn, msg string) {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, got, err)
		}
	}
	old := dial()
	defer old.Close()
	echo(old, "before")

	next := f.ca.Issue(certs.LeafOptions{CommonName: "server-2", DNSNames: []string{"localhost"}})
	certs.ReplaceFile(t, f.dir, "server.key", next.KeyPEM)
	certs.ReplaceFile(t, f.dir, "server.crt", next.CertPEM)
	var seen string
	if !waitFor(func() bool {
		c := dial()
		defer c.Close()
		seen = c.ConnectionState().PeerCertificates[0].Subject.CommonName
		return seen == "server-2"
	}) {
		t.Fatalf("new connections still see %q after the certificate file was replaced", seen)
	}
	echo(old, "after the reload")
	if cn := old.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "server-1" {
		t.Errorf("the open connection's certificate changed to %q", cn)
	}
}

func TestClientModeToServerMode(t *testing.T) {
	f := newFixture(t)
	cas, err := tlspolicy.LoadCAFile(f.caPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	server := startProxy(t, ModeServer, echoServer(t), tlspolicy.Options{
		Profile: profile(t, tlspolicy.Modern), Certificate: &tlspolicy.StaticCertificate{Cert: f.server.TLS()},
		CAs: cas, Allow: tlspolicy.Identity{CommonNames: []string{"alice"}},
	}, nil)
	client := startProxy(t, ModeClient, server.addr, tlspolicy.Options{
		Profile: profile(t, tlspolicy.Modern), Certificate: &tlspolicy.StaticCertificate{Cert: f.alice.TLS()}, CAs: cas, ServerName: "localhost",
	}, nil)
	c, err := net.Dial("tcp", client.addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	go func() {
		_, _ = c.Write(payload)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("round trip through both proxies: %d of %d bytes, %v\nclient log:\n%s\nserver log:\n%s", len(got), len(payload), err, client.logs.String(), server.logs.String())
	}
	if !waitFor(func() bool { return client.proxy.Status().BytesOut == int64(len(payload)) }) {
		t.Errorf("client proxy status %+v, want %d bytes out", client.proxy.Status(), len(payload))
	}

	// A client-mode proxy that does not trust the server's CA refuses it.
	stranger := certs.NewCA(t, "Stranger CA")
	wrong := startProxy(t, ModeClient, server.addr, tlspolicy.Options{
		Profile: profile(t, tlspolicy.Modern), Certificate: &tlspolicy.StaticCertificate{Cert: f.alice.TLS()},
		CAs: &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(stranger.Cert)}, ServerName: "localhost",
	}, nil)
	c2, err := net.Dial("tcp", wrong.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if n, _ := c2.Read(make([]byte, 1)); n != 0 {
		t.Fatal("data came through a refused server")
	}
	if !waitFor(func() bool { return strings.Contains(wrong.logs.String(), "reason=chain") }) {
		t.Fatalf("no chain refusal logged:\n%s", wrong.logs.String())
	}
}

func TestGracefulShutdown(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	tc, err := tlspolicy.ServerConfig(tlspolicy.Options{Profile: profile(t, tlspolicy.Baseline), Certificate: &tlspolicy.StaticCertificate{Cert: f.server.TLS()}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	px, err := New(Config{Mode: ModeServer, Target: echoServer(t), TLS: tc, Profile: "baseline", Metrics: m, ShutdownGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- px.Serve(ctx, ln) }()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if !waitFor(func() bool {
		probe, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err == nil {
			probe.Close()
		}
		return err != nil
	}) {
		t.Error("the listener still accepts after shutdown")
	}
	// Within the grace period the open connection still works.
	if _, err := io.WriteString(c, "y"); err != nil {
		t.Fatalf("open connection broken during the grace period: %v", err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("open connection broken during the grace period: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the grace period")
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err == nil {
		t.Fatal("the connection survived the end of the grace period")
	}
	if st := px.Status(); st.Open != 0 {
		t.Errorf("open connections after shutdown: %d", st.Open)
	}
}

func TestResetClientEndsConnectionToSilentTarget(t *testing.T) {
	f := newFixture(t)
	// The target accepts and then neither sends nor closes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			held <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case c := <-held:
			c.Close()
		default:
		}
	})
	px := startProxy(t, ModeServer, ln.Addr().String(), tlspolicy.Options{Profile: profile(t, tlspolicy.Baseline), Certificate: &tlspolicy.StaticCertificate{Cert: f.server.TLS()}}, nil)
	raw, err := net.Dial("tcp", px.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"})
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if !waitFor(func() bool { return px.proxy.Status().Accepted == 1 }) {
		t.Fatalf("connection not established: %+v", px.proxy.Status())
	}
	_ = raw.(*net.TCPConn).SetLinger(0)
	raw.Close() // reset
	if !waitFor(func() bool { return px.proxy.Status().Open == 0 }) {
		t.Fatalf("the proxy still holds the connection after the client reset it: %+v", px.proxy.Status())
	}
}
