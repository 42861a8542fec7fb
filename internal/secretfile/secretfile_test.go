package secretfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode    os.FileMode
		tooOpen bool
	}{
		{0o600, false},
		{0o400, false},
		{0o700, false},
		{0o640, true},
		{0o644, true},
		{0o604, true},
		{0o620, true},
		{0o602, true},
		{0o610, true},
		{0o666, true},
	} {
		path := filepath.Join(dir, "secret-"+tc.mode.String())
		if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Chmod, so the umask does not decide the mode under test.
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		b, err := Read("passphrase file", path)
		if !tc.tooOpen {
			if err != nil || string(b) != "s3cret\n" {
				t.Errorf("mode %04o: %q, %v", uint32(tc.mode), b, err)
			}
			continue
		}
		if !errors.Is(err, ErrTooOpen) {
			t.Errorf("mode %04o: err = %v, want ErrTooOpen", uint32(tc.mode), err)
			continue
		}
		for _, want := range []string{"passphrase file " + path, "chmod 600 " + path} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("mode %04o: error %q does not name %q", uint32(tc.mode), err, want)
			}
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("mode %04o: the error shows the secret: %v", uint32(tc.mode), err)
		}
	}
	if _, err := Read("WireGuard key", filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read("master key file", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: err = %v", err)
	}
}
