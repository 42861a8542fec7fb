package tlspolicy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fileSet holds a value parsed from a few files and re-parses it when their
// contents change. A broken new version is logged and the old value kept.
type fileSet[T any] struct {
	what  string
	paths []string
	parse func(contents [][]byte) (*T, error)
	log   *slog.Logger

	mu  sync.Mutex // serializes reloads
	sum [sha256.Size]byte
	cur atomic.Pointer[T]
}

// load reads the files and replaces the current value if they changed and
// parse. It reports whether the value changed.
func (f *fileSet[T]) load() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := sha256.New()
	contents := make([][]byte, len(f.paths))
	for i, p := range f.paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return false, fmt.Errorf("%s: %w", f.what, err)
		}
		contents[i] = data
		fmt.Fprintf(h, "%d:", len(data))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	if f.cur.Load() != nil && sum == f.sum {
		return false, nil
	}
	v, err := f.parse(contents)
	if err != nil {
		return false, fmt.Errorf("%s (%s): %w", f.what, strings.Join(f.paths, ", "), err)
	}
	f.sum = sum
	f.cur.Store(v)
	return true, nil
}

// reload is load for a running endpoint: it logs the outcome.
func (f *fileSet[T]) reload() error {
	changed, err := f.load()
	if err != nil {
		f.log.Error("reload failed, keeping the previous version", "what", f.what, "files", f.paths, "error", err.Error())
		return err
	}
	if changed {
		f.log.Info("reloaded", "what", f.what, "files", f.paths)
	}
	return nil
}

// watch polls the files every interval until ctx ends.
func (f *fileSet[T]) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = f.reload() // logged by reload; the old version stays in use
		}
	}
}

// KeyPairFiles is a CertificateSource read from a PEM certificate (chain)
// file and a PEM private key file. It reloads when the files change (Watch)
// or on demand (Reload); established connections keep the certificate they
// were made with.
type KeyPairFiles struct {
	set *fileSet[tls.Certificate]
}

// LoadKeyPairFiles reads a certificate chain and its key. When p is not nil
// the leaf key must satisfy the profile's key policy and signature rules, at
// load and at every reload. log receives reload outcomes.
func LoadKeyPairFiles(certFile, keyFile string, p *Profile, log *slog.Logger) (*KeyPairFiles, error) {
	k := &KeyPairFiles{set: &fileSet[tls.Certificate]{
		what:  "certificate and key",
		paths: []string{certFile, keyFile},
		log:   loggerOrDiscard(log),
		parse: func(c [][]byte) (*tls.Certificate, error) { return parseKeyPair(c[0], c[1], p) },
	}}
	if _, err := k.set.load(); err != nil {
		return nil, err
	}
	return k, nil
}

func parseKeyPair(certPEM, keyPEM []byte, p *Profile) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if p != nil {
		if err := p.CheckPublicKey(cert.Leaf.PublicKey); err != nil {
			return nil, fmt.Errorf("certificate %q is not allowed by profile %s: %w", cert.Leaf.Subject.CommonName, p.Name, err)
		}
		if !p.AllowsSignatureAlgorithm(cert.Leaf.SignatureAlgorithm) {
			return nil, fmt.Errorf("certificate %q is signed with %s, not allowed by profile %s", cert.Leaf.Subject.CommonName, cert.Leaf.SignatureAlgorithm, p.Name)
		}
	}
	return &cert, nil
}

// Certificate returns the newest good certificate.
func (k *KeyPairFiles) Certificate() (*tls.Certificate, error) { return k.set.cur.Load(), nil }

// Reload re-reads the files now. A broken new pair is logged and refused;
// the previous one stays in use.
func (k *KeyPairFiles) Reload(context.Context) error { return k.set.reload() }

// Watch re-reads the files every interval until ctx ends.
func (k *KeyPairFiles) Watch(ctx context.Context, every time.Duration) { k.set.watch(ctx, every) }

// CAFile is a CASource read from a PEM file of CA certificates, reloaded
// like KeyPairFiles.
type CAFile struct {
	set *fileSet[CASet]
}

// LoadCAFile reads a PEM bundle of CA certificates; it must hold at least one.
func LoadCAFile(path string, log *slog.Logger) (*CAFile, error) {
	f := &CAFile{set: &fileSet[CASet]{
		what:  "CA certificates",
		paths: []string{path},
		log:   loggerOrDiscard(log),
		parse: func(c [][]byte) (*CASet, error) { return parseCAs(c[0]) },
	}}
	if _, err := f.set.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func parseCAs(data []byte) (*CASet, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q (want CERTIFICATE)", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("certificate %d (%q) is not a CA", len(certs)+1, c.Subject.CommonName)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("trailing data that is not PEM after certificate %d", len(certs))
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return NewCASet(certs...), nil
}

// CAs returns the newest good CA set.
func (f *CAFile) CAs() *CASet { return f.set.cur.Load() }

// Reload re-reads the file now, keeping the previous set if the new one is
// broken.
func (f *CAFile) Reload(context.Context) error { return f.set.reload() }

// Watch re-reads the file every interval until ctx ends.
func (f *CAFile) Watch(ctx context.Context, every time.Duration) { f.set.watch(ctx, every) }

func loggerOrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
