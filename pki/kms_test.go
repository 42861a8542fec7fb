package pki_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/internal/testutil/softhsmtest"
	"intransit/pki"
	"intransit/pki/keywrap"
)

// issueEachProfile issues one certificate per profile and checks each with
// openssl verify against the CA's root and intermediate. It returns the
// certificate files.
func issueEachProfile(t *testing.T, ca *pki.CA, tag string) []string {
	t.Helper()
	bin := pkitest.Openssl(t)
	out := t.TempDir()
	var files []string
	for _, profile := range pki.ProfileNames() {
		is, err := ca.Issue(context.Background(), issueReq(profile, profile+"-"+tag), pki.ECDSAP256)
		if err != nil {
			t.Fatalf("issue %s: %v", profile, err)
		}
		f, err := ca.WriteIssued(out, is)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f.Cert)
	}
	verifyAll(t, bin, ca.Dir(), files)
	return files
}

func verifyAll(t *testing.T, bin, dir string, certs []string) {
	t.Helper()
	for _, c := range certs {
		if o, err := openssl(t, bin, "verify", "-CAfile", filepath.Join(dir, pki.RootCertFile), "-untrusted", filepath.Join(dir, pki.IntermediateFile), c); err != nil || !strings.Contains(o, ": OK") {
			t.Fatalf("openssl verify %s: %v\n%s", c, err, o)
		}
	}
}

// dirState hashes every file under dir, to show that a failed operation
// changed nothing.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	st := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			st[p] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		st[p] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return st
}

func sameState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCAKeysInToken: pki init with the root and the intermediate generated
// in a SoftHSM2 token. pkcs11-tool shows both private keys sensitive and
// never extractable; a certificate of each profile verifies with openssl,
// before and after reopening; no private key material is anywhere in the
// CA directory.
func TestCAKeysInToken(t *testing.T) {
	tok := softhsmtest.New(t)
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := pki.Init(context.Background(), pki.InitOptions{
		Dir: dir, Name: "hsm",
		RootKMS:         tok.URI.WithObject("root").String(),
		IntermediateKMS: tok.URI.WithObject("intermediate").String(),
	})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	issueEachProfile(t, ca, "a")
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}

	objs := tok.Tool(t, "--list-objects", "--type", "privkey")
	blocks := strings.Split(objs, "Private Key Object")[1:]
	if len(blocks) != 2 {
		t.Fatalf("the token holds %d private keys, want 2 (root, intermediate):\n%s", len(blocks), objs)
	}
	for _, label := range []string{"label:      root", "label:      intermediate"} {
		if !strings.Contains(objs, label) {
			t.Errorf("pkcs11-tool does not list %q:\n%s", label, objs)
		}
	}
	for _, b := range blocks {
		if !strings.Contains(b, "Access:") || !strings.Contains(b, "sensitive") || !strings.Contains(b, "never extractable") {
			t.Errorf("a CA key is not sensitive and never extractable:\n%s", b)
		}
		if !strings.Contains(b, "Usage:      sign\n") {
			t.Errorf("a CA key is good for more than signing:\n%s", b)
		}
	}
	t.Logf("pkcs11-tool --list-objects --type privkey:\n%s", objs)

	if _, err := os.Stat(filepath.Join(dir, pki.KeyringFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists with both CA keys in the token (err %v)", pki.KeyringFile, err)
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("PRIVATE KEY")) && !strings.Contains(p, string(filepath.Separator)+"issued") {
			t.Errorf("%s holds a private key", p)
		}
		return nil
	})
	need, err := pki.NeedsSecret(dir)
	if err != nil || need {
		t.Fatalf("NeedsSecret = %v, %v; want false", need, err)
	}
	ca, err = pki.Open(context.Background(), dir, keywrap.Secret{}, pki.OpenOptions{})
	if err != nil {
		t.Fatalf("Open without a secret: %v", err)
	}
	defer ca.Close()
	if ca.Config().IntermediateKey == "" || ca.Config().RootKey == "" {
		t.Fatalf("ca.yaml does not record the token keys: %+v", ca.Config())
	}
	issueEachProfile(t, ca, "b")
}

// TestTokenErrorsChangeNothing: a wrong PIN, a missing module and a missing
// token each give a clear error at init and at open, and leave the disk
// and the token as they were.
func TestTokenErrorsChangeNothing(t *testing.T) {
	tok := softhsmtest.New(t)
	base := t.TempDir()
	wrongPIN := filepath.Join(base, "wrong-pin")
	if err := os.WriteFile(wrongPIN, []byte("1111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := map[string]struct{ uri, want string }{
		"wrong PIN":      {"pkcs11:token=intransit;object=k?module-path=" + tok.URI.ModulePath + "&pin-source=file:" + wrongPIN, "wrong PIN"},
		"missing module": {"pkcs11:token=intransit;object=k?module-path=/nonexistent/p11.so&pin-source=file:" + tok.URI.PINFile, "/nonexistent/p11.so"},
		"missing token":  {"pkcs11:token=gone;object=k?module-path=" + tok.URI.ModulePath + "&pin-source=file:" + tok.URI.PINFile, `no token labelled "gone"`},
	}
	for name, tc := range bad {
		t.Run("init "+name, func(t *testing.T) {
			dir := filepath.Join(base, "pki-"+strings.ReplaceAll(name, " ", "-"))
			for _, opts := range []pki.InitOptions{
				{Dir: dir, RootKMS: tc.uri, Secret: keywrap.Passphrase([]byte("p")), KDF: pkitest.FastKDF()},
				{Dir: dir, IntermediateKMS: tc.uri, Secret: keywrap.Passphrase([]byte("p")), KDF: pkitest.FastKDF()},
				{Dir: dir, MasterKMS: tc.uri},
			} {
				_, err := pki.Init(context.Background(), opts)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Init: %v, want an error saying %q", err, tc.want)
				}
				if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("the failed init left %s behind", dir)
				}
				t.Logf("init: %v", err)
			}
		})
	}
	if out := tok.Tool(t, "--list-objects"); strings.Contains(out, "Object") {
		t.Fatalf("failed inits left keys in the token:\n%s", out)
	}

	// A PKI whose intermediate is in the token; then its PIN file says a
	// wrong PIN, and then the token is not there.
	dir := filepath.Join(base, "pki")
	pinFile := filepath.Join(base, "pin")
	if err := os.WriteFile(pinFile, []byte(softhsmtest.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := tok.URI
	u.PINFile = pinFile
	ca, err := pki.Init(context.Background(), pki.InitOptions{Dir: dir, IntermediateKMS: u.WithObject("inter").String(), Secret: keywrap.Passphrase([]byte("p")), KDF: pkitest.FastKDF()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)
	if err := os.WriteFile(pinFile, []byte("1111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Open(context.Background(), dir, keywrap.Secret{}, pki.OpenOptions{}); err == nil || !strings.Contains(err.Error(), "wrong PIN") {
		t.Fatalf("Open with a wrong PIN: %v", err)
	}
	if err := os.WriteFile(pinFile, []byte(softhsmtest.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tok.TokenDir, tok.TokenDir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tok.TokenDir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = pki.Open(context.Background(), dir, keywrap.Secret{}, pki.OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "no token labelled") {
		t.Fatalf("Open with the token gone: %v", err)
	}
	t.Logf("open with the token gone: %v", err)
	if !sameState(before, dirState(t, dir)) {
		t.Fatal("failed opens changed the CA directory")
	}
}

// TestRotateMasterThroughToken moves the master key from a passphrase to
// an AES key in a token and back to a passphrase; nothing is re-issued and
// every certificate still verifies with openssl.
func TestRotateMasterThroughToken(t *testing.T) {
	bin := pkitest.Openssl(t)
	tok := softhsmtest.New(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pki")
	pass := keywrap.Passphrase([]byte("first passphrase"))
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: dir, Name: "rot", Secret: pass, KDF: pkitest.FastKDF()})
	if err != nil {
		t.Fatal(err)
	}
	certs := issueEachProfile(t, ca, "before")
	ca.Close()
	caFiles := func() []byte {
		var all []byte
		for _, f := range []string{pki.RootCertFile, pki.IntermediateFile, pki.ConfigFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	orig := caFiles()

	if err := pki.RotateMasterTo(ctx, dir, pki.MasterRotation{Old: keywrap.Passphrase([]byte("wrong")), NewKMS: tok.URI.WithObject("master").String()}); !errors.Is(err, keywrap.ErrWrongSecret) {
		t.Fatalf("rotate with a wrong passphrase: %v", err)
	}
	if out := tok.Tool(t, "--list-objects"); strings.Contains(out, "Object") {
		t.Fatalf("a refused rotation left a key in the token:\n%s", out)
	}
	if err := pki.RotateMasterTo(ctx, dir, pki.MasterRotation{Old: pass, NewKMS: tok.URI.WithObject("master").String()}); err != nil {
		t.Fatalf("passphrase -> token: %v", err)
	}
	objs := tok.Tool(t, "--list-objects", "--type", "secrkey")
	if !strings.Contains(objs, "master") || !strings.Contains(objs, "never extractable") {
		t.Fatalf("the master key is not a never-extractable key in the token:\n%s", objs)
	}
	if need, err := pki.NeedsSecret(dir); err != nil || need {
		t.Fatalf("NeedsSecret after moving to the token = %v, %v", need, err)
	}
	if ca, err := pki.Open(ctx, dir, pass, pki.OpenOptions{}); err != nil {
		t.Fatalf("Open (the passphrase is ignored now): %v", err)
	} else {
		ca.Close()
	}
	ca, err = pki.Open(ctx, dir, keywrap.Secret{}, pki.OpenOptions{})
	if err != nil {
		t.Fatalf("Open with the master in the token: %v", err)
	}
	certs = append(certs, issueEachProfile(t, ca, "token")...)
	ca.Close()

	next := keywrap.Passphrase([]byte("second passphrase"))
	if err := pki.RotateMasterTo(ctx, dir, pki.MasterRotation{New: next, KDF: pkitest.FastKDF()}); err != nil {
		t.Fatalf("token -> passphrase: %v", err)
	}
	if _, err := pki.Open(ctx, dir, pass, pki.OpenOptions{}); !errors.Is(err, keywrap.ErrWrongSecret) {
		t.Fatalf("Open with the first passphrase: %v, want ErrWrongSecret", err)
	}
	ca, err = pki.Open(ctx, dir, next, pki.OpenOptions{})
	if err != nil {
		t.Fatalf("Open with the second passphrase: %v", err)
	}
	certs = append(certs, issueEachProfile(t, ca, "after")...)
	ca.Close()
	if !bytes.Equal(orig, caFiles()) {
		t.Fatal("the rotations changed the CA certificates or ca.yaml: something was re-issued")
	}
	verifyAll(t, bin, dir, certs)
	t.Logf("%d certificates from before, during and after the rotations verify with openssl", len(certs))
}

// TestRotateIntermediateInToken: an intermediate in a token is rotated to a
// new key in the same token; the PKI then opens without a secret, issues
// from the new intermediate and still signs the old one's CRL.
func TestRotateIntermediateInToken(t *testing.T) {
	tok := softhsmtest.New(t)
	ctx := context.Background()
	secret := keywrap.Passphrase([]byte("root passphrase"))
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: dir, Name: "tr", IntermediateKMS: tok.URI.WithObject("inter").String(), Secret: secret, KDF: pkitest.FastKDF()})
	if err != nil {
		t.Fatal(err)
	}
	before := issueEachProfile(t, ca, "before")
	ca.Close()
	if _, err := pki.RotateIntermediate(ctx, dir, secret, pki.RotateOptions{}); err != nil {
		t.Fatalf("RotateIntermediate: %v", err)
	}
	objs := tok.Tool(t, "--list-objects", "--type", "privkey")
	if !strings.Contains(objs, "label:      inter\n") || !strings.Contains(objs, "label:      tr-intermediate-2") {
		t.Fatalf("the token does not hold the old and the new intermediate key:\n%s", objs)
	}
	ca, err = pki.Open(ctx, dir, keywrap.Secret{}, pki.OpenOptions{})
	if err != nil {
		t.Fatalf("Open without a secret after rotation: %v", err)
	}
	defer ca.Close()
	if ca.Intermediate().Subject.CommonName != "tr Intermediate CA 2" {
		t.Fatalf("issuing from %q", ca.Intermediate().Subject.CommonName)
	}
	issueEachProfile(t, ca, "after")
	if prev, err := ca.PreviousCRLs(ctx); err != nil || len(prev) != 1 {
		t.Fatalf("PreviousCRLs: %d, %v", len(prev), err)
	}
	bin := pkitest.Openssl(t)
	for _, c := range before {
		prev := filepath.Join(dir, pki.PreviousIntermediatesDir)
		ents, _ := os.ReadDir(prev)
		if len(ents) != 1 {
			t.Fatalf("%s holds %d certificates, want 1", prev, len(ents))
		}
		if o, err := openssl(t, bin, "verify", "-CAfile", filepath.Join(dir, pki.RootCertFile), "-untrusted", filepath.Join(prev, ents[0].Name()), c); err != nil {
			t.Fatalf("a leaf from before the rotation: %v\n%s", err, o)
		}
	}
}
