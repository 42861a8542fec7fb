package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy"
)

// baselineServer serves crypto/tls on loopback with the baseline profile's
// lists and returns its address and the path of its CA file.
func baselineServer(t *testing.T) (addr, caFile string) {
	t.Helper()
	ca := certs.NewCA(t, "cli audit CA")
	leaf := ca.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}})
	p, err := tlspolicy.Builtin(tlspolicy.Baseline)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion: p.MinVersion, MaxVersion: p.MaxVersion, CipherSuites: p.CipherSuites,
		CurvePreferences: p.Groups, Certificates: []tls.Certificate{leaf.TLS()},
	})
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
	return ln.Addr().String(), certs.WriteFile(t, t.TempDir(), "ca.pem", ca.CertPEM)
}

func runCLI(args ...string) (string, error) {
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestTLSAuditCommandExitCodes(t *testing.T) {
	addr, caFile := baselineServer(t)

	// The test CA's certificates live a day: inside the default 30-day
	// expiry window, outside a 1-hour one.
	out, err := runCLI("tls", "audit", addr, "--sni", "localhost", "--ca", caFile)
	if exitCode(err) != exitFinding || !strings.Contains(err.Error(), "certificate.expiry") || !strings.Contains(out, "renew it (warning window 30 days)") {
		t.Errorf("certificate expiring within 30 days: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	if out, err := runCLI("tls", "audit", addr, "--sni", "localhost", "--ca", caFile, "--expiry-window", "0"); exitCode(err) != exitOK || strings.Contains(out, "certificate.expiry") {
		t.Errorf("--expiry-window 0: exit %d (%v)\n%s", exitCode(err), err, out)
	}

	out, err = runCLI("tls", "audit", addr, "--sni", "localhost", "--ca", caFile, "--output", "json", "--expiry-window", "1h")
	if exitCode(err) != exitOK {
		t.Fatalf("compliant endpoint: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	var doc struct {
		Schema    string `json:"schema"`
		Compliant bool   `json:"compliant"`
		Checks    []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--output json is not JSON: %v\n%s", err, out)
	}
	if doc.Schema != "intransit.tls-audit/v1" || !doc.Compliant || len(doc.Checks) == 0 {
		t.Errorf("json document %+v", doc)
	}

	out, err = runCLI("tls", "audit", addr, "--sni", "localhost", "--ca", caFile, "--profile", "pq")
	if exitCode(err) != exitFinding || !strings.Contains(err.Error(), "not compliant with profile pq") {
		t.Errorf("classical server under pq: exit %d (%v)", exitCode(err), err)
	}
	if !strings.Contains(out, "NOT COMPLIANT") || !strings.Contains(out, "group.x25519") {
		t.Errorf("table output:\n%s", out)
	}

	custom := certs.WriteFile(t, t.TempDir(), "x25519-only.yaml", []byte("name: x25519-only\nbase: baseline\ngroups: [X25519]\n"))
	out, err = runCLI("tls", "audit", addr, "--sni", "localhost", "--ca", caFile, "--profile", custom)
	if exitCode(err) != exitFinding || !strings.Contains(out, "under profile x25519-only") || !strings.Contains(out, "P-256 accepted (TLS 1.3, TLS 1.2); not in the groups of profile x25519-only") {
		t.Errorf("custom profile file: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	bad := certs.WriteFile(t, t.TempDir(), "bad.yaml", []byte("name: bad\ngroups: [X25519]\ncolour: blue\n"))
	if _, err := runCLI("tls", "audit", addr, "--profile", bad); exitCode(err) != exitCannot || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("bad profile file: exit %d (%v)", exitCode(err), err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := runCLI("tls", "audit", closed, "--timeout", "1s"); exitCode(err) != exitCannot || !strings.Contains(err.Error(), "cannot connect") {
		t.Errorf("unreachable endpoint: exit %d (%v)", exitCode(err), err)
	}
	if _, err := runCLI("tls", "audit", addr, "--profile", "nonsense"); exitCode(err) != exitCannot || !strings.Contains(err.Error(), "--profile") {
		t.Errorf("unknown profile: exit %d (%v)", exitCode(err), err)
	}
	if _, err := runCLI("tls", "audit", addr, "--ca", caFile+".missing"); exitCode(err) != exitCannot || !strings.Contains(err.Error(), "--ca") {
		t.Errorf("missing CA file: exit %d (%v)", exitCode(err), err)
	}
}
