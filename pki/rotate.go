package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"intransit/internal/atomicfile"
	"intransit/pki/keywrap"
	"intransit/pki/kms"
	"intransit/pki/store"
)

// RotateOptions configure RotateIntermediate.
type RotateOptions struct {
	// TTL is the new intermediate's lifetime; zero means 5 years, cut at
	// the root's expiry.
	TTL time.Duration
	// KMS, when set, is the PKCS#11 URI of the token the new key is made
	// in (default object "<name>-intermediate-<generation>"). Empty means
	// where the current key is: the same token, or the keyring.
	KMS string
}

// previousLabel is the keyring label of an intermediate key replaced by a
// rotation.
func previousLabel(sn *big.Int) string { return labelIntermediate + "-" + FormatSerial(sn) }

// RotateIntermediate makes a new intermediate CA under the same root and
// makes it the one that issues. The one it replaces stays trusted until it
// expires: it moves to intermediates/<serial>.crt, stays in the CA bundle,
// and its key stays (under the keyring label intermediate-<serial>, or in
// its token) so that its CRL keeps being signed for the leaves it issued,
// which move to the new intermediate as they renew. The new intermediate
// has its own name ("<name> Intermediate CA <generation>"), so that CRLs
// are told apart by issuer. Needs the root key.
func RotateIntermediate(ctx context.Context, dir string, secret keywrap.Secret, opts RotateOptions) (*x509.Certificate, error) {
	var out *x509.Certificate
	err := withRoot(ctx, dir, secret, func(cfg Config, root *x509.Certificate, rootKey crypto.Signer) error {
		inters, err := readIntermediates(dir)
		if err != nil {
			return err
		}
		cur := inters[0]
		gen := len(inters) + 1
		ttl := opts.TTL
		if ttl == 0 {
			ttl = 5 * 365 * 24 * time.Hour
		}
		now := time.Now().UTC()
		if now.Add(ttl).After(root.NotAfter) {
			ttl = root.NotAfter.Sub(now)
		}
		if ttl <= 0 {
			return refusef("the root has expired; a new intermediate cannot outlive it")
		}
		ts := newTokenSet()
		ok := false
		defer func() {
			if !ok {
				ts.undo()
			}
			ts.closeExcept(nil)
		}()
		where := opts.KMS
		if where == "" && cfg.IntermediateKey != "" {
			u, err := kms.ParseURI(cfg.IntermediateKey)
			if err != nil {
				return fmt.Errorf("%s: intermediate_key: %w", ConfigFile, err)
			}
			where = u.WithObject("").String()
		}
		var (
			key    crypto.Signer
			keyURI string
			kr     *keywrap.Keyring
		)
		if where != "" {
			k, u, err := ts.generate(where, fmt.Sprintf("%s-intermediate-%d", cfg.Name, gen), cfg.IntermediateKeyType)
			if err != nil {
				return fmt.Errorf("new intermediate key: %w", err)
			}
			key, keyURI = k, u.String()
		} else if key, err = cfg.IntermediateKeyType.Generate(); err != nil {
			return err
		}
		if cfg.IntermediateKey == "" || keyURI == "" {
			// The keyring changes: the current key moves to its
			// previous label, and a new software key is wrapped.
			kr, err = rotateKeyring(dir, secret, cur.SerialNumber, key, keyURI == "")
			if err != nil {
				return err
			}
		}
		tmpl := intermediateTemplate(cfg, fmt.Sprintf("%s Intermediate CA %d", cfg.Name, gen), now, ttl)
		inter, err := createCert(tmpl, root, key.Public(), rootKey)
		if err != nil {
			return fmt.Errorf("create intermediate certificate: %w", err)
		}
		if cfg.IntermediateKey != "" {
			if cfg.PreviousIntermediateKeys == nil {
				cfg.PreviousIntermediateKeys = map[string]string{}
			}
			cfg.PreviousIntermediateKeys[FormatSerial(cur.SerialNumber)] = cfg.IntermediateKey
		}
		cfg.IntermediateKey = keyURI
		if cfg.CRLURL != "" {
			if cfg.CRLURLIntermediate == "" {
				cfg.CRLURLIntermediate = FormatSerial(cur.SerialNumber)
			}
			cfg.LeafCRLURL = strings.TrimSuffix(cfg.CRLURL, "/") + "/" + FormatSerial(inter.SerialNumber)
		}
		cfgBytes, err := yaml.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("encode %s: %w", ConfigFile, err)
		}
		// Not atomic as a whole: each file is replaced atomically, but a
		// crash between them leaves a directory whose intermediate.crt
		// and keys disagree, which Open refuses with a mismatch error
		// rather than signing with the wrong key.
		if kr != nil {
			b, err := kr.Marshal()
			if err != nil {
				return err
			}
			if err := atomicfile.Write(filepath.Join(dir, KeyringFile), b, 0o600); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, PreviousIntermediatesDir), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", PreviousIntermediatesDir, err)
		}
		if err := atomicfile.Write(filepath.Join(dir, PreviousIntermediatesDir, FormatSerial(cur.SerialNumber)+".crt"), pemCert(cur), 0o644); err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dir, ConfigFile), cfgBytes, 0o644); err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dir, IntermediateFile), pemCert(inter), 0o644); err != nil {
			return err
		}
		bundle := pemCert(inter)
		for _, c := range inters {
			if c.NotAfter.After(now) {
				bundle = append(bundle, pemCert(c)...)
			}
		}
		if err := atomicfile.Write(filepath.Join(dir, BundleFile), append(bundle, pemCert(root)...), 0o644); err != nil {
			return err
		}
		ok = true
		out = inter
		return nil
	})
	return out, err
}

// rotateKeyring returns the keyring of dir with the current intermediate
// key moved to its previous label and, when wrapNew, key wrapped as the
// intermediate key.
func rotateKeyring(dir string, secret keywrap.Secret, cur *big.Int, key crypto.Signer, wrapNew bool) (*keywrap.Keyring, error) {
	kr, err := readKeyring(dir)
	if err != nil {
		return nil, err
	}
	master, done, err := unlockKeyring(kr, secret)
	if err != nil {
		return nil, fmt.Errorf("unlock %s: %w", filepath.Join(dir, KeyringFile), err)
	}
	defer done()
	out := &keywrap.Keyring{Master: kr.Master}
	for _, w := range kr.Keys {
		if w.Label != labelIntermediate {
			out.Keys = append(out.Keys, w)
			continue
		}
		der, err := master.Unwrap(w)
		if err != nil {
			return nil, err
		}
		nw, err := master.Wrap(previousLabel(cur), der)
		clear(der)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, nw)
	}
	if wrapNew {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode intermediate key: %w", err)
		}
		w, err := master.Wrap(labelIntermediate, der)
		clear(der)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, w)
	}
	return out, nil
}

// previousIntermediate is an intermediate replaced by a rotation that has
// not expired: it still signs the CRL of the leaves it issued.
type previousIntermediate struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// openPrevious finds the keys of the previous intermediates that have not
// expired: in the keyring under their previous labels (unlocked with
// master), or in their tokens.
func openPrevious(dir string, cfg Config, kr *keywrap.Keyring, master *keywrap.Master) ([]previousIntermediate, []io.Closer, error) {
	inters, err := readIntermediates(dir)
	if err != nil {
		return nil, nil, err
	}
	var (
		out     []previousIntermediate
		closers []io.Closer
	)
	for _, c := range inters[1:] {
		if time.Now().After(c.NotAfter) {
			continue
		}
		var key crypto.Signer
		if uri, ok := cfg.PreviousIntermediateKeys[FormatSerial(c.SerialNumber)]; ok {
			s, t, err := tokenSigner(uri)
			if err != nil {
				return nil, closers, fmt.Errorf("previous intermediate %s: %w", FormatSerial(c.SerialNumber), err)
			}
			key = s
			closers = append(closers, t)
		} else {
			if kr == nil || master == nil {
				return nil, closers, fmt.Errorf("previous intermediate %s: its key is in the keyring, which needs the master key", FormatSerial(c.SerialNumber))
			}
			s, err := unwrapSigner(kr, master, previousLabel(c.SerialNumber))
			if err != nil {
				return nil, closers, err
			}
			key = s
		}
		if !publicKeysEqual(key.Public(), c.PublicKey) {
			return nil, closers, fmt.Errorf("the key of previous intermediate %s does not match its certificate", FormatSerial(c.SerialNumber))
		}
		out = append(out, previousIntermediate{cert: c, key: key})
	}
	return out, closers, nil
}

// PreviousCRLs returns, for every replaced intermediate that has not
// expired, its CRL listing the revoked certificates, so that the leaves it
// issued before the rotation can still be checked (and revoked) until
// they renew under the new one. Each is PEM.
func (ca *CA) PreviousCRLs(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	for _, p := range ca.previous {
		c, err := ca.CRLOf(ctx, FormatSerial(p.cert.SerialNumber))
		if err != nil {
			return nil, err
		}
		out = append(out, PEMCRL(c.DER))
	}
	return out, nil
}

// CRLOf returns the current CRL of the intermediate with the given serial
// (in any form ParseSerial takes): the one that issues (see CurrentCRL) or one
// a rotation replaced that has not expired, whose CRL is re-signed, like
// CurrentCRL's, after a revocation or half its validity. Another serial is
// a Refusal wrapping store.ErrNotFound.
func (ca *CA) CRLOf(ctx context.Context, serial string) (*store.CRL, error) {
	if sn, err := ParseSerial(serial); err == nil {
		serial = FormatSerial(sn)
	}
	if serial == FormatSerial(ca.inter.SerialNumber) {
		return ca.CurrentCRL(ctx)
	}
	for _, p := range ca.previous {
		if FormatSerial(p.cert.SerialNumber) != serial {
			continue
		}
		ca.crlMu.Lock()
		defer ca.crlMu.Unlock()
		c := ca.prevCRLs[serial]
		if c != nil {
			_, rev, err := ca.store.RevocationsSince(ctx, math.MaxUint64-1)
			if err != nil {
				return nil, err
			}
			if c.Revision == rev && time.Now().Before(c.ThisUpdate.Add(c.NextUpdate.Sub(c.ThisUpdate)/2)) {
				return c, nil
			}
		}
		c, err := ca.signCRLWith(ctx, p.cert, p.key)
		if err != nil {
			return nil, err
		}
		if ca.prevCRLs == nil {
			ca.prevCRLs = map[string]*store.CRL{}
		}
		ca.prevCRLs[serial] = c
		return c, nil
	}
	return nil, &Refusal{Rule: fmt.Sprintf("no intermediate of this CA in use has serial %s", serial), Err: store.ErrNotFound}
}

// crlAtURL returns the CRL served at the CA's CRLURL: that of the
// intermediate whose leaves carry it (the first one, until it expires),
// else the current one.
func (ca *CA) crlAtURL(ctx context.Context) (*store.CRL, error) {
	if s := ca.cfg.CRLURLIntermediate; s != "" {
		for _, p := range ca.previous {
			if FormatSerial(p.cert.SerialNumber) == s {
				return ca.CRLOf(ctx, s)
			}
		}
	}
	return ca.CurrentCRL(ctx)
}

// signCRLWith signs a CRL of every revoked, unexpired certificate with the
// intermediate inter, numbered from the store's CRL numbers; it does not
// store it.
func (ca *CA) signCRLWith(ctx context.Context, inter *x509.Certificate, key crypto.Signer) (*store.CRL, error) {
	revs, rev, err := ca.store.RevocationsSince(ctx, 0)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	entries := make([]x509.RevocationListEntry, 0, len(revs))
	for _, r := range revs {
		if r.NotAfter.Before(now) {
			continue
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.At, ReasonCode: r.Reason.Code()})
	}
	n, err := ca.store.NextCRLNumber(ctx)
	if err != nil {
		return nil, err
	}
	next := now.Add(ca.cfg.CRLValidity)
	if next.After(inter.NotAfter) {
		next = inter.NotAfter
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: new(big.Int).SetUint64(n), ThisUpdate: now, NextUpdate: next, RevokedCertificateEntries: entries,
	}, inter, key)
	if err != nil {
		return nil, fmt.Errorf("sign CRL of intermediate %s: %w", FormatSerial(inter.SerialNumber), err)
	}
	return &store.CRL{Number: n, Revision: rev, ThisUpdate: now, NextUpdate: next, DER: der}, nil
}

// Intermediates returns the intermediate that issues and those replaced
// by a rotation that have not expired, newest first.
func (ca *CA) Intermediates() []*x509.Certificate {
	out := []*x509.Certificate{ca.inter}
	for _, p := range ca.previous {
		out = append(out, p.cert)
	}
	return out
}
