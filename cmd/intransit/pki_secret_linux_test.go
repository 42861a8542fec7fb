package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"intransit/pki/keywrap"
)

// openPTY returns the controller and terminal ends of a new pseudo-terminal.
func openPTY(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	fail := func(err error) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("no pseudo-terminal (/dev/ptmx): %v", err)
		}
		t.Skipf("no pseudo-terminal (/dev/ptmx), skipping the passphrase prompt test: %v", err)
	}
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		fail(err)
	}
	t.Cleanup(func() { ctl.Close() })
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		fail(err)
	}
	n, err := unix.IoctlGetUint32(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		fail(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		fail(err)
	}
	t.Cleanup(func() { tty.Close() })
	return ctl, tty
}

// TestSecretPrompt types passphrases into a real pseudo-terminal: the
// prompt is used only when no other source is given, a new master key is
// asked twice, and a mismatch is refused.
func TestSecretPrompt(t *testing.T) {
	kdf := keywrap.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	_, header, err := keywrap.NewMaster(keywrap.Passphrase([]byte("typed secret")), kdf)
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name    string
		typed   string
		confirm bool
		wantErr string
	}{
		{"once", "typed secret\n", false, ""},
		{"confirmed", "typed secret\ntyped secret\n", true, ""},
		{"mismatch", "typed secret\nsomething else\n", true, "differ"},
		{"empty", "\n", false, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl, tty := openPTY(t)
			var prompts bytes.Buffer
			src := secretSource{env: noEnv, stdin: tty, stderr: &prompts}
			// The terminal holds typed lines until they are read, one by one.
			if _, err := ctl.Write([]byte(tc.typed)); err != nil {
				t.Fatal(err)
			}
			sec, err := src.resolve("PKI master key", tc.confirm, true)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keywrap.OpenMaster(header, sec); err != nil {
				t.Fatalf("the typed passphrase does not open the master: %v", err)
			}
			if !strings.Contains(prompts.String(), "Passphrase for the PKI master key") {
				t.Fatalf("prompt %q", prompts.String())
			}
		})
	}

	_, tty := openPTY(t)
	src := secretSource{env: func(k string) string {
		if k == envPKIPassphrase {
			return "typed secret"
		}
		return ""
	}, stdin: tty, stderr: &bytes.Buffer{}}
	sec, err := src.resolve("PKI master key", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keywrap.OpenMaster(header, sec); err != nil {
		t.Fatalf("environment passphrase not used ahead of the prompt: %v", err)
	}
}
