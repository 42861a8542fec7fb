// Package configcheck reads the files an intransitd configuration names,
// the way the daemon does at start, and says what is wrong with them in
// the configuration's terms: the file, line and field that names the
// file. The daemon loads its identity and its CA's secret through this
// package, and `intransitd --check` runs the same loads (Check) without
// keeping anything, so that a configuration --check accepts is one the
// daemon starts with, and the reason it would not start is the one --check
// prints.
//
// What is checked: identity.cert and identity.key exist and parse, the key
// is the certificate's and the TLS profile allows both; identity.ca parses,
// holds CAs only and verifies the certificate; the CRL (a file, or fetched
// from its URL as at start) parses and is signed by a CA of the bundle,
// with the hint to name the bundle that holds the intermediate when the
// bundle holds only the root above the CRL's issuer; the CA's master key
// or passphrase file (pki or p2s.pki) is readable by the daemon alone and
// holds a secret, and its directory is a PKI directory.
package configcheck

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"intransit/internal/daemonconfig"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
)

// CRLFetchTimeout bounds the fetch of a CRL given as a URL.
const CRLFetchTimeout = 10 * time.Second

// Identity is the gateway's TLS identity and trust material, loaded.
type Identity struct {
	Profile    *tlspolicy.Profile
	KeyPair    *tlspolicy.KeyPairFiles
	CAs        *tlspolicy.CAFile
	Revocation *tlspolicy.Revocation
}

// findings collects the errors of one configuration.
type findings struct {
	cfg  *daemonconfig.Config
	errs daemonconfig.Errors
}

func (f *findings) add(field, format string, args ...any) {
	f.errs = append(f.errs, f.cfg.Errorf(field, format, args...))
}

// err returns the findings as daemonconfig.Errors, nil when there is none.
func (f *findings) err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return f.errs
}

// readable reports whether the file of field can be read, recording why
// not.
func (f *findings) readable(field, path string) bool {
	file, err := os.Open(path)
	if err == nil {
		var st os.FileInfo
		if st, err = file.Stat(); err == nil && st.IsDir() {
			err = errors.New("is a directory")
		}
		file.Close()
	}
	if err != nil {
		f.add(field, "%s", fileError(path, err))
		return false
	}
	return true
}

// fileError says why path could not be read, without Go's "open" prefix.
func fileError(path string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("cannot read %s: %v", path, err)
}

// LoadIdentity loads the identity section's files as the daemon runs with
// them (see the package comment for what must hold). On error it returns
// every finding as daemonconfig.Errors and no Identity. log receives the
// reload outcomes of the loaded material. crl, when not nil, wraps the
// source of identity.crl (a gateway on a shared store reads the CRL the
// store holds and falls back to the file).
func LoadIdentity(ctx context.Context, cfg *daemonconfig.Config, log *slog.Logger, crl func(tlspolicy.CRLSource) tlspolicy.CRLSource) (*Identity, error) {
	f := &findings{cfg: cfg}
	id := &Identity{}
	idc := cfg.Identity
	prof, err := tlspolicy.LoadProfile(idc.Profile)
	if err != nil {
		f.add("identity.profile", "%v", err)
	}
	id.Profile = prof
	certOK := idc.Cert != "" && f.readable("identity.cert", idc.Cert)
	keyOK := idc.Key != "" && f.readable("identity.key", idc.Key)
	if certOK && keyOK && err == nil {
		if id.KeyPair, err = tlspolicy.LoadKeyPairFiles(idc.Cert, idc.Key, prof, log); err != nil {
			keyPairError(f, "identity.cert", "identity.key", idc.Cert, err)
		}
	}
	if idc.CA != "" && f.readable("identity.ca", idc.CA) {
		if id.CAs, err = tlspolicy.LoadCAFile(idc.CA, log); err != nil {
			f.add("identity.ca", "%v", err)
		}
	}
	if id.CAs != nil && certOK {
		verifyIdentity(f, id)
	}
	if idc.CRL != "" {
		id.Revocation = loadCRL(ctx, f, id, log, crl)
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	return id, nil
}

// keyPairError puts a failed load of a certificate and its key on the
// field at fault.
func keyPairError(f *findings, certField, keyField, certFile string, err error) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not match"):
		f.add(keyField, "is not the key of the certificate in %s (%s)", certField, certFile)
	case strings.Contains(msg, "key input") || strings.Contains(msg, "private key"):
		f.add(keyField, "%v", err)
	default:
		f.add(certField, "%v", err)
	}
}

// chain returns the certificates of a PEM chain file; nil when it cannot
// be read (which the load of the key pair reports).
func chain(path string) []*x509.Certificate {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if x, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, x)
		}
	}
}

// verifyIdentity checks that the bundle verifies the gateway's own
// certificate with the intermediates of its chain file, as its peers,
// holding the same bundle, will.
func verifyIdentity(f *findings, id *Identity) {
	certs := chain(f.cfg.Identity.Cert)
	if len(certs) == 0 {
		return
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	// The chain is checked, not the clock: an expired certificate is
	// renewed or replaced while the daemon runs, as before this check.
	at := time.Now()
	if at.After(certs[0].NotAfter) {
		at = certs[0].NotAfter
	}
	if at.Before(certs[0].NotBefore) {
		at = certs[0].NotBefore
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: id.CAs.CAs().Pool, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		f.add("identity.ca", "does not verify the certificate of identity.cert (%q): %v; the bundle (%s) must hold the CA that issues the gateways' certificates", certs[0].Subject.CommonName, err, names(id.CAs.CAs().Certs))
	}
}

// CRLSource returns the source of identity.crl: the file, or the URL
// fetched within CRLFetchTimeout.
func CRLSource(idc daemonconfig.Identity) tlspolicy.CRLSource {
	if idc.CRLIsURL() {
		return &crlsource.URL{URL: idc.CRL, Client: &http.Client{Timeout: CRLFetchTimeout}}
	}
	return &crlsource.File{Path: idc.CRL}
}

// loadCRL loads the CRL against the bundle; without a bundle it only
// checks that a CRL file can be read.
func loadCRL(ctx context.Context, f *findings, id *Identity, log *slog.Logger, wrap func(tlspolicy.CRLSource) tlspolicy.CRLSource) *tlspolicy.Revocation {
	idc := f.cfg.Identity
	if id.CAs == nil {
		if !idc.CRLIsURL() {
			f.readable("identity.crl", idc.CRL)
		}
		return nil
	}
	src := CRLSource(idc)
	if wrap != nil {
		src = wrap(src)
	}
	rev, err := tlspolicy.NewRevocation(ctx, src, id.CAs, log)
	if err == nil {
		return rev
	}
	data, ferr := src.FetchCRL(ctx)
	if ferr != nil {
		if !idc.CRLIsURL() {
			f.add("identity.crl", "%s", fileError(idc.CRL, ferr))
		} else {
			f.add("identity.crl", "%v", ferr)
		}
		return nil
	}
	crl, perr := parseCRL(data)
	if perr != nil {
		f.add("identity.crl", "%v", perr)
		return nil
	}
	bundle := id.CAs.CAs().Certs
	for _, c := range bundle {
		if string(c.RawSubject) == string(crl.RawIssuer) {
			f.add("identity.crl", "%v", err) // the issuer is there: the signature or the age is wrong
			return nil
		}
	}
	if above := issuerAbove(crl, chain(idc.Cert), bundle); above != nil {
		f.add("identity.ca", "holds %s but not %q, the intermediate that signs the CRL (identity.crl) and is issued by %q: name the bundle that holds the intermediate and the root (the PKI writes it as %s), not the root alone",
			names(bundle), crl.Issuer.CommonName, above.Subject.CommonName, pki.BundleFile)
		return nil
	}
	f.add("identity.ca", "does not hold %q, which signs the CRL (identity.crl); it holds %s: name the bundle of the CA that issues the CRL", crl.Issuer.CommonName, names(bundle))
	return nil
}

// issuerAbove returns the certificate of the bundle that issued the CRL's
// issuer, when the identity's chain (certs) holds that issuer: the bundle
// is the root where the bundle with the intermediate was meant.
func issuerAbove(crl *x509.RevocationList, certs, bundle []*x509.Certificate) *x509.Certificate {
	for _, c := range certs {
		if string(c.RawSubject) != string(crl.RawIssuer) {
			continue
		}
		for _, b := range bundle {
			if c.CheckSignatureFrom(b) == nil {
				return b
			}
		}
	}
	return nil
}

func parseCRL(data []byte) (*x509.RevocationList, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil {
		der = block.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("not a CRL: %w", err)
	}
	return crl, nil
}

// names lists certificates by common name, for messages.
func names(certs []*x509.Certificate) string {
	q := make([]string, len(certs))
	for i, c := range certs {
		q[i] = fmt.Sprintf("%q", c.Subject.CommonName)
	}
	return strings.Join(q, ", ")
}

// CASecret reads the master key or passphrase of the CA the daemon holds
// (pki, else p2s.pki): the file must be readable by the daemon's user
// alone and hold a secret, and the directory must be a PKI directory
// (intransit pki init). A PKI whose CA keys, or whose master key, are in a
// PKCS#11 token needs neither file and gets no secret. The caller wipes the
// secret.
func CASecret(cfg *daemonconfig.Config) (keywrap.Secret, error) {
	c := cfg.CA()
	if c == nil {
		return keywrap.Secret{}, nil
	}
	section := "pki"
	if cfg.PKI == nil {
		section = "p2s.pki"
	}
	f := &findings{cfg: cfg}
	if c.Dir == "" || (c.KeyFile != "" && c.PassphraseFile != "") {
		return keywrap.Secret{}, nil // the configuration's validation says what is wrong
	}
	_, dirErr := os.Stat(filepath.Join(c.Dir, pki.ConfigFile))
	if dirErr != nil {
		f.add(section+".dir", "%s is not a PKI directory (%v): create it with intransit pki init", c.Dir, errors.Unwrap(dirErr))
	}
	if c.KeyFile == "" && c.PassphraseFile == "" {
		if dirErr != nil {
			return keywrap.Secret{}, f.err()
		}
		need, err := pki.NeedsSecret(c.Dir)
		switch {
		case err != nil:
			f.add(section+".dir", "%v", err)
		case need:
			f.add(section+".key_file", "the CA keys in %s are wrapped by a master key from a passphrase or key file: give key_file or passphrase_file", c.Dir)
		}
		return keywrap.Secret{}, f.err()
	}
	field := section + ".key_file"
	if c.KeyFile == "" {
		field = section + ".passphrase_file"
	}
	s, err := keywrap.Source{KeyFile: c.KeyFile, PassphraseFile: c.PassphraseFile}.Load()
	if err != nil {
		f.add(field, "%v", err)
	}
	if err := f.err(); err != nil {
		s.Wipe()
		return keywrap.Secret{}, err
	}
	return s, nil
}

// Check runs every load the daemon makes of the files the configuration
// names at start, keeping nothing, and returns every finding as
// daemonconfig.Errors. It blocks while a CRL URL is fetched (at most
// CRLFetchTimeout).
func Check(ctx context.Context, cfg *daemonconfig.Config) error {
	var all daemonconfig.Errors
	if _, err := LoadIdentity(ctx, cfg, nil, nil); err != nil {
		all = append(all, daemonconfig.List(err)...)
	}
	s, err := CASecret(cfg)
	s.Wipe()
	all = append(all, daemonconfig.List(err)...)
	all = append(all, daemonconfig.List(etcd(cfg))...)
	if len(all) == 0 {
		return nil
	}
	slices.SortStableFunc(all, func(a, b *daemonconfig.Error) int { return a.Line - b.Line })
	return all
}

// etcd loads the etcd client's TLS material as etcdconn.Dial does at
// start (the cluster is not dialed).
func etcd(cfg *daemonconfig.Config) error {
	e := cfg.Store.Etcd
	if cfg.Store.Backend != daemonconfig.StoreEtcd || e == nil || e.CA == "" || e.Cert == "" || e.Key == "" {
		return nil
	}
	f := &findings{cfg: cfg}
	ok := f.readable("store.etcd.ca", e.CA)
	ok = f.readable("store.etcd.cert", e.Cert) && ok
	ok = f.readable("store.etcd.key", e.Key) && ok
	if !ok || len(e.Endpoints) == 0 {
		return f.err()
	}
	if _, err := e.Conn().TLS(nil); err != nil {
		msg := err.Error()
		switch {
		case strings.HasPrefix(msg, "etcd: CA:"):
			f.add("store.etcd.ca", "%s", strings.TrimPrefix(msg, "etcd: CA: "))
		case strings.HasPrefix(msg, "etcd: client certificate:"):
			keyPairError(f, "store.etcd.cert", "store.etcd.key", e.Cert, errors.New(strings.TrimPrefix(msg, "etcd: client certificate: ")))
		default:
			f.add("store.etcd", "%v", err)
		}
	}
	return f.err()
}
