package main

import (
	"os"
	"strings"
	"testing"
)

// TestPKIRefusesAnOpenPassphraseFile: a passphrase file that group or
// others can read is refused before the PKI is touched, with the file, its
// mode and the fix in the message.
func TestPKIRefusesAnOpenPassphraseFile(t *testing.T) {
	dir, pass := pkiEnv(t)
	if err := os.Chmod(pass, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runPKICLI(t, "pki", "init", "--dir", dir, "--name", "acme", "--passphrase-file", pass)
	if code != exitCannot {
		t.Fatalf("exit %d, want %d:\n%s", code, exitCannot, out)
	}
	for _, want := range []string{pass, "mode 0644", "chmod 600 " + pass} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not name %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the PKI directory was created (%v) although the passphrase was refused", err)
	}
}
