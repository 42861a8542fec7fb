package tlspolicy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy/crlsource"
)

// logBuffer collects log lines from concurrent handshakes.
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

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// counter returns the value of the metric with the given labels, 0 if absent.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// handshake runs a TLS handshake between the two configs over loopback and
// returns both ends' errors and the client's view of the connection.
func handshake(t *testing.T, server, client *tls.Config) (serverErr error, cs tls.ConnectionState, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		err = tc.Handshake()
		if err == nil {
			// Complete the round trip so that a client-side refusal in
			// VerifyConnection (TLS 1.3) reaches the server as an error.
			_, err = tc.Write([]byte("ok"))
			if err == nil {
				buf := make([]byte, 1)
				_, err = tc.Read(buf)
			}
		}
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, client)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	clientErr = tc.Handshake()
	if clientErr == nil {
		buf := make([]byte, 2)
		if _, clientErr = tc.Read(buf); clientErr == nil {
			_, clientErr = tc.Write([]byte("!"))
		}
		cs = tc.ConnectionState()
	}
	if clientErr != nil {
		c.Close()
	}
	serverErr = <-done
	return serverErr, cs, clientErr
}

type pkiFixture struct {
	dir      string
	ca       *certs.CA
	server   *certs.Leaf
	alice    *certs.Leaf // allowed client
	mallory  *certs.Leaf // revoked client
	bob      *certs.Leaf // client whose URI SAN is not allowed
	stranger *certs.Leaf // client from another CA
	weak     *certs.Leaf // client with a 1024-bit RSA key
	crlPath  string
}

func newFixture(t *testing.T) *pkiFixture {
	t.Helper()
	f := &pkiFixture{dir: t.TempDir(), ca: certs.NewCA(t, "Test CA")}
	f.server = f.ca.Issue(certs.LeafOptions{CommonName: "server", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	f.alice = f.ca.Issue(certs.LeafOptions{CommonName: "alice", URIs: []string{"spiffe://test/alice"}})
	f.mallory = f.ca.Issue(certs.LeafOptions{CommonName: "mallory", URIs: []string{"spiffe://test/alice"}})
	f.bob = f.ca.Issue(certs.LeafOptions{CommonName: "bob", URIs: []string{"spiffe://test/bob"}})
	f.weak = f.ca.Issue(certs.LeafOptions{CommonName: "weak", URIs: []string{"spiffe://test/alice"}, Key: certs.RSA1024})
	f.stranger = certs.NewCA(t, "Other CA").Issue(certs.LeafOptions{CommonName: "stranger", URIs: []string{"spiffe://test/alice"}})
	f.crlPath = certs.WriteFile(t, f.dir, "ca.crl", f.ca.CRL(time.Now().Add(time.Hour), f.mallory.Cert))
	return f
}

func (f *pkiFixture) clientConfig(leaf *certs.Leaf) *tls.Config {
	cfg := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "localhost"}
	if leaf != nil {
		// Send the certificate even when its CA is not among those the
		// server names, as curl and openssl do.
		cert := leaf.TLS()
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return cfg
}

func mustProfile(t *testing.T, name string) *Profile {
	t.Helper()
	p, err := Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPQProfileRefusesClassicalClients(t *testing.T) {
	f := newFixture(t)
	log, logs := newLogger()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ServerConfig(Options{Profile: mustProfile(t, PQ), Certificate: &StaticCertificate{Cert: f.server.TLS()}, Logger: log, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	classical := f.clientConfig(nil)
	classical.CurvePreferences = []tls.CurveID{tls.X25519}
	serverErr, _, _ := handshake(t, srv, classical)
	if ReasonOf(serverErr) != ReasonGroup {
		t.Fatalf("X25519-only client: server error %v, want a group refusal", serverErr)
	}
	if !strings.Contains(logs.String(), "reason=group") || !strings.Contains(logs.String(), "X25519") {
		t.Errorf("log does not explain the refusal:\n%s", logs)
	}
	if got := counter(t, reg, "intransit_tls_refusals_total", map[string]string{"reason": "group", "profile": "pq"}); got != 1 {
		t.Errorf("group refusals = %v, want 1", got)
	}

	hybrid := f.clientConfig(nil)
	hybrid.CurvePreferences = []tls.CurveID{tls.X25519MLKEM768}
	serverErr, cs, clientErr := handshake(t, srv, hybrid)
	if serverErr != nil || clientErr != nil {
		t.Fatalf("X25519MLKEM768 client refused: server %v, client %v", serverErr, clientErr)
	}
	if cs.CurveID != tls.X25519MLKEM768 {
		t.Errorf("negotiated %v, want X25519MLKEM768", cs.CurveID)
	}
	if got := counter(t, reg, "intransit_tls_handshakes_total", map[string]string{"group": "X25519MLKEM768", "version": "TLS 1.3"}); got != 1 {
		t.Errorf("handshakes with X25519MLKEM768 = %v, want 1", got)
	}
}

func TestServerRefusesOffersOutsideProfile(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		profile string
		client  func(*tls.Config)
		want    Reason
	}{
		{"tls1.1 only", Baseline, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 }, ReasonVersion},
		{"tls1.2 to modern", Modern, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, ReasonVersion},
		{"cbc suite", Baseline, func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
		}, ReasonCipherSuite},
		{"x25519 under fips", FIPS, func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519} }, ReasonGroup},
		{"tls1.2 accepted", Baseline, func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
		}, ""},
		{"tls1.3 accepted under fips", FIPS, func(*tls.Config) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := ServerConfig(Options{Profile: mustProfile(t, tt.profile), Certificate: &StaticCertificate{Cert: f.server.TLS()}})
			if err != nil {
				t.Fatal(err)
			}
			cli := f.clientConfig(nil)
			tt.client(cli)
			serverErr, _, clientErr := handshake(t, srv, cli)
			if tt.want == "" {
				if serverErr != nil || clientErr != nil {
					t.Fatalf("refused: server %v, client %v", serverErr, clientErr)
				}
				return
			}
			if got := ReasonOf(serverErr); got != tt.want {
				t.Fatalf("server error %v (reason %s), want reason %s", serverErr, got, tt.want)
			}
		})
	}
}

func TestMutualTLSChecksPeers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cas := &StaticCAs{Set: NewCASet(f.ca.Cert)}
	rev, err := NewRevocation(ctx, &crlsource.File{Path: f.crlPath}, cas, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newLogger()
	srv, err := ServerConfig(Options{
		Profile: mustProfile(t, Baseline), Certificate: &StaticCertificate{Cert: f.server.TLS()},
		CAs: cas, Revocation: rev, Allow: Identity{URIs: []string{"spiffe://test/alice"}}, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		leaf *certs.Leaf
		want Reason
	}{
		{"allowed", f.alice, ""},
		{"no certificate", nil, ReasonNoCertificate},
		{"revoked", f.mallory, ReasonRevoked},
		{"other CA", f.stranger, ReasonChain},
		{"URI not allowed", f.bob, ReasonIdentity},
		{"weak key", f.weak, ReasonPeerKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				cli := f.clientConfig(tt.leaf)
				cli.MaxVersion = version
				serverErr, _, clientErr := handshake(t, srv, cli)
				if tt.want == "" {
					if serverErr != nil || clientErr != nil {
						t.Fatalf("%s: refused: server %v, client %v", VersionName(version), serverErr, clientErr)
					}
					continue
				}
				if got := ReasonOf(serverErr); got != tt.want {
					t.Fatalf("%s: server error %v (reason %s), want %s", VersionName(version), serverErr, got, tt.want)
				}
				if !strings.Contains(logs.String(), "reason="+string(tt.want)) {
					t.Errorf("no log line with reason=%s:\n%s", tt.want, logs)
				}
			}
		})
	}
}

func TestResumedSessionsAreChecked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cas := &StaticCAs{Set: NewCASet(f.ca.Cert)}
	rev, err := NewRevocation(ctx, &crlsource.File{Path: f.crlPath}, cas, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, logs := newLogger()
	srv, err := ServerConfig(Options{Profile: mustProfile(t, Baseline), Certificate: &StaticCertificate{Cert: f.server.TLS()}, CAs: cas, Revocation: rev, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cli := f.clientConfig(f.alice)
		cli.MaxVersion = version
		cli.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		if serverErr, cs, clientErr := handshake(t, srv, cli); serverErr != nil || clientErr != nil || cs.DidResume {
			t.Fatalf("%s first handshake: server %v, client %v, resumed %v", VersionName(version), serverErr, clientErr, cs.DidResume)
		}
		if serverErr, cs, clientErr := handshake(t, srv, cli); serverErr != nil || clientErr != nil || !cs.DidResume {
			t.Fatalf("%s second handshake should resume: server %v, client %v, resumed %v", VersionName(version), serverErr, clientErr, cs.DidResume)
		}
		certs.ReplaceFile(t, f.dir, "ca.crl", f.ca.CRL(time.Now().Add(time.Hour), f.alice.Cert))
		if err := rev.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		serverErr, _, _ := handshake(t, srv, cli)
		if ReasonOf(serverErr) != ReasonRevoked {
			t.Fatalf("%s resumption after revocation: server error %v, want revoked", VersionName(version), serverErr)
		}
		if !strings.Contains(logs.String(), "resumed=true") {
			t.Errorf("%s: the refusal was not of a resumed session:\n%s", VersionName(version), logs)
		}
		certs.ReplaceFile(t, f.dir, "ca.crl", f.ca.CRL(time.Now().Add(time.Hour)))
		if err := rev.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientConfigVerifiesServer(t *testing.T) {
	f := newFixture(t)
	srv := &tls.Config{Certificates: []tls.Certificate{f.server.TLS()}}
	other := certs.NewCA(t, "Other CA")
	tests := []struct {
		name       string
		cas        *certs.CA
		serverName string
		allow      Identity
		want       Reason
	}{
		{"trusted", f.ca, "localhost", Identity{}, ""},
		{"IP SAN", f.ca, "127.0.0.1", Identity{}, ""},
		{"IP not in the certificate", f.ca, "127.0.0.2", Identity{}, ReasonChain},
		{"wrong name", f.ca, "example.com", Identity{}, ReasonChain},
		{"other CA", other, "localhost", Identity{}, ReasonChain},
		{"identity allowed", f.ca, "localhost", Identity{CommonNames: []string{"server"}}, ""},
		{"identity refused", f.ca, "localhost", Identity{DNSNames: []string{"db.internal"}}, ReasonIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := ClientConfig(Options{Profile: mustProfile(t, Baseline), CAs: &StaticCAs{Set: NewCASet(tt.cas.Cert)}, ServerName: tt.serverName, Allow: tt.allow})
			if err != nil {
				t.Fatal(err)
			}
			_, _, clientErr := handshake(t, srv, cli)
			if tt.want == "" {
				if clientErr != nil {
					t.Fatalf("refused: %v", clientErr)
				}
				return
			}
			if got := ReasonOf(clientErr); got != tt.want {
				t.Fatalf("client error %v (reason %s), want %s", clientErr, got, tt.want)
			}
		})
	}
}

func TestControlChannelExporterMatches(t *testing.T) {
	f := newFixture(t)
	cas := &StaticCAs{Set: NewCASet(f.ca.Cert)}
	srv, err := ControlServerConfig(Options{Certificate: &StaticCertificate{Cert: f.server.TLS()}, CAs: cas})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ControlClientConfig(Options{Certificate: &StaticCertificate{Cert: f.alice.TLS()}, CAs: cas, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.MinVersion != tls.VersionTLS13 || srv.ClientAuth != tls.RequestClientCert {
		t.Fatalf("control server config: min version %x, client auth %v", srv.MinVersion, srv.ClientAuth)
	}
	if _, err := ControlServerConfig(Options{Profile: mustProfile(t, Baseline), Certificate: &StaticCertificate{Cert: f.server.TLS()}, CAs: cas}); err == nil {
		t.Error("control channel accepted the baseline profile")
	}
	a, b := net.Pipe()
	sc, cc := tls.Server(a, srv), tls.Client(b, cli)
	errc := make(chan error, 1)
	go func() { errc <- sc.Handshake() }()
	if err := cc.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if g := cc.ConnectionState().CurveID; !IsHybridPQ(g) {
		t.Errorf("control channel negotiated %v, not a hybrid group", g)
	}
	ks, err := Exporter(sc, "EXPORTER-intransit-psk", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := Exporter(cc, "EXPORTER-intransit-psk", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ks, kc) || len(ks) != 32 {
		t.Errorf("exporters differ: %x vs %x", ks, kc)
	}
	sc.Close()
	cc.Close()
}

func TestOptionsAreChecked(t *testing.T) {
	f := newFixture(t)
	weak := f.ca.Issue(certs.LeafOptions{CommonName: "weak-server", Key: certs.RSA1024})
	ed := f.ca.Issue(certs.LeafOptions{CommonName: "ed-server", Key: certs.Ed25519})
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no profile", Options{Certificate: &StaticCertificate{Cert: f.server.TLS()}}, "no TLS profile"},
		{"no certificate", Options{Profile: mustProfile(t, Baseline)}, "no certificate"},
		{"weak own key", Options{Profile: mustProfile(t, Baseline), Certificate: &StaticCertificate{Cert: weak.TLS()}}, "1024 bits"},
		{"ed25519 under fips", Options{Profile: mustProfile(t, FIPS), Certificate: &StaticCertificate{Cert: ed.TLS()}}, "Ed25519"},
		{"allow-list without CAs", Options{Profile: mustProfile(t, Baseline), Certificate: &StaticCertificate{Cert: f.server.TLS()}, Allow: Identity{CommonNames: []string{"x"}}}, "client CAs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ServerConfig(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ServerConfig error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestVerifyConnectionChecksNegotiated feeds the post-handshake check states
// that the ClientHello check cannot see, such as a TLS 1.3 suite chosen by
// crypto/tls that the profile forbids.
func TestVerifyConnectionChecksNegotiated(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		profile string
		cs      tls.ConnectionState
		want    Reason
	}{
		{FIPS, tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_CHACHA20_POLY1305_SHA256, CurveID: tls.CurveP256}, ReasonCipherSuite},
		{FIPS, tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_256_GCM_SHA384, CurveID: tls.X25519}, ReasonGroup},
		{PQ, tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, CurveID: tls.X25519}, ReasonGroup},
		{Modern, tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, CurveID: tls.X25519}, ReasonVersion},
		{Baseline, tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, CurveID: tls.X25519}, ReasonCipherSuite},
		{Baseline, tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, CurveID: 0}, ReasonGroup},
		{PQ, tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, CurveID: tls.X25519MLKEM768}, ""},
	}
	for _, tt := range tests {
		reg := prometheus.NewRegistry()
		m, err := NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := ServerConfig(Options{Profile: mustProfile(t, tt.profile), Certificate: &StaticCertificate{Cert: f.server.TLS()}, Metrics: m})
		if err != nil {
			t.Fatal(err)
		}
		err = srv.VerifyConnection(tt.cs)
		if got := ReasonOf(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("%s %s/%s/%s: %v, want %q", tt.profile, VersionName(tt.cs.Version), SuiteName(tt.cs.CipherSuite), GroupName(tt.cs.CurveID), err, tt.want)
		}
		if tt.want != "" && counter(t, reg, "intransit_tls_refusals_total", map[string]string{"reason": string(tt.want)}) != 1 {
			t.Errorf("%s: refusal not counted", tt.profile)
		}
	}
}

func TestSignatureAlgorithmsOfPeerChain(t *testing.T) {
	f := newFixture(t)
	strict, err := ParseProfile([]byte("name: sha384-only\nbase: baseline\nsignature_algorithms: [ECDSA-SHA384]\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ServerConfig(Options{Profile: strict, Certificate: &StaticCertificate{Cert: f.server.TLS()}, CAs: &StaticCAs{Set: NewCASet(f.ca.Cert)}})
	if err != nil {
		t.Fatal(err)
	}
	serverErr, _, _ := handshake(t, srv, f.clientConfig(f.alice))
	if ReasonOf(serverErr) != ReasonSignature || !strings.Contains(serverErr.Error(), "ECDSA-SHA256") {
		t.Fatalf("client certificate signed with ECDSA-SHA256 under an ECDSA-SHA384-only profile: %v", serverErr)
	}
}

func TestIdentityAllowLists(t *testing.T) {
	ca := certs.NewCA(t, "Identity CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "web-1", OrgUnits: []string{"frontend"}, DNSNames: []string{"Web-1.Example.Net"}, URIs: []string{"spiffe://example/web"}})
	tests := []struct {
		name  string
		allow Identity
		want  bool
	}{
		{"no lists", Identity{}, true},
		{"URI", Identity{URIs: []string{"spiffe://example/web"}}, true},
		{"URI prefix is not a match", Identity{URIs: []string{"spiffe://example/"}}, false},
		{"DNS ignores case", Identity{DNSNames: []string{"web-1.example.net"}}, true},
		{"CN", Identity{CommonNames: []string{"web-1"}}, true},
		{"CN is case-sensitive", Identity{CommonNames: []string{"WEB-1"}}, false},
		{"OU", Identity{OrgUnits: []string{"frontend"}}, true},
		{"any list may match", Identity{OrgUnits: []string{"backend"}, CommonNames: []string{"web-1"}}, true},
		{"none match", Identity{OrgUnits: []string{"backend"}, DNSNames: []string{"db.example.net"}}, false},
	}
	for _, tt := range tests {
		r := tt.allow.Check(leaf.Cert)
		if (r == nil) != tt.want {
			t.Errorf("%s: Check = %v, want allowed=%v", tt.name, r, tt.want)
		}
		if r != nil && (r.Reason != ReasonIdentity || !strings.Contains(r.Error(), "web-1")) {
			t.Errorf("%s: refusal %v does not name the peer", tt.name, r)
		}
	}
}

func TestUntrustedDropsTrustedCopies(t *testing.T) {
	a, b := certs.NewCA(t, "A CA"), certs.NewCA(t, "B CA")
	copyOfA, err := x509.ParseCertificate(a.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	sent := []*x509.Certificate{copyOfA, b.Cert}
	got := untrusted(NewCASet(a.Cert), sent)
	if len(got) != 1 || got[0] != b.Cert {
		t.Errorf("got %d certificates, want only B's (A's is trusted)", len(got))
	}
	if got := untrusted(nil, sent); len(got) != 2 {
		t.Errorf("without CAs got %d certificates, want both", len(got))
	}
}
