// Package softhsmtest makes a SoftHSM2 token for a test: its own
// configuration and token directory in a temporary directory removed when
// the test ends, a PIN file of mode
// 0600, and the RFC 7512 URI that names it. SOFTHSM2_CONF is set for the
// test (so tests using it cannot call t.Parallel).
package softhsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"intransit/pki/kms"
)

// PIN and SOPIN are the PINs of tokens made by New.
const (
	PIN   = "4711-test"
	SOPIN = "so-4711-test"
	// Label is the token label.
	Label = "intransit"
)

// Token is a fresh SoftHSM2 token.
type Token struct {
	// URI names the token, its module and its PIN file (no object).
	URI kms.URI
	// Conf is the SoftHSM2 configuration file; TokenDir holds the token's
	// own store (the only place its keys are).
	Conf, TokenDir string
}

// Module returns the SoftHSM2 module path. When it is missing the test is
// skipped, or fails when CI=true (CI installs softhsm2).
func Module(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("SoftHSM2 is not installed (apt-get install softhsm2 opensc); CI requires it")
	}
	t.Skip("SoftHSM2 is not installed (apt-get install softhsm2 opensc)")
	return ""
}

// New makes a token labelled Label in a new token directory.
func New(t testing.TB) Token {
	t.Helper()
	mod := Module(t)
	// Not t.TempDir(): its name holds the test's, and SoftHSM2's
	// configuration parser cuts a value at any '=' (as in
	// "BenchmarkX/key=softhsm").
	base, err := os.MkdirTemp("", "softhsmtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	tok := Token{Conf: filepath.Join(base, "softhsm2.conf"), TokenDir: filepath.Join(base, "tokens")}
	if err := os.Mkdir(tok.TokenDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := "directories.tokendir = " + tok.TokenDir + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(tok.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", Label, "--pin", PIN, "--so-pin", SOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	pinFile := filepath.Join(base, "pin")
	if err := os.WriteFile(pinFile, []byte(PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok.URI = kms.URI{Token: Label, ModulePath: mod, PINFile: pinFile}
	return tok
}

// Tool runs pkcs11-tool on the token, logged in, and returns its output.
// The test fails when pkcs11-tool (opensc) is missing in CI, and is
// skipped outside CI.
func (tok Token) Tool(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("pkcs11-tool"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pkcs11-tool is not installed (apt-get install opensc); CI requires it")
		}
		t.Skip("pkcs11-tool is not installed (apt-get install opensc)")
	}
	cmd := exec.Command("pkcs11-tool", append([]string{"--module", tok.URI.ModulePath, "--token-label", Label, "--login", "--pin", PIN}, args...)...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+tok.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool %v: %v\n%s", args, err, out)
	}
	return string(out)
}
