package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"intransit/internal/atomicfile"
	"intransit/pki/keywrap"
	"intransit/pki/store"
)

// Files of the root's revocation list.
const (
	// RootCRLFile is the CRL the root signs for its intermediates (DER);
	// RootCRLPEMFile is the same as PEM.
	RootCRLFile    = "root.crl"
	RootCRLPEMFile = "root.crl.pem"
)

// rootCRLValidity is the span of a root CRL: the root key is offline, so
// its CRL is re-signed rarely (pki root-crl), at the latest a year on.
const rootCRLValidity = 365 * 24 * time.Hour

// rootCRLURL is where intermediates say their revocation is published:
// the configured root CRL URL, else root.crl beside the leaves' CRL URL.
func rootCRLURL(cfg Config) string {
	if cfg.RootCRLURL != "" || cfg.CRLURL == "" {
		return cfg.RootCRLURL
	}
	base, err := url.Parse(cfg.CRLURL)
	if err != nil {
		return ""
	}
	return base.ResolveReference(&url.URL{Path: RootCRLFile}).String()
}

// signRootCRL signs the root's CRL with the entries of the current one in
// dir (if any) plus add, numbered one above it, and writes it as DER and
// PEM.
func signRootCRL(dir string, root *x509.Certificate, key crypto.Signer, add []x509.RevocationListEntry) (*x509.RevocationList, error) {
	number := big.NewInt(1)
	var entries []x509.RevocationListEntry
	if cur, err := readRootCRL(dir, root); err == nil {
		entries = cur.RevokedCertificateEntries
		number = new(big.Int).Add(cur.Number, big.NewInt(1))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	entries = append(entries, add...)
	now := time.Now().UTC().Truncate(time.Second)
	next := now.Add(rootCRLValidity)
	if next.After(root.NotAfter) {
		next = root.NotAfter
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: number, ThisUpdate: now, NextUpdate: next, RevokedCertificateEntries: entries,
	}, root, key)
	if err != nil {
		return nil, fmt.Errorf("sign root CRL: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, RootCRLFile), der, 0o644); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, RootCRLPEMFile), PEMCRL(der), 0o644); err != nil {
		return nil, err
	}
	return x509.ParseRevocationList(der)
}

// readRootCRL reads and checks the root's CRL in dir.
func readRootCRL(dir string, root *x509.Certificate) (*x509.RevocationList, error) {
	path := filepath.Join(dir, RootCRLFile)
	der, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := rl.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("%s is not signed by the root: %w", path, err)
	}
	return rl, nil
}

// RootCRL returns the root's CRL (DER) as last signed.
func (ca *CA) RootCRL() ([]byte, error) {
	rl, err := readRootCRL(ca.dir, ca.root)
	if err != nil {
		return nil, fmt.Errorf("root CRL: %w (sign it with intransit pki root-crl)", err)
	}
	return rl.Raw, nil
}

// openRootKey finds the root key: in its token, or unwrapped from the
// keyring under the master key. The io.Closer, when not nil, holds the
// token open.
func openRootKey(dir string, cfg Config, secret keywrap.Secret) (crypto.Signer, io.Closer, error) {
	if cfg.RootKey != "" {
		s, t, err := tokenSigner(cfg.RootKey)
		if err != nil {
			return nil, nil, fmt.Errorf("root key: %w", err)
		}
		return s, t, nil
	}
	kr, err := readKeyring(dir)
	if err != nil {
		return nil, nil, err
	}
	master, done, err := unlockKeyring(kr, secret)
	if err != nil {
		return nil, nil, fmt.Errorf("unlock %s: %w", filepath.Join(dir, KeyringFile), err)
	}
	defer done()
	s, err := unwrapSigner(kr, master, labelRoot)
	return s, nil, err
}

// withRoot opens the root key of the PKI in dir and calls f with it.
func withRoot(ctx context.Context, dir string, secret keywrap.Secret, f func(cfg Config, root *x509.Certificate, key crypto.Signer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return err
	}
	root, err := readCert(filepath.Join(dir, RootCertFile))
	if err != nil {
		return err
	}
	key, closer, err := openRootKey(dir, cfg, secret)
	if err != nil {
		return err
	}
	if closer != nil {
		defer closer.Close()
	}
	if !publicKeysEqual(key.Public(), root.PublicKey) {
		return fmt.Errorf("the root key in %s does not match %s", keyPlace(cfg.RootKey, KeyringFile), RootCertFile)
	}
	return f(cfg, root, key)
}

// SignRootCRL re-signs the root's CRL of the PKI in dir with the same
// entries and the next number: the root is offline, so this runs before
// the root CRL's next update (a year after the last signing).
func SignRootCRL(ctx context.Context, dir string, secret keywrap.Secret) (*x509.RevocationList, error) {
	var rl *x509.RevocationList
	err := withRoot(ctx, dir, secret, func(_ Config, root *x509.Certificate, key crypto.Signer) error {
		var err error
		rl, err = signRootCRL(dir, root, key, nil)
		return err
	})
	return rl, err
}

// RevokeIntermediate revokes the intermediate CA certificate with serial
// sn (the current one, or one replaced by RotateIntermediate) and signs
// the root's CRL with it at once. Every certificate under it then fails
// a verification that checks the chain's CRLs (openssl verify
// -crl_check_all). An unknown serial or one revoked already is a Refusal.
func RevokeIntermediate(ctx context.Context, dir string, secret keywrap.Secret, sn *big.Int, reason store.Reason) (*x509.RevocationList, error) {
	inters, err := readIntermediates(dir)
	if err != nil {
		return nil, err
	}
	known := false
	for _, c := range inters {
		known = known || c.SerialNumber.Cmp(sn) == 0
	}
	if !known {
		return nil, refusef("no intermediate of this PKI has serial %s", FormatSerial(sn))
	}
	var rl *x509.RevocationList
	err = withRoot(ctx, dir, secret, func(_ Config, root *x509.Certificate, key crypto.Signer) error {
		if cur, err := readRootCRL(dir, root); err == nil {
			for _, e := range cur.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(sn) == 0 {
					return refusef("intermediate %s is already revoked", FormatSerial(sn))
				}
			}
		}
		var err error
		rl, err = signRootCRL(dir, root, key, []x509.RevocationListEntry{{
			SerialNumber: sn, RevocationTime: time.Now().UTC().Truncate(time.Second), ReasonCode: reason.Code(),
		}})
		return err
	})
	return rl, err
}

// readIntermediates returns the current intermediate and those it
// replaced, newest first.
func readIntermediates(dir string) ([]*x509.Certificate, error) {
	cur, err := readCert(filepath.Join(dir, IntermediateFile))
	if err != nil {
		return nil, err
	}
	out := []*x509.Certificate{cur}
	old, err := filepath.Glob(filepath.Join(dir, PreviousIntermediatesDir, "*.crt"))
	if err != nil {
		return nil, err
	}
	for _, p := range old {
		c, err := readCert(p)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// RootNeedsSecret reports whether using the root key of the PKI in dir
// (RotateIntermediate, RevokeIntermediate, SignRootCRL) takes a passphrase
// or master key file: not when the root key or the master key is in a
// token.
func RootNeedsSecret(dir string) (bool, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return false, err
	}
	if cfg.RootKey != "" {
		return false, nil
	}
	kr, err := readKeyring(dir)
	if err != nil {
		return false, err
	}
	return kr.Master.Kind != keywrap.KindToken, nil
}
