package main

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
)

// TestPKIReadOnlyCommandsAndSerials: list and show run without the master
// key; serials print as openssl prints them and are accepted in openssl's
// forms and in decimal; --ttl 0 and a non-empty directory are refused.
func TestPKIReadOnlyCommandsAndSerials(t *testing.T) {
	openssl := pkitest.Openssl(t)
	dir, pass := pkiEnv(t)
	withKey := func(args ...string) (string, int) {
		return runPKICLI(t, append([]string{"pki", "--dir", dir, "--passphrase-file", pass}, args...)...)
	}
	noKey := func(args ...string) (string, int) {
		return runPKICLI(t, append([]string{"pki", "--dir", dir}, args...)...)
	}
	if out, code := withKey("init", "--name", "ro"); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	if out, code := withKey("issue", "web", "--profile", "server", "--san", "web.example.net", "--ttl", "0"); code != 1 || !strings.Contains(out, "--ttl 0") {
		t.Fatalf("issue --ttl 0: exit %d, want 1 naming --ttl 0:\n%s", code, out)
	}
	if out, code := withKey("issue", "web", "--profile", "server", "--san", "web.example.net"); code != 0 {
		t.Fatalf("issue: exit %d\n%s", code, out)
	}
	crt := filepath.Join(dir, "issued", "web.crt")
	b, err := os.ReadFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.SubjectKeyId) == 0 {
		t.Error("the leaf has no Subject Key Identifier")
	}
	o, err := exec.Command(openssl, "x509", "-in", crt, "-noout", "-serial").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509 -serial: %v\n%s", err, o)
	}
	opensslSerial := strings.TrimPrefix(strings.TrimSpace(string(o)), "serial=")

	list, code := noKey("list")
	if code != 0 {
		t.Fatalf("list without the master key: exit %d\n%s", code, list)
	}
	if !strings.Contains(list, strings.ToLower(opensslSerial)) {
		t.Errorf("pki list does not print the serial as openssl does (%s):\n%s", opensslSerial, list)
	}
	colons := strings.Builder{}
	for i := 0; i < len(opensslSerial); i += 2 {
		if i > 0 {
			colons.WriteByte(':')
		}
		colons.WriteString(opensslSerial[i : i+2])
	}
	dec := new(big.Int).Set(cert.SerialNumber).String()
	for _, ref := range []string{opensslSerial, strings.ToLower(colons.String()), dec, pki.FormatSerial(cert.SerialNumber)} {
		out, code := noKey("show", ref)
		if code != 0 || !strings.Contains(out, "web.example.net") {
			t.Errorf("show %s without the master key: exit %d\n%s", ref, code, out)
		}
	}

	other := filepath.Join(t.TempDir(), "notes")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "todo.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runPKICLI(t, "pki", "--dir", other, "init")
	if code != 1 || !strings.Contains(out, "not empty") {
		t.Fatalf("init in a non-empty directory: exit %d, want 1 saying it is not empty:\n%s", code, out)
	}
	if ents, _ := os.ReadDir(other); len(ents) != 1 {
		t.Errorf("the refused init left %d entries in %s, want only todo.txt", len(ents), other)
	}
}
