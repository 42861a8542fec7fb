package netlab

import (
	"os"
	"os/exec"
	"testing"
)

// RequireRoot stops the test unless it runs as root: with one Skip line
// normally, and with a Fatal when the environment variable CI is "true",
// because a skipped end-to-end test in CI would hide a broken run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	const why = "netlab: needs root (network namespaces, veth, TUN); run as root"
	if os.Getenv("CI") == "true" {
		t.Fatal(why + " (CI=true: a skip would hide this test)")
	}
	t.Skip(why)
}

// RequireTools stops the test unless every named command is on PATH: with a
// Skip normally and a Fatal when CI=true.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			msg := "netlab: needs the " + n + " command, which is not on PATH"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg + " (CI=true: a skip would hide this test)")
			}
			t.Skip(msg)
		}
	}
}
