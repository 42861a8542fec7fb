package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
)

// runPKICLI runs the intransit command line in-process and returns its output
// and exit code.
func runPKICLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		out.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), exitCode(err)
}

// pkiEnv clears the PKI environment so that only flags count, and returns
// a PKI directory path and a passphrase file.
func pkiEnv(t *testing.T) (dir, passFile string) {
	t.Helper()
	for _, v := range []string{envPKIDir, envPKIKey, envPKIPassphrase} {
		t.Setenv(v, "")
	}
	base := t.TempDir()
	passFile = filepath.Join(base, "pass")
	if err := os.WriteFile(passFile, []byte("a fine passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(base, "pki"), passFile
}

func writePKICSR(t *testing.T, path string, key any, cn string, dns ...string) {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPKICommandsEndToEnd(t *testing.T) {
	dir, pass := pkiEnv(t)
	p := []string{"--dir", dir, "--passphrase-file", pass}
	pkiCmd := func(args ...string) (string, int) {
		return runPKICLI(t, append(append([]string{"pki"}, args...), p...)...)
	}
	mustOK := func(out string, code int) string {
		t.Helper()
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		return out
	}
	mustOK(pkiCmd("init", "--name", "acme", "--permitted-dns", "example.net"))
	out := mustOK(pkiCmd("issue", "gw1", "--profile", "gateway", "--san", "gw1.example.net", "--san", "192.0.2.7", "--ttl", "30d"))
	if !strings.Contains(out, filepath.Join(dir, "issued", "gw1.key")) {
		t.Fatalf("issue output does not name the key file:\n%s", out)
	}
	if !strings.Contains(out, "identity intransit://acme/gateway/gw1 (the other gateway's remotes[].identity)") {
		t.Fatalf("issue output does not print the identity a peer names:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "issued", "gw1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("gw1.key: %v, %v", fi, err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(t.TempDir(), "web.csr")
	writePKICSR(t, csr, key, "web", "web.example.net")
	out = mustOK(pkiCmd("sign", "--csr", csr, "--profile", "server", "--out", filepath.Join(t.TempDir(), "web")))
	if !strings.Contains(out, `to "web"`) || strings.Contains(out, ".key") || !strings.Contains(out, "identity intransit://acme/server/web") {
		t.Fatalf("sign output:\n%s", out)
	}
	var list []certView
	out = mustOK(pkiCmd("list", "--output", "json"))
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --output json is not JSON: %v\n%s", err, out)
	}
	if len(list) != 2 || list[0].Name != "gw1" || list[1].Name != "web" || list[1].DNSNames[0] != "web.example.net" {
		t.Fatalf("list: %+v", list)
	}
	out = mustOK(pkiCmd("list", "--expiring-within", "31d"))
	if !strings.Contains(out, "gw1") || strings.Contains(out, "web") {
		t.Fatalf("list --expiring-within 31d:\n%s", out)
	}

	var shown []certView
	if err := json.Unmarshal([]byte(mustOK(pkiCmd("show", list[1].Serial, "--output", "json"))), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown) != 1 || shown[0].Name != "web" || !strings.HasPrefix(shown[0].PEM, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("show: %+v", shown)
	}
	var signed issuedView
	out = mustOK(pkiCmd("sign", "--csr", csr, "--profile", "server", "--name", "web2", "--out", t.TempDir(), "--output", "json"))
	if err := json.Unmarshal([]byte(out), &signed); err != nil {
		t.Fatalf("sign --output json is not JSON: %v\n%s", err, out)
	}
	if signed.Identity != "intransit://acme/server/web2" || signed.Name != "web2" || signed.Key != "" || signed.Chain == "" {
		t.Fatalf("sign --output json: %+v", signed)
	}

	mustOK(pkiCmd("revoke", "gw1", "--reason", "keyCompromise"))
	out = mustOK(pkiCmd("list", "--status", "revoked"))
	if !strings.Contains(out, "gw1") || strings.Contains(out, "web") {
		t.Fatalf("list --status revoked:\n%s", out)
	}
	out = mustOK(pkiCmd("crl"))
	if !strings.Contains(out, "CRL number 1 (1 revoked)") {
		t.Fatalf("crl:\n%s", out)
	}
	der, err := os.ReadFile(filepath.Join(dir, "crl.der"))
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil || len(rl.RevokedCertificateEntries) != 1 {
		t.Fatalf("crl.der: %v, %v", rl, err)
	}
	if out = mustOK(pkiCmd("crl")); !strings.Contains(out, "CRL number 2") {
		t.Fatalf("second crl:\n%s", out)
	}

	keyFile := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(bytes.Repeat([]byte{5}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustOK(pkiCmd("rotate-master", "--new-key-file", keyFile))
	if _, code := pkiCmd("crl"); code != exitCannot {
		t.Fatalf("old passphrase after rotate-master: exit %d, want %d", code, exitCannot)
	}
	mustOK(runPKICLI(t, "pki", "crl", "--dir", dir, "--key-file", keyFile))
	t.Setenv(envPKIKey, hex.EncodeToString(bytes.Repeat([]byte{5}, 32)))
	t.Setenv(envPKIDir, dir)
	mustOK(runPKICLI(t, "pki", "crl"))
}

func TestPKICommandRefusalsAndErrors(t *testing.T) {
	dir, pass := pkiEnv(t)
	p := []string{"--dir", dir, "--passphrase-file", pass}
	pkiCmd := func(args ...string) (string, int) {
		return runPKICLI(t, append(append([]string{"pki"}, args...), p...)...)
	}
	if out, code := pkiCmd("list"); code != exitCannot || !strings.Contains(out, "no PKI directory") {
		t.Fatalf("list without a PKI: exit %d\n%s", code, out)
	}
	if out, code := pkiCmd("init"); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakCSR := filepath.Join(t.TempDir(), "weak.csr")
	writePKICSR(t, weakCSR, rsaKey, "weak", "weak.example.net")
	wrongPass := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrongPass, []byte("not it"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"init on an existing PKI", []string{"init"}, exitFinding, "already exists"},
		{"unknown profile", []string{"issue", "x", "--profile", "operator"}, exitFinding, `unknown profile "operator"`},
		{"TTL above the maximum", []string{"issue", "c", "--profile", "client", "--ttl", "365d"}, exitFinding, "above the maximum"},
		{"weak key type", []string{"issue", "s", "--profile", "server", "--san", "s.example.net", "--key-type", "rsa-1024"}, exitFinding, "unknown key type"},
		{"CSR with RSA-1024", []string{"sign", "--csr", weakCSR, "--profile", "server"}, exitFinding, "1024 bits is below the minimum of 2048"},
		{"URI SAN", []string{"issue", "s", "--profile", "server", "--san", "https://x"}, exitFinding, "only DNS names and IP addresses"},
		{"revoke of an unknown serial", []string{"revoke", "0123456789abcdef0123", "--reason", "superseded"}, exitFinding, "no certificate has serial or name"},
		{"unknown reason", []string{"revoke", "x", "--reason", "boredom"}, exitFinding, "unknown revocation reason"},
		{"missing CSR file", []string{"sign", "--csr", "/nonexistent.csr", "--profile", "server"}, exitCannot, "nonexistent.csr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := pkiCmd(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
		})
	}
	if out, code := runPKICLI(t, "pki", "crl", "--dir", dir, "--passphrase-file", wrongPass); code != exitCannot || !strings.Contains(out, "wrong passphrase") {
		t.Fatalf("wrong passphrase: exit %d\n%s", code, out)
	}
	if out, code := runPKICLI(t, "pki", "crl", "--dir", dir); code != exitCannot || !strings.Contains(out, "--passphrase-file") {
		t.Fatalf("no secret and no terminal: exit %d\n%s", code, out)
	}
	db := filepath.Join(dir, "pki.db")
	if err := os.WriteFile(db, bytes.Repeat([]byte("corrupt!"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := pkiCmd("list"); code != exitCannot || !strings.Contains(out, db) {
		t.Fatalf("corrupt store: exit %d, want %d naming %s:\n%s", code, exitCannot, db, out)
	}
}

func TestDemo(t *testing.T) {
	pkitest.Openssl(t)
	dir := t.TempDir()
	out, code := runPKICLI(t, "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s", code, out)
	}
	for _, want := range []string{"gw1.crt: OK", "web.crt: OK", "alice.crt: OK", "certificate revoked", "refused, as it should be", "Verified chain on disk: " + filepath.Join(dir, "issued", "gw1.crt")} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if out, code := runPKICLI(t, "demo", "--dir", dir); code != exitFinding || !strings.Contains(out, "already exists") {
		t.Fatalf("demo in a used directory: exit %d\n%s", code, out)
	}
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]string{"30d": "720h0m0s", "72h": "72h0m0s", "0d": "0s", "90m": "1h30m0s"} {
		d, err := parseDays(in)
		if err != nil || d.String() != want {
			t.Errorf("parseDays(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"d", "-3d", "3 days", "1y"} {
		if _, err := parseDays(in); err == nil {
			t.Errorf("parseDays(%q) accepted", in)
		}
	}
}
