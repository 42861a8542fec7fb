// Package pkitest makes a real intransit PKI for tests (with a cheap
// argon2id cost so tests stay fast) and finds the openssl binary the tests
// check certificates with.
package pkitest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"intransit/pki"
	"intransit/pki/keywrap"
)

// Passphrase is the passphrase of CAs made by NewCA.
const Passphrase = "pkitest passphrase"

// FastKDF is a cheap argon2id cost for tests; real CAs use keywrap.DefaultKDF.
func FastKDF() keywrap.KDFParams { return keywrap.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1} }

// NewCA initialises a PKI in a fresh temporary directory and returns it
// open; it is closed when the test ends. opts.Dir, Secret and KDF are set
// by NewCA.
func NewCA(t testing.TB, opts pki.InitOptions) *pki.CA {
	t.Helper()
	opts.Dir = filepath.Join(t.TempDir(), "pki")
	opts.Secret = keywrap.Passphrase([]byte(Passphrase))
	opts.KDF = FastKDF()
	ca, err := pki.Init(context.Background(), opts)
	if err != nil {
		t.Fatalf("init PKI: %v", err)
	}
	t.Cleanup(func() { _ = ca.Close() })
	return ca
}

// Openssl returns the path of the openssl binary. When it is missing the
// test is skipped, or fails when CI=true (a skip in CI is a failure).
func Openssl(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed (apt-get install openssl); CI requires it")
		}
		t.Skip("openssl is not installed; skipping the check against the real openssl")
	}
	return p
}
