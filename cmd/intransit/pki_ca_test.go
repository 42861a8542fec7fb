package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/admin"
	"intransit/pki/keywrap"
	"intransit/pki/store"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
)

// TestPKIThroughTheDaemon: while a daemon holds the PKI (here: the CA open
// in this process, serving the admin socket in its directory), issue,
// list, show, revoke and crl go through the socket, with no master key
// given, and a revocation is published at once. Once the daemon is gone,
// even leaving a stale socket file, the CLI opens the store itself and
// asks for the master key again.
func TestPKIThroughTheDaemon(t *testing.T) {
	pkiEnv(t)
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "held"})
	dir := ca.Dir()
	crlFile := filepath.Join(t.TempDir(), "crl.pem")
	ln, err := admin.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- admin.Serve(ctx, ln, admin.NewLocal(ca, &admin.CRLFiles{Paths: []string{crlFile}}, nil), nil)
	}()
	run := func(args ...string) (string, int) {
		return runPKICLI(t, append(append([]string{"pki"}, args...), "--dir", dir)...)
	}
	out := t.TempDir()
	if got, code := run("issue", "gw1", "--profile", "gateway", "--san", "gw1.test", "--out", out); code != 0 {
		t.Fatalf("issue through the daemon: exit %d\n%s", code, got)
	}
	for _, f := range []string{"gw1.key", "gw1.crt", "gw1-chain.pem"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("issue wrote no %s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "gw1.key")); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
	}
	got, code := run("list", "--output", "json")
	var views []certView
	if code != 0 || json.Unmarshal([]byte(got), &views) != nil || len(views) != 1 || views[0].Name != "gw1" || views[0].Serial == "" {
		t.Fatalf("list through the daemon: exit %d\n%s", code, got)
	}
	if got, code := run("show", views[0].Serial); code != 0 || !strings.Contains(got, "BEGIN CERTIFICATE") {
		t.Errorf("show through the daemon: exit %d\n%s", code, got)
	}
	got, code = run("revoke", "gw1", "--reason", "keyCompromise")
	if code != 0 || !strings.Contains(got, "published") || !strings.Contains(got, crlFile) {
		t.Fatalf("revoke through the daemon: exit %d, want the CRL published to %s\n%s", code, crlFile, got)
	}
	if _, err := os.Stat(crlFile); err != nil {
		t.Errorf("the revocation was not published: %v", err)
	}
	if got, code := run("revoke", "gw1"); code != 1 {
		t.Errorf("revoke twice through the daemon: exit %d, want 1 (refused)\n%s", code, got)
	}
	if got, code := run("crl", "--out", filepath.Join(t.TempDir(), "crl.der")); code != 0 || !strings.Contains(got, "(1 revoked)") {
		t.Errorf("crl through the daemon: exit %d\n%s", code, got)
	}

	// The daemon stops but leaves its socket file behind.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ca.Close()
	if _, err := os.Stat(filepath.Join(dir, admin.SocketFile)); err != nil {
		t.Fatalf("no stale socket left for the test: %v", err)
	}
	// A stale socket: list reads the store here, needing no master key;
	// revoke must unlock it.
	if got, code := run("list", "--status", "revoked"); code != 0 || !strings.Contains(got, "gw1") {
		t.Errorf("list from the store directly, without a master key: exit %d\n%s", code, got)
	}
	if got, code := run("revoke", "gw1"); code != 2 || !strings.Contains(got, "master key") {
		t.Errorf("revoke without a daemon and without a master key: exit %d, want 2 asking for the key\n%s", code, got)
	}
}

// TestPKICRLThroughTheDaemonAfterRotation: during an intermediate overlap,
// pki crl through the admin socket of a daemon holding the PKI writes to
// DIR/crl.pem the same bundle as the daemon publishes and pki crl without
// a daemon (pki.CA.PublishedCRLs): the CRLs of both intermediates, so a
// revoked leaf of the replaced one is refused by a tlspolicy.Revocation
// read from it.
func TestPKICRLThroughTheDaemonAfterRotation(t *testing.T) {
	pkiEnv(t)
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "rotated"})
	dir, inter1 := ca.Dir(), ca.Intermediate()
	old, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: "old", DNSNames: []string{"old.test"}}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	ca.Close()
	secret := keywrap.Passphrase([]byte(pkitest.Passphrase))
	inter2, err := pki.RotateIntermediate(ctx, dir, secret, pki.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = pki.Open(ctx, dir, secret, pki.OpenOptions{}); err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if _, err := ca.RevokeRef(ctx, "old", store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	published := filepath.Join(t.TempDir(), "identity.crl")
	ln, err := admin.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- admin.Serve(sctx, ln, admin.NewLocal(ca, &admin.CRLFiles{Paths: []string{published}, CA: ca}, nil), nil)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	got, code := runPKICLI(t, "pki", "crl", "--dir", dir)
	if code != 0 || !strings.Contains(got, "published by the daemon holding the PKI") {
		t.Fatalf("crl through the daemon: exit %d\n%s", code, got)
	}
	crlPEM := filepath.Join(dir, "crl.pem")
	b, err := os.ReadFile(crlPEM)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "BEGIN X509 CRL"); n != 2 {
		t.Fatalf("crl.pem written through the daemon holds %d PEM CRLs, want those of both intermediates", n)
	}
	want, err := os.ReadFile(published)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(want) {
		t.Errorf("crl.pem differs from the bundle the daemon published to %s", published)
	}
	rev, err := tlspolicy.NewRevocation(ctx, &crlsource.File{Path: crlPEM}, &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(ca.Root(), inter1, inter2)}, nil)
	if err != nil {
		t.Fatalf("tlspolicy.NewRevocation from crl.pem: %v", err)
	}
	if r := rev.Check([]*x509.Certificate{old.Certificate, inter1, ca.Root()}); r == nil || r.Reason != tlspolicy.ReasonRevoked {
		t.Fatalf("the revoked leaf of the replaced intermediate: %v, want refused as revoked", r)
	}
}
