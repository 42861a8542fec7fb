// Package pki is intransit's internal certificate authority: an offline root
// and an online intermediate whose keys never touch the disk in the clear,
// issuance profiles with policy, CSR signing, revocation with CRLs and a
// revocation feed, and an HTTP handler serving the CA bundle and the CRL.
// Records live behind store.Store; the default backend is one bbolt file in
// the CA directory.
package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"intransit/internal/atomicfile"
	"intransit/pki/keywrap"
	"intransit/pki/kms"
	"intransit/pki/store"
	"intransit/pki/store/bolt"
)

// Files of a CA directory.
const (
	ConfigFile       = "ca.yaml"
	KeyringFile      = "keys.json"
	RootCertFile     = "root.crt"
	IntermediateFile = "intermediate.crt"
	BundleFile       = "ca-bundle.pem"
	StoreFile        = "pki.db"
	// PreviousIntermediatesDir holds the intermediates that
	// RotateIntermediate replaced, as <serial>.crt.
	PreviousIntermediatesDir = "intermediates"
)

const (
	labelRoot         = "root"
	labelIntermediate = "intermediate"
	configVersion     = 1
)

// Config is the public configuration of a CA, kept in ca.yaml.
type Config struct {
	// Version is the file format version.
	Version int `yaml:"version"`
	// Name is the CA's name; it appears in subjects and client identities.
	Name string `yaml:"name"`
	// RootKeyType and IntermediateKeyType are the CA key types.
	RootKeyType         KeyType `yaml:"root_key_type"`
	IntermediateKeyType KeyType `yaml:"intermediate_key_type"`
	// PermittedDNSDomains are the intermediate's name constraints; empty
	// means unconstrained.
	PermittedDNSDomains []string `yaml:"permitted_dns_domains,omitempty"`
	// CRLURL is put in issued certificates as the CRL distribution point.
	CRLURL string `yaml:"crl_url,omitempty"`
	// RootCRLURL is put in intermediates as their CRL distribution point
	// (the root's CRL); empty means root.crl beside CRLURL.
	RootCRLURL string `yaml:"root_crl_url,omitempty"`
	// LeafCRLURL, set by RotateIntermediate, is the CRL distribution point
	// of the leaves of the current intermediate: CRLURL/<its serial>, so
	// that each intermediate's leaves point at that intermediate's CRL.
	LeafCRLURL string `yaml:"leaf_crl_url,omitempty"`
	// CRLURLIntermediate, set by the first RotateIntermediate, is the
	// serial of the intermediate whose leaves carry CRLURL itself.
	CRLURLIntermediate string `yaml:"crl_url_intermediate,omitempty"`
	// CRLValidity is the span between a CRL's thisUpdate and nextUpdate.
	CRLValidity time.Duration `yaml:"crl_validity"`
	// RootKey and IntermediateKey are the PKCS#11 URIs of CA keys made
	// in a token; empty means the key is wrapped in the keyring.
	RootKey         string `yaml:"root_key,omitempty"`
	IntermediateKey string `yaml:"intermediate_key,omitempty"`
	// PreviousIntermediateKeys maps the serial of an intermediate replaced
	// by a rotation to the PKCS#11 URI of its key, when that is in a
	// token (else the key is in the keyring as intermediate-<serial>).
	PreviousIntermediateKeys map[string]string `yaml:"previous_intermediate_keys,omitempty"`
}

// InitOptions configure Init.
type InitOptions struct {
	// Dir is the CA directory; it is created when missing.
	Dir string
	// Name is the CA name (letters, digits, '.', '-'); default "intransit".
	Name string
	// RootKeyType defaults to ECDSA P-384.
	RootKeyType KeyType
	// IntermediateKeyType defaults to ECDSA P-256: the intermediate signs
	// every certificate and CRL, and P-256 signs several times faster than
	// P-384 or RSA while meeting ECC >= 256.
	IntermediateKeyType KeyType
	// PermittedDNSDomains constrain the names the intermediate may issue.
	PermittedDNSDomains []string
	// CRLURL, when set, is the CRL distribution point of issued certificates.
	CRLURL string
	// RootCRLURL is the CRL distribution point of intermediates (the
	// root's CRL); default root.crl beside CRLURL.
	RootCRLURL string
	// RootTTL and IntermediateTTL default to 10 and 5 years.
	RootTTL, IntermediateTTL time.Duration
	// CRLValidity defaults to 7 days.
	CRLValidity time.Duration
	// RootKMS and IntermediateKMS, when set, are PKCS#11 URIs (RFC 7512,
	// see kms.URI): the key is generated inside that token, never
	// extractable, labelled with the URI's object (default
	// "<name>-root", "<name>-intermediate"). A label in use is refused.
	RootKMS, IntermediateKMS string
	// MasterKMS, when set, is the PKCS#11 URI of a new AES key made in the
	// token (default object "<name>-master") that wraps the data keys of
	// the CA keys not in a token; Secret is then unused.
	MasterKMS string
	// Secret unlocks the new master key; unused when no CA key is wrapped
	// or MasterKMS is set.
	Secret keywrap.Secret
	// KDF is the argon2id cost for a passphrase; zero means keywrap.DefaultKDF.
	KDF keywrap.KDFParams
	// Store, when set, keeps the records there (a store that several hosts
	// share) instead of a new pki.db in Dir; it must hold no certificate
	// record yet. The CA returned owns it (Close closes it).
	Store store.Store
}

// needsKeyring reports whether Init wraps any CA key under a master key.
func (o InitOptions) needsKeyring() bool { return o.RootKMS == "" || o.IntermediateKMS == "" }

// OpenOptions configure Open.
type OpenOptions struct {
	// Store replaces the default bbolt store in the CA directory.
	Store store.Store
	// Logger receives one line per issuance and revocation; nil discards.
	Logger *slog.Logger
}

// CA is an open certificate authority. Its methods are safe for concurrent
// use. Close it to release the store.
type CA struct {
	dir      string
	cfg      Config
	root     *x509.Certificate
	inter    *x509.Certificate
	interKey crypto.Signer
	// previous are the unexpired intermediates a rotation replaced.
	previous []previousIntermediate
	// closers hold the tokens of keys in tokens open.
	closers []io.Closer
	store   store.Store
	log     *slog.Logger
	crlMu   sync.Mutex
	// crlOwnChecked: the stored CRL was seen signed by inter (crlMu).
	crlOwnChecked bool
	// prevCRLs caches the CRLs of previous intermediates by serial (crlMu).
	prevCRLs map[string]*store.CRL
}

var caNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// Init creates a new PKI in opts.Dir: root and intermediate keys and
// certificates, the keyring with both keys wrapped under the master key, the
// config and an empty store. It refuses when a PKI is there already. On
// failure it removes what it created.
func Init(ctx context.Context, opts InitOptions) (*CA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := initConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := CheckInitDir(opts.Dir); err != nil {
		return nil, err
	}
	if opts.MasterKMS != "" && !opts.needsKeyring() {
		return nil, refusef("both CA keys are in a token: a master key in a token would wrap nothing (drop the master key's token)")
	}
	now := time.Now().UTC()
	rootTTL, interTTL := opts.RootTTL, opts.IntermediateTTL
	if rootTTL == 0 {
		rootTTL = 10 * 365 * 24 * time.Hour
	}
	if interTTL == 0 {
		interTTL = 5 * 365 * 24 * time.Hour
	}
	if interTTL > rootTTL {
		return nil, refusef("intermediate lifetime %s is longer than the root's %s", interTTL, rootTTL)
	}

	// Tokens first: a wrong PIN or a missing token must leave the disk
	// as it was. Keys made in a token are removed again if Init fails.
	ts := newTokenSet()
	ok := false
	var keepToken *kms.Token
	defer func() {
		if !ok {
			ts.undo()
			keepToken = nil
		}
		ts.closeExcept(keepToken)
	}()
	var rootKey, interKey crypto.Signer
	if opts.RootKMS != "" {
		k, u, err := ts.generate(opts.RootKMS, cfg.Name+"-root", cfg.RootKeyType)
		if err != nil {
			return nil, fmt.Errorf("root key: %w", err)
		}
		rootKey, cfg.RootKey = k, u.String()
	} else if rootKey, err = cfg.RootKeyType.Generate(); err != nil {
		return nil, err
	}
	if opts.IntermediateKMS != "" {
		k, u, err := ts.generate(opts.IntermediateKMS, cfg.Name+"-intermediate", cfg.IntermediateKeyType)
		if err != nil {
			return nil, fmt.Errorf("intermediate key: %w", err)
		}
		interKey, cfg.IntermediateKey = k, u.String()
		keepToken, _, _ = ts.token(opts.IntermediateKMS, "")
	} else if interKey, err = cfg.IntermediateKeyType.Generate(); err != nil {
		return nil, err
	}
	var (
		master *keywrap.Master
		header keywrap.MasterHeader
	)
	if opts.needsKeyring() {
		if opts.MasterKMS != "" {
			s, u, err := ts.generateSecret(opts.MasterKMS, cfg.Name+"-master")
			if err != nil {
				return nil, fmt.Errorf("master key: %w", err)
			}
			master, header, err = keywrap.NewTokenMaster(s, u.String())
			if err != nil {
				return nil, err
			}
		} else {
			kdf := opts.KDF
			if kdf == (keywrap.KDFParams{}) {
				kdf = keywrap.DefaultKDF()
			}
			master, header, err = keywrap.NewMaster(opts.Secret, kdf)
			if err != nil {
				return nil, fmt.Errorf("master key: %w", err)
			}
		}
		defer master.Wipe()
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	if err := CheckInitDir(opts.Dir); err != nil {
		return nil, err
	}
	if err := checkEmptyStore(ctx, opts.Store); err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cfg.Name + " Root CA", Organization: []string{cfg.Name}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(rootTTL),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	root, err := createCert(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("create root certificate: %w", err)
	}
	inter, err := createCert(intermediateTemplate(cfg, cfg.Name+" Intermediate CA", now, interTTL), root, interKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("create intermediate certificate: %w", err)
	}

	kr := &keywrap.Keyring{Master: header}
	for _, k := range []struct {
		label string
		key   crypto.Signer
		token string
	}{{labelRoot, rootKey, cfg.RootKey}, {labelIntermediate, interKey, cfg.IntermediateKey}} {
		if k.token != "" {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			return nil, fmt.Errorf("encode %s key: %w", k.label, err)
		}
		w, err := master.Wrap(k.label, der)
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("wrap %s key: %w", k.label, err)
		}
		kr.Keys = append(kr.Keys, w)
	}
	krBytes, err := kr.Marshal()
	if err != nil {
		return nil, err
	}
	cfgBytes, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ConfigFile, err)
	}

	var created []string
	defer func() {
		if !ok {
			for _, f := range created {
				_ = os.Remove(f)
			}
		}
	}()
	write := func(name string, data []byte, perm os.FileMode) error {
		path := filepath.Join(opts.Dir, name)
		if err := atomicfile.Create(path, data, perm); err != nil {
			return err
		}
		created = append(created, path)
		return nil
	}
	if opts.needsKeyring() {
		if err := write(KeyringFile, krBytes, 0o600); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{RootCertFile, pemCert(root)},
		{IntermediateFile, pemCert(inter)},
		{BundleFile, append(pemCert(inter), pemCert(root)...)},
	} {
		if err := write(f.name, f.data, 0o644); err != nil {
			return nil, err
		}
	}
	if _, err := signRootCRL(opts.Dir, root, rootKey, nil); err != nil {
		return nil, err
	}
	created = append(created, filepath.Join(opts.Dir, RootCRLFile), filepath.Join(opts.Dir, RootCRLPEMFile))
	st := opts.Store
	if st == nil {
		storePath := filepath.Join(opts.Dir, StoreFile)
		if st, err = bolt.Open(storePath, bolt.Options{Create: true}); err != nil {
			return nil, err
		}
		created = append(created, storePath)
	}
	if err := write(ConfigFile, cfgBytes, 0o644); err != nil {
		if opts.Store == nil {
			_ = st.Close()
		}
		return nil, err
	}
	ca := &CA{dir: opts.Dir, cfg: cfg, root: root, inter: inter, interKey: interKey, store: st, log: slog.New(slog.DiscardHandler)}
	if opts.Store != nil {
		// A first CRL in the shared store: gateways read it from there,
		// and it marks the store as this PKI's.
		if _, err := ca.NewCRL(ctx); err != nil {
			return nil, fmt.Errorf("first CRL in the store: %w", err)
		}
	}
	ok = true
	if keepToken != nil {
		ca.closers = []io.Closer{keepToken}
	}
	return ca, nil
}

// checkEmptyStore refuses a shared store that already holds the records
// of a PKI: two CAs on one prefix would mix their serials and revocations.
func checkEmptyStore(ctx context.Context, st store.Store) error {
	if st == nil {
		return nil
	}
	recs, err := st.Certificates(ctx, store.Filter{})
	if err != nil {
		return fmt.Errorf("check the store: %w", err)
	}
	if len(recs) > 0 {
		return refusef("the store already holds the records of a PKI (%d certificates, the first to %q); give another prefix", len(recs), recs[0].Name)
	}
	switch _, err := st.CurrentCRL(ctx); {
	case err == nil:
		return refusef("the store already holds the CRL of a PKI; give another prefix")
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("check the store: %w", err)
	}
	return nil
}

// CheckInitDir refuses a directory that holds a PKI, or anything at all:
// a PKI directory holds the CA's files only, and a typo in --dir must not
// scatter them among someone else's. A directory that does not exist
// passes. Init checks it too; callers check early to refuse before asking
// for secrets.
func CheckInitDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, f := range []string{ConfigFile, KeyringFile, StoreFile, RootCertFile, IntermediateFile, BundleFile, RootCRLFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return refusef("a PKI already exists in %s (found %s); refusing to overwrite it", dir, f)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read CA directory: %w", err)
	}
	if len(entries) > 0 {
		return refusef("%s is not empty and holds no PKI (found %s); give a new or empty directory", dir, entries[0].Name())
	}
	return nil
}

// intermediateTemplate is the template of an intermediate CA named cn,
// valid for ttl from now, carrying the root CRL's distribution point.
func intermediateTemplate(cfg Config, cn string, now time.Time, ttl time.Duration) *x509.Certificate {
	t := &x509.Certificate{
		Subject:                     pkix.Name{CommonName: cn, Organization: []string{cfg.Name}},
		NotBefore:                   now.Add(-time.Minute),
		NotAfter:                    now.Add(ttl),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLen:                  0,
		MaxPathLenZero:              true,
		PermittedDNSDomains:         cfg.PermittedDNSDomains,
		PermittedDNSDomainsCritical: len(cfg.PermittedDNSDomains) > 0,
	}
	if u := rootCRLURL(cfg); u != "" {
		t.CRLDistributionPoints = []string{u}
	}
	return t
}

func initConfig(opts InitOptions) (Config, error) {
	cfg := Config{
		Version:             configVersion,
		Name:                opts.Name,
		RootKeyType:         opts.RootKeyType,
		IntermediateKeyType: opts.IntermediateKeyType,
		PermittedDNSDomains: opts.PermittedDNSDomains,
		CRLURL:              opts.CRLURL,
		RootCRLURL:          opts.RootCRLURL,
		CRLValidity:         opts.CRLValidity,
	}
	if opts.Dir == "" {
		return cfg, errors.New("no CA directory given")
	}
	if cfg.Name == "" {
		cfg.Name = "intransit"
	}
	if !caNamePattern.MatchString(cfg.Name) {
		return cfg, refusef("CA name %q: use lower-case letters, digits, '.' and '-' (it becomes the host of intransit:// identities)", cfg.Name)
	}
	if cfg.RootKeyType == "" {
		cfg.RootKeyType = ECDSAP384
	}
	if cfg.IntermediateKeyType == "" {
		cfg.IntermediateKeyType = ECDSAP256
	}
	for _, k := range []KeyType{cfg.RootKeyType, cfg.IntermediateKeyType} {
		ok := false
		for _, c := range CAKeyTypes() {
			ok = ok || c == k
		}
		if !ok {
			return cfg, refusef("CA key type %q is not allowed (allowed: %v)", k, CAKeyTypes())
		}
	}
	for _, d := range cfg.PermittedDNSDomains {
		if err := checkDNSName(d); err != nil {
			return cfg, refusef("permitted DNS domain %q: %v", d, err)
		}
	}
	for _, c := range []string{cfg.CRLURL, cfg.RootCRLURL} {
		if c == "" {
			continue
		}
		u, err := url.Parse(c)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, refusef("CRL URL %q must be an absolute http or https URL", c)
		}
	}
	if cfg.CRLValidity == 0 {
		cfg.CRLValidity = 7 * 24 * time.Hour
	}
	if cfg.CRLValidity < time.Hour {
		return cfg, refusef("CRL validity %s is shorter than an hour", cfg.CRLValidity)
	}
	return cfg, nil
}

// Open opens the PKI in dir, unlocking the intermediate key with secret. A
// wrong secret yields an error wrapping keywrap.ErrWrongSecret and changes
// nothing on disk.
func Open(ctx context.Context, dir string, secret keywrap.Secret, opts OpenOptions) (*CA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	root, err := readCert(filepath.Join(dir, RootCertFile))
	if err != nil {
		return nil, err
	}
	inter, err := readCert(filepath.Join(dir, IntermediateFile))
	if err != nil {
		return nil, err
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("%s is not signed by %s: %w", IntermediateFile, RootCertFile, err)
	}
	interKey, previous, closers, err := openKeys(dir, cfg, secret)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			for _, c := range closers {
				_ = c.Close()
			}
		}
	}()
	if !publicKeysEqual(interKey.Public(), inter.PublicKey) {
		return nil, fmt.Errorf("the intermediate key in %s does not match %s", keyPlace(cfg.IntermediateKey, KeyringFile), IntermediateFile)
	}
	st := opts.Store
	if st == nil {
		st, err = bolt.Open(filepath.Join(dir, StoreFile), bolt.Options{})
		if err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ok = true
	return &CA{dir: dir, cfg: cfg, root: root, inter: inter, interKey: interKey, previous: previous, closers: closers, store: st, log: log}, nil
}

func keyPlace(tokenURI, file string) string {
	if tokenURI != "" {
		return tokenURI
	}
	return file
}

// keyringNeeded reports whether opening the PKI in dir unwraps a key from
// the keyring: the intermediate's, or that of a previous intermediate not
// expired whose key is not in a token.
func keyringNeeded(dir string, cfg Config) (bool, error) {
	if cfg.IntermediateKey == "" {
		return true, nil
	}
	inters, err := readIntermediates(dir)
	if err != nil {
		return false, err
	}
	for _, c := range inters[1:] {
		if _, ok := cfg.PreviousIntermediateKeys[FormatSerial(c.SerialNumber)]; !ok && time.Now().Before(c.NotAfter) {
			return true, nil
		}
	}
	return false, nil
}

// openKeys finds the intermediate key and those of the unexpired previous
// intermediates: in their tokens, or unwrapped from the keyring under the
// master key (from its token, or from secret). The closers hold tokens
// open.
func openKeys(dir string, cfg Config, secret keywrap.Secret) (key crypto.Signer, previous []previousIntermediate, closers []io.Closer, err error) {
	defer func() {
		if err != nil {
			for _, c := range closers {
				_ = c.Close()
			}
			closers = nil
		}
	}()
	var (
		kr     *keywrap.Keyring
		master *keywrap.Master
	)
	need, err := keyringNeeded(dir, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if need {
		if kr, err = readKeyring(dir); err != nil {
			return nil, nil, nil, err
		}
		m, done, err := unlockKeyring(kr, secret)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("unlock %s: %w", filepath.Join(dir, KeyringFile), err)
		}
		defer done()
		master = m
	}
	if cfg.IntermediateKey != "" {
		s, t, err := tokenSigner(cfg.IntermediateKey)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("intermediate key: %w", err)
		}
		key = s
		closers = append(closers, t)
	} else if key, err = unwrapSigner(kr, master, labelIntermediate); err != nil {
		return nil, nil, closers, err
	}
	previous, more, err := openPrevious(dir, cfg, kr, master)
	closers = append(closers, more...)
	if err != nil {
		return nil, nil, closers, err
	}
	return key, previous, closers, nil
}

// NeedsSecret reports whether opening the PKI in dir takes a passphrase or
// master key file: not when the intermediate key or the master key is in a
// token.
func NeedsSecret(dir string) (bool, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return false, err
	}
	if need, err := keyringNeeded(dir, cfg); err != nil || !need {
		return false, err
	}
	kr, err := readKeyring(dir)
	if err != nil {
		return false, err
	}
	return kr.Master.Kind != keywrap.KindToken, nil
}

// errNoKeys is the error of a signing method on a CA opened by OpenPublic.
var errNoKeys = errors.New("the CA was opened without its keys (read-only); open it with the master key to sign")

// OpenPublic opens the PKI in dir without its keys: for reading records
// and certificates (pki list, pki show), no master key needed. Issuing,
// signing CRLs and anything else that needs a CA key fails.
func OpenPublic(ctx context.Context, dir string, opts OpenOptions) (*CA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	root, err := readCert(filepath.Join(dir, RootCertFile))
	if err != nil {
		return nil, err
	}
	inter, err := readCert(filepath.Join(dir, IntermediateFile))
	if err != nil {
		return nil, err
	}
	st := opts.Store
	if st == nil {
		st, err = bolt.Open(filepath.Join(dir, StoreFile), bolt.Options{})
		if err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &CA{dir: dir, cfg: cfg, root: root, inter: inter, store: st, log: log}, nil
}

// RotateMaster re-wraps the data keys of the PKI in dir under a master key
// from next, replacing the keyring file atomically. The CA keys and every
// issued certificate stay as they are. A wrong old secret changes nothing.
func RotateMaster(ctx context.Context, dir string, old, next keywrap.Secret, kdf keywrap.KDFParams) error {
	return RotateMasterTo(ctx, dir, MasterRotation{Old: old, New: next, KDF: kdf})
}

// MasterRotation says where a master key moves: from Old (unused when the
// current master is in a token) to New, or to a new AES key in the token
// NewKMS names (a PKCS#11 URI; default object "<name>-master").
type MasterRotation struct {
	Old, New keywrap.Secret
	NewKMS   string
	// KDF is the argon2id cost for a new passphrase; zero means
	// keywrap.DefaultKDF.
	KDF keywrap.KDFParams
}

// RotateMasterTo moves the master key of the PKI in dir as r says: between
// a passphrase or key file and a token, either way, or between two of the
// same kind. Only the data keys are re-wrapped; the CA keys and every
// issued certificate stay as they are. The new keyring is checked (every
// key unwraps under the new master) before it replaces the old one
// atomically; on any error nothing on disk changes and a token key made
// for it is removed again.
func RotateMasterTo(ctx context.Context, dir string, r MasterRotation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return err
	}
	if cfg.RootKey != "" && cfg.IntermediateKey != "" {
		return refusef("both CA keys are in a token; there is no master key to rotate")
	}
	kr, err := readKeyring(dir)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, KeyringFile)
	master, done, err := unlockKeyring(kr, r.Old)
	if err != nil {
		return fmt.Errorf("unlock %s: %w", path, err)
	}
	defer done()
	ts := newTokenSet()
	ok := false
	defer func() {
		if !ok {
			ts.undo()
		}
		ts.closeExcept(nil)
	}()
	var (
		nm *keywrap.Master
		nh keywrap.MasterHeader
	)
	if r.NewKMS != "" {
		s, u, err := ts.generateSecret(r.NewKMS, cfg.Name+"-master")
		if err != nil {
			return fmt.Errorf("new master key: %w", err)
		}
		if nm, nh, err = keywrap.NewTokenMaster(s, u.String()); err != nil {
			return err
		}
	} else {
		kdf := r.KDF
		if kdf == (keywrap.KDFParams{}) {
			kdf = keywrap.DefaultKDF()
		}
		if nm, nh, err = keywrap.NewMaster(r.New, kdf); err != nil {
			return fmt.Errorf("new master key: %w", err)
		}
	}
	defer nm.Wipe()
	nkr, err := kr.RotateTo(master, nm, nh)
	if err != nil {
		return err
	}
	for _, w := range nkr.Keys {
		pt, err := nm.Unwrap(w)
		if err != nil {
			return fmt.Errorf("check re-wrapped key %q: %w", w.Label, err)
		}
		clear(pt)
	}
	b, err := nkr.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return err
	}
	ok = true
	return nil
}

// Close releases the store, and the tokens of keys in tokens.
func (ca *CA) Close() error {
	err := ca.store.Close()
	for _, c := range ca.closers {
		err = errors.Join(err, c.Close())
	}
	return err
}

// Config returns the CA's configuration.
func (ca *CA) Config() Config { return ca.cfg }

// Dir returns the CA directory.
func (ca *CA) Dir() string { return ca.dir }

// Root returns the root certificate.
func (ca *CA) Root() *x509.Certificate { return ca.root }

// Intermediate returns the intermediate certificate.
func (ca *CA) Intermediate() *x509.Certificate { return ca.inter }

// Bundle returns the intermediate certificates (the one that issues, then
// those a rotation replaced that have not expired) and the root as PEM.
func (ca *CA) Bundle() []byte {
	var b []byte
	for _, c := range ca.Intermediates() {
		b = append(b, pemCert(c)...)
	}
	return append(b, pemCert(ca.root)...)
}

// Store returns the record store.
func (ca *CA) Store() store.Store { return ca.store }

func readConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, derr := os.Stat(dir); derr != nil {
			return Config{}, fmt.Errorf("no PKI directory %s (run intransit pki init)", dir)
		}
		return Config{}, fmt.Errorf("no PKI in %s: %s is missing (run intransit pki init)", dir, ConfigFile)
	}
	if err != nil {
		return Config{}, fmt.Errorf("read %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Version != configVersion {
		return Config{}, fmt.Errorf("%s: version %d is not supported (want %d)", path, cfg.Version, configVersion)
	}
	if cfg.Name == "" || cfg.CRLValidity <= 0 {
		return Config{}, fmt.Errorf("%s: name and crl_validity are required", path)
	}
	return cfg, nil
}

func readKeyring(dir string) (*keywrap.Keyring, error) {
	path := filepath.Join(dir, KeyringFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	kr, err := keywrap.ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kr, nil
}

func unwrapSigner(kr *keywrap.Keyring, m *keywrap.Master, label string) (crypto.Signer, error) {
	w, err := kr.Key(label)
	if err != nil {
		return nil, err
	}
	der, err := m.Unwrap(w)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s key: %w", label, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s key of type %T cannot sign", label, key)
	}
	return s, nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	if tmpl.SerialNumber == nil {
		sn, err := newSerial()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = sn
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// newSerial returns a random positive 127-bit serial number.
func newSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("read serial: %w", err)
		}
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b); n.BitLen() > 64 {
			return n, nil
		}
	}
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
