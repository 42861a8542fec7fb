package main

import (
	"strings"
	"testing"

	"intransit/internal/testutil/softhsmtest"
)

// TestPKICLIWithToken: pki init with both CA keys in a SoftHSM2 token needs
// no master secret, and issue and crl work without one; a PKI with its
// master key moved into the token by rotate-master --new-kms likewise, and
// rotate-master moves it back to a passphrase file.
func TestPKICLIWithToken(t *testing.T) {
	tok := softhsmtest.New(t)
	dir, pass := pkiEnv(t)
	uri := func(obj string) string { return tok.URI.WithObject(obj).String() }
	run := func(want int, args ...string) string {
		t.Helper()
		out, code := runPKICLI(t, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s", args, code, want, out)
		}
		return out
	}
	out := run(0, "pki", "--dir", dir, "init", "--root-kms", uri("cli-root"), "--intermediate-kms", uri("cli-inter"))
	if !strings.Contains(out, "never extractable") {
		t.Errorf("init output does not say the keys are in the token:\n%s", out)
	}
	run(0, "pki", "--dir", dir, "issue", "gw1", "--profile", "gateway", "--san", "gw1.example.net")
	run(0, "pki", "--dir", dir, "crl")
	if out := run(1, "pki", "--dir", dir, "rotate-master", "--new-passphrase-file", pass); !strings.Contains(out, "no master key to rotate") {
		t.Errorf("rotate-master with both CA keys in the token:\n%s", out)
	}

	dir2 := dir + "2"
	run(0, "pki", "--dir", dir2, "--passphrase-file", pass, "init", "--name", "soft")
	run(0, "pki", "--dir", dir2, "--passphrase-file", pass, "rotate-master", "--new-kms", uri("cli-master"))
	run(0, "pki", "--dir", dir2, "issue", "web", "--profile", "server", "--san", "web.example.net")
	run(0, "pki", "--dir", dir2, "rotate-master", "--new-passphrase-file", pass)
	run(2, "pki", "--dir", dir2, "crl")
	run(0, "pki", "--dir", dir2, "--passphrase-file", pass, "crl")
}
