// Package kmstest is the contract suite of kms.Keys: every implementation
// runs it.
package kmstest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"

	"intransit/pki/kms"
)

// Run checks the contract of kms.Keys on keys, which must start without
// keys labelled "kmstest-*". It closes nothing.
func Run(t *testing.T, keys kms.Keys) {
	digest := sha256.Sum256([]byte("kmstest message"))
	verify := func(t *testing.T, s crypto.Signer, opts crypto.SignerOpts) {
		t.Helper()
		sig, err := s.Sign(rand.Reader, digest[:], opts)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		switch pub := s.Public().(type) {
		case *ecdsa.PublicKey:
			if !ecdsa.VerifyASN1(pub, digest[:], sig) {
				t.Fatal("the ECDSA signature does not verify under Public")
			}
		case *rsa.PublicKey:
			var err error
			if pss, ok := opts.(*rsa.PSSOptions); ok {
				err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, pss)
			} else {
				err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
			}
			if err != nil {
				t.Fatalf("the RSA signature does not verify under Public: %v", err)
			}
		default:
			t.Fatalf("Public is a %T", pub)
		}
	}

	t.Run("signers", func(t *testing.T) {
		for _, alg := range []string{"ecdsa-p256", "ecdsa-p384", "rsa-3072"} {
			label := "kmstest-" + alg
			s, err := keys.GenerateSigner(label, alg)
			if err != nil {
				t.Fatalf("GenerateSigner(%s): %v", alg, err)
			}
			verify(t, s, crypto.SHA256)
			if alg == "rsa-3072" {
				verify(t, s, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
			}
			found, err := keys.Signer(label)
			if err != nil {
				t.Fatalf("Signer(%s): %v", label, err)
			}
			if !found.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
				t.Fatalf("Signer(%s) found another key", label)
			}
			verify(t, found, crypto.SHA256)
			if _, err := keys.GenerateSigner(label, alg); !errors.Is(err, kms.ErrExists) {
				t.Fatalf("second GenerateSigner(%s): %v, want ErrExists", label, err)
			}
			again, err := keys.Signer(label)
			if err != nil || !again.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
				t.Fatalf("the refused second GenerateSigner changed the key (%v)", err)
			}
		}
	})
	t.Run("unsupported and missing", func(t *testing.T) {
		if _, err := keys.GenerateSigner("kmstest-ed", "ed25519"); !errors.Is(err, kms.ErrUnsupported) {
			t.Errorf("GenerateSigner(ed25519): %v, want ErrUnsupported", err)
		}
		if _, err := keys.Signer("kmstest-none"); !errors.Is(err, kms.ErrNotFound) {
			t.Errorf("Signer(missing): %v, want ErrNotFound", err)
		}
		if _, err := keys.Secret("kmstest-none"); !errors.Is(err, kms.ErrNotFound) {
			t.Errorf("Secret(missing): %v, want ErrNotFound", err)
		}
		if err := keys.Delete("kmstest-none"); err != nil {
			t.Errorf("Delete(missing): %v, want nil", err)
		}
	})
	t.Run("secret", func(t *testing.T) {
		s, err := keys.GenerateSecret("kmstest-aes")
		if err != nil {
			t.Fatalf("GenerateSecret: %v", err)
		}
		if _, err := keys.GenerateSecret("kmstest-aes"); !errors.Is(err, kms.ErrExists) {
			t.Fatalf("second GenerateSecret: %v, want ErrExists", err)
		}
		if _, err := keys.GenerateSigner("kmstest-aes", "ecdsa-p256"); !errors.Is(err, kms.ErrExists) {
			t.Fatalf("GenerateSigner on a secret key's label: %v, want ErrExists", err)
		}
		pt, ad := []byte("a data key of thirty-two bytes!!"), []byte("label")
		a, err := s.Seal(pt, ad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		b, err := s.Seal(pt, ad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if bytes.Equal(a, b) || bytes.Contains(a, pt) {
			t.Fatal("two seals are equal or hold the plaintext: no fresh nonce")
		}
		found, err := keys.Secret("kmstest-aes")
		if err != nil {
			t.Fatalf("Secret: %v", err)
		}
		got, err := found.Open(a, ad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, %v", got, err)
		}
		if _, err := found.Open(a, []byte("other")); err == nil {
			t.Error("Open with other additional data succeeded")
		}
		for i := range a {
			c := bytes.Clone(a)
			c[i] ^= 1
			if _, err := found.Open(c, ad); err == nil {
				t.Fatalf("Open succeeded with byte %d altered", i)
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		s, err := keys.Signer("kmstest-ecdsa-p256")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
					if err == nil && !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), digest[:], sig) {
						err = errors.New("signature does not verify")
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		for _, l := range []string{"kmstest-ecdsa-p384", "kmstest-aes"} {
			if err := keys.Delete(l); err != nil {
				t.Fatalf("Delete(%s): %v", l, err)
			}
		}
		if _, err := keys.Signer("kmstest-ecdsa-p384"); !errors.Is(err, kms.ErrNotFound) {
			t.Errorf("Signer after Delete: %v, want ErrNotFound", err)
		}
		if _, err := keys.Secret("kmstest-aes"); !errors.Is(err, kms.ErrNotFound) {
			t.Errorf("Secret after Delete: %v, want ErrNotFound", err)
		}
	})
}
