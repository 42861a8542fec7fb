package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy"
)

// lockedBuffer collects the proxy's log from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestTLSProxyCommandRunsAndReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	ca := certs.NewCA(t, "cmd test CA")
	first := ca.Issue(certs.LeafOptions{CommonName: "server-1", DNSNames: []string{"localhost"}})
	certPath, keyPath := first.WriteFiles(t, dir, "server")
	profilePath := certs.WriteFile(t, dir, "profile.yaml", []byte("name: internal\nbase: modern\n"))

	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	listen, metrics := freeLoopbackAddr(t), freeLoopbackAddr(t)
	root := newRootCommand()
	logs := &lockedBuffer{}
	root.SetErr(logs)
	root.SetOut(io.Discard)
	root.SetArgs([]string{"tls", "proxy", "--listen", listen, "--target", target.Addr().String(), "--profile", profilePath,
		"--cert", certPath, "--key", keyPath, "--metrics", metrics, "--reload-interval", "1h"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy command: %v", err)
		}
	}()

	dial := func(cfg *tls.Config) (*tls.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", listen, cfg)
	}
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	var conn *tls.Conn
	if !eventually(func() bool { conn, err = dial(client); return err == nil }) {
		t.Fatalf("proxy did not come up: %v\n%s", err, logs)
	}
	defer conn.Close()
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %x under a profile based on modern", v)
	}
	if _, err := dial(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS12}); err == nil {
		t.Error("a TLS 1.2 client was accepted under a profile based on modern")
	}

	second := ca.Issue(certs.LeafOptions{CommonName: "server-2", DNSNames: []string{"localhost"}})
	certs.ReplaceFile(t, dir, "server.key", second.KeyPEM)
	certs.ReplaceFile(t, dir, "server.crt", second.CertPEM)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var cn string
	if !eventually(func() bool {
		c, err := dial(client)
		if err != nil {
			return false
		}
		defer c.Close()
		cn = c.ConnectionState().PeerCertificates[0].Subject.CommonName
		return cn == "server-2"
	}) {
		t.Fatalf("after SIGHUP new connections see %q\n%s", cn, logs)
	}
	if _, err := io.WriteString(conn, "still open"); err != nil {
		t.Fatalf("the connection opened before the reload broke: %v", err)
	}
	if _, err := io.ReadFull(conn, make([]byte, len("still open"))); err != nil {
		t.Fatalf("the connection opened before the reload broke: %v", err)
	}

	resp, err := http.Get("http://" + metrics + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Profile string `json:"profile"`
		Refused int    `json:"refused"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Profile != "internal" || st.Refused != 1 {
		t.Errorf("status %+v, want profile internal and 1 refusal", st)
	}
	for _, want := range []string{"reason=version", `msg=reloaded what="certificate and key"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestTLSProxyCommandFlagErrors(t *testing.T) {
	dir := t.TempDir()
	ca := certs.NewCA(t, "cmd test CA")
	certPath, keyPath := ca.Issue(certs.LeafOptions{CommonName: "server", DNSNames: []string{"localhost"}}).WriteFiles(t, dir, "server")
	weakProfile := certs.WriteFile(t, dir, "weak.yaml", []byte("name: weak\nbase: baseline\ncipher_suites: [AES256-SHA]\n"))
	typo := certs.WriteFile(t, dir, "typo.yaml", []byte("name: typo\nbase: baseline\ngrups: [X25519]\n"))
	listen := []string{"--listen", "127.0.0.1:0", "--target", "127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no listen", []string{"--target", "127.0.0.1:1", "--cert", certPath, "--key", keyPath}, "--listen and --target are required"},
		{"bad mode", append([]string{"--mode", "sideways", "--cert", certPath, "--key", keyPath}, listen...), `unknown proxy mode "sideways"`},
		{"server without cert", listen, "server mode needs --cert and --key"},
		{"cert without key", append([]string{"--cert", certPath}, listen...), "--cert and --key go together"},
		{"crl without CA", append([]string{"--cert", certPath, "--key", keyPath, "--crl", filepath.Join(dir, "x.crl")}, listen...), "--crl needs the CAs"},
		{"weak profile", append([]string{"--cert", certPath, "--key", keyPath, "--profile", weakProfile}, listen...), "not an ECDHE suite with an AEAD cipher"},
		{"profile typo", append([]string{"--cert", certPath, "--key", keyPath, "--profile", typo}, listen...), "line 3: field grups not found"},
		{"missing key file", append([]string{"--cert", certPath, "--key", filepath.Join(dir, "none.key")}, listen...), "none.key"},
		{"ca in server mode", append([]string{"--cert", certPath, "--key", keyPath, "--ca", certPath}, listen...), "--ca is for client mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCommand()
			root.SetErr(io.Discard)
			root.SetOut(io.Discard)
			root.SetArgs(append([]string{"tls", "proxy"}, tt.args...))
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if code := exitCode(err); code != exitCannot {
				t.Errorf("exit code %d, want %d", code, exitCannot)
			}
		})
	}
}

// startCommand runs `intransit` with args until the test ends.
func startCommand(t *testing.T, args ...string) *lockedBuffer {
	t.Helper()
	root := newRootCommand()
	logs := &lockedBuffer{}
	root.SetErr(logs)
	root.SetOut(io.Discard)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("intransit %v: %v", args, err)
		}
	})
	return logs
}

func TestTLSProxyClientModeToServerMode(t *testing.T) {
	dir := t.TempDir()
	ca := certs.NewCA(t, "cmd test CA")
	caPath := certs.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	srvCert, srvKey := ca.Issue(certs.LeafOptions{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}).WriteFiles(t, dir, "server")
	cliCert, cliKey := ca.Issue(certs.LeafOptions{CommonName: "laptop", URIs: []string{"spiffe://test/laptop"}}).WriteFiles(t, dir, "client")

	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	serverAddr, clientAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	serverLogs := startCommand(t, "tls", "proxy", "--listen", serverAddr, "--target", target.Addr().String(), "--profile", "pq",
		"--cert", srvCert, "--key", srvKey, "--client-ca", caPath, "--allow-uri", "spiffe://test/laptop")
	clientLogs := startCommand(t, "tls", "proxy", "--mode", "client", "--listen", clientAddr, "--target", serverAddr, "--profile", "pq",
		"--cert", cliCert, "--key", cliKey, "--ca", caPath)

	var c net.Conn
	if !eventually(func() bool {
		c, err = net.DialTimeout("tcp", clientAddr, time.Second)
		if err != nil {
			return false
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err = io.WriteString(c, "ping"); err == nil {
			buf := make([]byte, 4)
			if _, err = io.ReadFull(c, buf); err == nil && string(buf) == "ping" {
				return true
			}
		}
		c.Close()
		return false
	}) {
		t.Fatalf("no echo through client mode and server mode: %v\nclient log:\n%s\nserver log:\n%s", err, clientLogs, serverLogs)
	}
	c.Close()
}

// TestTLSProxyHelpListsProfiles checks that `tls proxy --help` says what
// each built-in profile allows, as the profile itself says it.
func TestTLSProxyHelpListsProfiles(t *testing.T) {
	out, code := runPKICLI(t, "tls", "proxy", "--help")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, name := range tlspolicy.BuiltinNames() {
		p, err := tlspolicy.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "\n"+name+"\n"+p.Describe("  ")) {
			t.Errorf("help does not describe profile %s:\n%s", name, out)
		}
	}
}
