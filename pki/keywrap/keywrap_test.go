package keywrap

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

var fastKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func TestWrapUnwrapRoundTrip(t *testing.T) {
	m, h, err := NewMaster(Passphrase([]byte("correct horse")), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("-----BEGIN PRIVATE KEY----- not really")
	w, err := m.Wrap("intermediate", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(w.Ciphertext, secret) || bytes.Contains(w.DataKey, secret) {
		t.Fatal("wrapped form contains the plaintext")
	}
	m2, err := OpenMaster(h, Passphrase([]byte("correct horse")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m2.Unwrap(w)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, secret) {
		t.Fatalf("unwrap = %q, want %q", got, secret)
	}
}

func TestWrongSecretRefused(t *testing.T) {
	_, h, err := NewMaster(Passphrase([]byte("right")), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := RawKey(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Secret{
		"wrong passphrase":                Passphrase([]byte("wrong")),
		"raw key for a passphrase master": raw,
	} {
		if _, err := OpenMaster(h, s); !errors.Is(err, ErrWrongSecret) {
			t.Errorf("%s: err = %v, want ErrWrongSecret", name, err)
		}
	}
	if _, err := OpenMaster(h, Passphrase(nil)); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty passphrase: err = %v, want it named", err)
	}
}

func TestUnwrapRefusesTamperingAndOtherLabels(t *testing.T) {
	m, _, err := NewMaster(Passphrase([]byte("p")), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	w, err := m.Wrap("root", []byte("key bytes"))
	if err != nil {
		t.Fatal(err)
	}
	relabelled := w
	relabelled.Label = "intermediate"
	if _, err := m.Unwrap(relabelled); err == nil {
		t.Error("unwrap under another label succeeded")
	}
	flipped := w
	flipped.Ciphertext = append([]byte(nil), w.Ciphertext...)
	flipped.Ciphertext[len(flipped.Ciphertext)-1] ^= 1
	if _, err := m.Unwrap(flipped); err == nil {
		t.Error("unwrap of altered ciphertext succeeded")
	}
	other, _, err := NewMaster(Passphrase([]byte("p")), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Unwrap(w); !errors.Is(err, ErrWrongSecret) {
		t.Errorf("unwrap under another master (same passphrase, new salt): err = %v, want ErrWrongSecret", err)
	}
}

func TestKeyringRotate(t *testing.T) {
	m, h, err := NewMaster(Passphrase([]byte("old")), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := m.Wrap("root", []byte("root key"))
	w2, _ := m.Wrap("intermediate", []byte("intermediate key"))
	kr := &Keyring{Master: h, Keys: []Wrapped{w1, w2}}
	raw, err := RawKey(bytes.Repeat([]byte{9}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	next, nm, err := kr.Rotate(m, raw, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	b, err := next.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseKeyring(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parsed.Unlock(Passphrase([]byte("old"))); !errors.Is(err, ErrWrongSecret) {
		t.Errorf("old passphrase after rotation: err = %v, want ErrWrongSecret", err)
	}
	unlocked, err := parsed.Unlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, label := range []string{"root", "intermediate"} {
		w, err := parsed.Key(label)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.Ciphertext, kr.Keys[i].Ciphertext) {
			t.Errorf("%s: protected key ciphertext changed on rotation", label)
		}
		pt, err := unlocked.Unwrap(w)
		if err != nil {
			t.Fatal(err)
		}
		if want := label + " key"; string(pt) != want {
			t.Errorf("%s: unwrap = %q, want %q", label, pt, want)
		}
	}
	if _, err := nm.Unwrap(w1); !errors.Is(err, ErrWrongSecret) {
		t.Errorf("new master opened a key wrapped only under the old one: %v", err)
	}
	if _, _, err := kr.Rotate(nm, raw, fastKDF); !errors.Is(err, ErrWrongSecret) {
		t.Errorf("rotate with a master that does not open the keyring: err = %v", err)
	}
}

func TestParseRawKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, KeySize)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"raw", key, true},
		{"hex with newline", []byte(hex.EncodeToString(key) + "\n"), true},
		{"base64", []byte(base64.StdEncoding.EncodeToString(key)), true},
		{"short", key[:16], false},
		{"hex too short", []byte(hex.EncodeToString(key[:31])), false},
	} {
		s, err := ParseRawKey(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if tc.ok && !bytes.Equal(s.value, key) {
			t.Errorf("%s: parsed a different key", tc.name)
		}
	}
	if s := Passphrase([]byte("hunter2")).String(); strings.Contains(s, "hunter2") {
		t.Errorf("Secret.String leaks the value: %s", s)
	}
}

func TestParseKeyringRefusesBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      "garbage",
		"unknown field": `{"master":{"version":1,"kind":"key","check":""},"keys":[],"extra":1}`,
		"bad version":   `{"master":{"version":2,"kind":"key","check":""},"keys":[]}`,
		"duplicate":     `{"master":{"version":1,"kind":"key","check":""},"keys":[{"version":1,"label":"a"},{"version":1,"label":"a"}]}`,
	} {
		if _, err := ParseKeyring([]byte(in)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// gcmSealer is a Sealer over an in-memory AES key, standing in for a token
// key in tests of this package (the token itself is tested in pki/kms).
type gcmSealer struct{ key []byte }

func (g gcmSealer) Seal(pt, ad []byte) ([]byte, error) { return seal(g.key, pt, ad) }
func (g gcmSealer) Open(ct, ad []byte) ([]byte, error) { return open(g.key, ct, ad) }

func TestTokenMasterRotationBothWays(t *testing.T) {
	kdf := KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	pass := Passphrase([]byte("correct horse"))
	m, h, err := NewMaster(pass, kdf)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("the intermediate's PKCS#8 bytes")
	w, err := m.Wrap("intermediate", secret)
	if err != nil {
		t.Fatal(err)
	}
	kr := &Keyring{Master: h, Keys: []Wrapped{w}}
	tokenKey := gcmSealer{key: bytes.Repeat([]byte{7}, KeySize)}
	tm, th, err := NewTokenMaster(tokenKey, "pkcs11:token=t;object=master")
	if err != nil {
		t.Fatal(err)
	}
	toToken, err := kr.RotateTo(m, tm, th)
	if err != nil {
		t.Fatalf("RotateTo token: %v", err)
	}
	if toToken.Keys[0].Ciphertext == nil || !bytes.Equal(toToken.Keys[0].Ciphertext, w.Ciphertext) {
		t.Fatal("rotation changed the protected key's ciphertext")
	}
	if _, err := toToken.Unlock(pass); err == nil || !strings.Contains(err.Error(), "PKCS#11 token") {
		t.Fatalf("passphrase on a token keyring: %v, want an error naming the token", err)
	}
	if _, err := OpenTokenMaster(toToken.Master, gcmSealer{key: bytes.Repeat([]byte{8}, KeySize)}); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("another token key: %v, want ErrWrongSecret", err)
	}
	tm2, err := OpenTokenMaster(toToken.Master, tokenKey)
	if err != nil {
		t.Fatalf("OpenTokenMaster: %v", err)
	}
	got, err := tm2.Unwrap(toToken.Keys[0])
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("unwrap under the token master: %q, %v", got, err)
	}
	if _, err := toToken.RotateTo(m, tm, th); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("rotating a token keyring with the old passphrase master: %v, want ErrWrongSecret", err)
	}
	back, nm, err := toToken.Rotate(tm2, Passphrase([]byte("new passphrase")), kdf)
	if err != nil {
		t.Fatalf("Rotate token -> passphrase: %v", err)
	}
	defer nm.Wipe()
	m3, err := back.Unlock(Passphrase([]byte("new passphrase")))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m3.Unwrap(back.Keys[0]); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("unwrap after token -> passphrase: %q, %v", got, err)
	}
}
