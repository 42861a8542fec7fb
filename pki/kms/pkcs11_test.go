package kms_test

import (
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/softhsmtest"
	"intransit/pki/kms"
	"intransit/pki/kms/kmstest"
)

func TestTokenContract(t *testing.T) {
	tok := softhsmtest.New(t)
	keys, err := kms.Open(tok.URI)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer keys.Close()
	kmstest.Run(t, keys)
	objs := tok.Tool(t, "--list-objects", "--type", "privkey")
	if !strings.Contains(objs, "kmstest-ecdsa-p256") || !strings.Contains(objs, "never extractable") {
		t.Fatalf("pkcs11-tool does not show the key never extractable:\n%s", objs)
	}
	for _, blk := range strings.Split(objs, "Private Key Object")[1:] {
		if !strings.Contains(blk, "sensitive") || !strings.Contains(blk, "never extractable") {
			t.Errorf("a private key is not sensitive and never extractable:\n%s", blk)
		}
		if !strings.Contains(blk, "Usage:      sign\n") {
			t.Errorf("a private key is good for more than signing:\n%s", blk)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tok := softhsmtest.New(t)
	wrongPIN := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(wrongPIN, []byte("0000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openPIN := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(openPIN, []byte(softhsmtest.PIN), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		uri  kms.URI
		want string
	}{
		{"wrong PIN", kms.URI{Token: tok.URI.Token, ModulePath: tok.URI.ModulePath, PINFile: wrongPIN}, "wrong PIN"},
		{"PIN file readable by others", kms.URI{Token: tok.URI.Token, ModulePath: tok.URI.ModulePath, PINFile: openPIN}, "chmod"},
		{"missing module", kms.URI{Token: tok.URI.Token, ModulePath: "/nonexistent/libpkcs11.so", PINFile: tok.URI.PINFile}, "PKCS#11 module /nonexistent/libpkcs11.so"},
		{"missing token", kms.URI{Token: "no-such-token", ModulePath: tok.URI.ModulePath, PINFile: tok.URI.PINFile}, `no token labelled "no-such-token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := kms.Open(tc.uri)
			if err == nil {
				k.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want it to say %q", err, tc.want)
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

func TestParseURI(t *testing.T) {
	u, err := kms.ParseURI("pkcs11:token=intransit;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/intransit/pin")
	if err != nil {
		t.Fatal(err)
	}
	want := kms.URI{Token: "intransit", Object: "root", ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINFile: "/etc/intransit/pin"}
	if u != want {
		t.Fatalf("ParseURI = %+v, want %+v", u, want)
	}
	if back, err := kms.ParseURI(u.String()); err != nil || back != u {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if u, err := kms.ParseURI("pkcs11:token=my%20hsm;object=a%3Bb?module-path=/m.so&pin-source=/p"); err != nil || u.Token != "my hsm" || u.Object != "a;b" {
		t.Fatalf("percent-encoding: %+v, %v", u, err)
	}
	for in, want := range map[string]string{
		"file:/x": "must start with pkcs11:",
		"pkcs11:object=root?module-path=/m.so&pin-source=file:/p":       "token=LABEL is required",
		"pkcs11:token=t?pin-source=file:/p":                             "module-path",
		"pkcs11:token=t?module-path=/m.so":                              "pin-source",
		"pkcs11:token=t?module-path=/m.so&pin-value=1234":               "pin-value puts the PIN on the command line",
		"pkcs11:token=t;slot-id=1?module-path=/m.so&pin-source=file:/p": `"slot-id" is not supported`,
		"pkcs11:token=t?module-path=/m.so&pin-source=relative":          "file:/absolute/path",
		"pkcs11:token=t;type=cert?module-path=/m.so&pin-source=file:/p": "only private and secret-key",
	} {
		if _, err := kms.ParseURI(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURI(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}

// TestClosedTokenErrorsNotPanics: keys of a token that is gone (closed
// here) give errors on use, never a panic: crypto11 panics inside
// cipher.AEAD's Seal, which the sealer turns into an error.
func TestClosedTokenErrorsNotPanics(t *testing.T) {
	tok := softhsmtest.New(t)
	keys, err := kms.Open(tok.URI)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.GenerateSigner("gone-signer", "ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	aes, err := keys.GenerateSecret("gone-aes")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := aes.Seal([]byte("data key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Close(); err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	if _, err := s.Sign(nil, digest, crypto.SHA256); err == nil {
		t.Error("Sign with a closed token succeeded")
	} else {
		t.Logf("sign: %v", err)
	}
	if _, err := aes.Seal([]byte("data key"), nil); err == nil {
		t.Error("Seal with a closed token succeeded")
	} else {
		t.Logf("seal: %v", err)
	}
	if _, err := aes.Open(sealed, nil); err == nil {
		t.Error("Open with a closed token succeeded")
	}
}
