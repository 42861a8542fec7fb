package keywrap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSourceLoad(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte{7}, KeySize)
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		// Chmod, so the umask does not decide the mode under test.
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := file("master.key", hex.EncodeToString(raw)+"\n", 0o600)
	passFile := file("pass", "correct horse\r\n", 0o600)
	readOnly := file("pass-0400", "read only\n", 0o400)
	worldPass := file("pass-0644", "seen by all\n", 0o644)
	groupPass := file("pass-0640", "seen by the group\n", 0o640)
	worldKey := file("key-0604", hex.EncodeToString(raw), 0o604)
	groupWritable := file("pass-0620", "changed by the group\n", 0o620)
	empty := file("empty", "\n", 0o600)
	badKey := file("bad.key", "not a key", 0o600)
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	for _, tc := range []struct {
		name     string
		src      Source
		kind     SecretKind
		value    string
		errHas   []string
		noSecret bool
	}{
		{name: "key file", src: Source{KeyFile: keyFile}, kind: KindRawKey, value: string(raw)},
		{name: "passphrase file without its newline", src: Source{PassphraseFile: passFile}, kind: KindPassphrase, value: "correct horse"},
		{name: "read-only file", src: Source{PassphraseFile: readOnly}, kind: KindPassphrase, value: "read only"},
		{name: "file ahead of the environment", src: Source{PassphraseFile: passFile, Getenv: env(map[string]string{EnvKey: hex.EncodeToString(raw)})}, kind: KindPassphrase, value: "correct horse"},
		{name: "environment key ahead of passphrase", src: Source{Getenv: env(map[string]string{EnvKey: hex.EncodeToString(raw), EnvPassphrase: "p"})}, kind: KindRawKey, value: string(raw)},
		{name: "environment passphrase", src: Source{Getenv: env(map[string]string{EnvPassphrase: "from env"})}, kind: KindPassphrase, value: "from env"},
		{name: "world-readable passphrase file", src: Source{PassphraseFile: worldPass}, errHas: []string{"passphrase file " + worldPass, "mode 0644", "chmod 600 " + worldPass}},
		{name: "group-readable passphrase file", src: Source{PassphraseFile: groupPass}, errHas: []string{groupPass, "mode 0640", "group or others"}},
		{name: "group-writable passphrase file", src: Source{PassphraseFile: groupWritable}, errHas: []string{groupWritable, "mode 0620"}},
		{name: "world-readable key file", src: Source{KeyFile: worldKey}, errHas: []string{"master key file " + worldKey, "mode 0604", "chmod 600"}},
		{name: "both files", src: Source{KeyFile: keyFile, PassphraseFile: passFile}, errHas: []string{"not both"}},
		{name: "empty passphrase", src: Source{PassphraseFile: empty}, errHas: []string{empty, "empty"}},
		{name: "bad key file", src: Source{KeyFile: badKey}, errHas: []string{badKey, "hex digits"}},
		{name: "missing file", src: Source{PassphraseFile: filepath.Join(dir, "missing")}, errHas: []string{filepath.Join(dir, "missing")}},
		{name: "bad environment key", src: Source{Getenv: env(map[string]string{EnvKey: "short"})}, errHas: []string{EnvKey}},
		{name: "nothing", src: Source{Getenv: env(nil)}, noSecret: true},
		{name: "environment not consulted", src: Source{}, noSecret: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := tc.src.Load()
			switch {
			case tc.noSecret:
				if !errors.Is(err, ErrNoSecret) {
					t.Fatalf("err = %v, want ErrNoSecret", err)
				}
			case tc.errHas != nil:
				if err == nil {
					t.Fatalf("loaded a %s, want an error", sec.Kind())
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if sec.Kind() != tc.kind || string(sec.value) != tc.value {
					t.Fatalf("got %s %q, want %s %q", sec.Kind(), sec.value, tc.kind, tc.value)
				}
			}
		})
	}
}
