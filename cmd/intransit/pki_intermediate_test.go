package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
)

// TestPKIIntermediateRotationCLI: rotate-intermediate, crl (which writes
// the replaced intermediate's CRL too), revoke-intermediate and root-crl,
// checked with openssl verify -crl_check_all.
func TestPKIIntermediateRotationCLI(t *testing.T) {
	bin := pkitest.Openssl(t)
	dir, pass := pkiEnv(t)
	run := func(want int, args ...string) string {
		t.Helper()
		out, code := runPKICLI(t, append([]string{"pki", "--dir", dir, "--passphrase-file", pass}, args...)...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s", args, code, want, out)
		}
		return out
	}
	run(0, "init", "--name", "cli", "--crl-url", "http://pki.example.net/crl")
	run(0, "issue", "old", "--profile", "server", "--san", "old.example.net")
	oldInter, err := os.ReadFile(filepath.Join(dir, pki.IntermediateFile))
	if err != nil {
		t.Fatal(err)
	}
	out := run(0, "rotate-intermediate")
	if !strings.Contains(out, `"cli Intermediate CA 2"`) {
		t.Fatalf("rotate-intermediate output:\n%s", out)
	}
	run(0, "issue", "new", "--profile", "server", "--san", "new.example.net")
	out = run(0, "crl")
	prev, _ := filepath.Glob(filepath.Join(dir, "crl-*.pem"))
	if len(prev) != 1 || !strings.Contains(out, prev[0]) {
		t.Fatalf("crl wrote %v for the replaced intermediate:\n%s", prev, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "crl.pem")); err != nil || strings.Count(string(b), "BEGIN X509 CRL") != 2 {
		t.Fatalf("crl.pem after the rotation holds %d CRLs, want both intermediates' (%v)", strings.Count(string(b), "BEGIN X509 CRL"), err)
	}
	oldInterFile := filepath.Join(t.TempDir(), "old-inter.pem")
	if err := os.WriteFile(oldInterFile, oldInter, 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(leaf string) (string, bool) {
		o, err := exec.Command(bin, "verify", "-crl_check_all", "-CAfile", filepath.Join(dir, pki.RootCertFile),
			"-untrusted", filepath.Join(dir, pki.IntermediateFile), "-untrusted", oldInterFile,
			"-CRLfile", filepath.Join(dir, pki.RootCRLPEMFile), "-CRLfile", filepath.Join(dir, "crl.pem"), "-CRLfile", prev[0],
			filepath.Join(dir, "issued", leaf+".crt")).CombinedOutput()
		return string(o), err == nil
	}
	for _, leaf := range []string{"old", "new"} {
		if o, ok := verify(leaf); !ok {
			t.Fatalf("%s leaf during the overlap:\n%s", leaf, o)
		}
	}
	serial := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(prev[0]), "crl-"), ".pem")
	out = run(0, "revoke-intermediate", strings.ToUpper(serial), "--reason", "superseded")
	if !strings.Contains(out, "root CRL number 2") {
		t.Fatalf("revoke-intermediate output:\n%s", out)
	}
	run(1, "revoke-intermediate", serial)
	if o, ok := verify("old"); ok || !strings.Contains(o, "certificate revoked") {
		t.Fatalf("old leaf after its intermediate was revoked:\n%s", o)
	}
	if o, ok := verify("new"); !ok {
		t.Fatalf("new leaf after the old intermediate was revoked:\n%s", o)
	}
	if out := run(0, "root-crl"); !strings.Contains(out, "root CRL number 3 (1 revoked") {
		t.Fatalf("root-crl output:\n%s", out)
	}
}
