package renewal

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"intransit/internal/atomicfile"
	"intransit/internal/status"
	"intransit/tlspolicy"
)

// Source is the endpoint's certificate as read from its files
// (*tlspolicy.KeyPairFiles): Certificate returns the one in use, Reload
// re-reads the files now and keeps the current one when they are broken.
type Source interface {
	tlspolicy.CertificateSource
	tlspolicy.Reloader
}

// Renewer renews one certificate kept in a chain file and a key file.
type Renewer struct {
	// Name says which certificate, in logs and status ("identity", "proxy").
	Name string
	// CertFile and KeyFile are where the chain and the key are written.
	CertFile, KeyFile string
	// Source is the endpoint's certificate, read from CertFile and KeyFile.
	Source Source
	// Issuer has the successor issued.
	Issuer Issuer
	// Renewed, when set, is called with the new leaf once it is in use.
	Renewed func(leaf *x509.Certificate)
	// Logger receives a line per renewal and failure; nil discards.
	Logger *slog.Logger

	mu       sync.Mutex
	renewals int
	lastErr  string
	next     time.Time
}

func (r *Renewer) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Run renews the certificate at two thirds of its lifetime, again and
// again, until ctx ends. A failed renewal is retried after Retry(n); the
// current certificate keeps serving meanwhile.
func (r *Renewer) Run(ctx context.Context) {
	failures := 0
	for {
		var wait time.Duration
		if failures > 0 {
			wait = Retry(failures)
		} else {
			leaf, err := r.current()
			if err != nil {
				r.log().Error("certificate renewal stopped", "certificate", r.Name, "error", err.Error())
				return
			}
			wait = max(time.Until(At(leaf)), 0)
		}
		r.mu.Lock()
		r.next = time.Now().Add(wait)
		r.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := r.Renew(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			r.mu.Lock()
			r.lastErr = err.Error()
			r.mu.Unlock()
			r.log().Error("certificate renewal failed; the current certificate keeps serving", "certificate", r.Name,
				"error", err.Error(), "retry_in", Retry(failures), "refused", IsRefused(err))
			continue
		}
		failures = 0
	}
}

func (r *Renewer) current() (*x509.Certificate, error) {
	c, err := r.Source.Certificate()
	if err != nil {
		return nil, err
	}
	return leafOf(c)
}

// Renew renews the certificate now: a fresh key of the current key's
// type, the successor from the Issuer, both written in place, the files
// re-read. The successor must carry the same identity (URI SAN) and
// expire no sooner.
func (r *Renewer) Renew(ctx context.Context) error {
	cur, err := r.Source.Certificate()
	if err != nil {
		return err
	}
	old, err := leafOf(cur)
	if err != nil {
		return err
	}
	key, err := newKeyLike(old.PublicKey)
	if err != nil {
		return fmt.Errorf("%s certificate: new key: %w", r.Name, err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: old.Subject}, key)
	if err != nil {
		return fmt.Errorf("%s certificate: CSR: %w", r.Name, err)
	}
	chain, err := r.Issuer.Renew(ctx, cur, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	defer clear(keyPEM)
	next, err := tls.X509KeyPair(chain, keyPEM)
	if err != nil {
		return fmt.Errorf("%s certificate: the renewed chain does not fit the new key: %w", r.Name, err)
	}
	leaf := next.Leaf
	if !slices.EqualFunc(leaf.URIs, old.URIs, func(a, b *url.URL) bool { return a.String() == b.String() }) {
		return fmt.Errorf("%s certificate: the renewed certificate names %v, not %v", r.Name, leaf.URIs, old.URIs)
	}
	if leaf.NotAfter.Before(old.NotAfter) {
		return fmt.Errorf("%s certificate: the renewed certificate expires at %s, before the current one (%s)", r.Name, leaf.NotAfter, old.NotAfter)
	}
	if err := Install(r.CertFile, r.KeyFile, chain, keyPEM); err != nil {
		return fmt.Errorf("%s certificate: %w", r.Name, err)
	}
	if err := r.Source.Reload(ctx); err != nil {
		return fmt.Errorf("%s certificate: written, but not taken into use: %w", r.Name, err)
	}
	if now, err := r.current(); err != nil || !now.Equal(leaf) {
		return fmt.Errorf("%s certificate: written, but the endpoint still uses the previous one", r.Name)
	}
	r.mu.Lock()
	r.renewals++
	r.lastErr = ""
	r.mu.Unlock()
	r.log().Info("certificate renewed", "certificate", r.Name, "serial", tlspolicy.FormatSerial(leaf.SerialNumber),
		"previous_serial", tlspolicy.FormatSerial(old.SerialNumber), "not_after", leaf.NotAfter, "next_renewal", At(leaf))
	if r.Renewed != nil {
		r.Renewed(leaf)
	}
	return nil
}

// Status describes the certificate in use and its renewal, at now.
func (r *Renewer) Status(now time.Time) status.Certificate {
	leaf, err := r.current()
	if err != nil {
		return status.Certificate{Name: r.Name, State: status.CertExpired, Warning: err.Error()}
	}
	c := status.Certificate{Name: r.Name, Subject: leaf.Subject.String(), Serial: tlspolicy.FormatSerial(leaf.SerialNumber),
		NotAfter: leaf.NotAfter, RenewAt: At(leaf)}
	r.mu.Lock()
	c.Renewals, c.LastError = r.renewals, r.lastErr
	if r.lastErr != "" {
		c.NextAttempt = r.next
	}
	r.mu.Unlock()
	c.Judge(now)
	return c
}

// newKeyLike makes a key of the type and size of pub.
func newKeyLike(pub crypto.PublicKey) (crypto.Signer, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.GenerateKey(k.Curve, rand.Reader)
	case *rsa.PublicKey:
		return rsa.GenerateKey(rand.Reader, k.N.BitLen())
	case ed25519.PublicKey:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unsupported key type %T", pub)
}

// nextSuffix marks a renewed chain or key before it is switched in.
const nextSuffix = ".next"

// Install writes a renewed chain and key in place of certFile and keyFile
// (key 0600): both are written completely under ".next" names, then the
// key and the chain are renamed into place. FinishInstall completes a
// switch that a crash interrupted, so that chain and key always match.
func Install(certFile, keyFile string, chainPEM, keyPEM []byte) error {
	if err := atomicfile.Write(keyFile+nextSuffix, keyPEM, 0o600); err != nil {
		return fmt.Errorf("renewed key: %w", err)
	}
	if err := atomicfile.Write(certFile+nextSuffix, chainPEM, 0o644); err != nil {
		os.Remove(keyFile + nextSuffix)
		return fmt.Errorf("renewed certificate: %w", err)
	}
	return FinishInstall(certFile, keyFile)
}

// FinishInstall completes an Install a crash interrupted; call it before
// reading the files. A key written without its chain is discarded (the
// chain was never complete); a chain left behind after its key was
// switched in is switched in too.
func FinishInstall(certFile, keyFile string) error {
	keyNext, certNext := keyFile+nextSuffix, certFile+nextSuffix
	_, kerr := os.Stat(keyNext)
	_, cerr := os.Stat(certNext)
	switch {
	case kerr == nil && errors.Is(cerr, os.ErrNotExist):
		if err := os.Remove(keyNext); err != nil {
			return fmt.Errorf("renewal: %w", err)
		}
		return nil
	case kerr == nil:
		if err := atomicfile.Rename(keyNext, keyFile); err != nil {
			return fmt.Errorf("renewal: %w", err)
		}
	}
	if cerr == nil {
		if err := atomicfile.Rename(certNext, certFile); err != nil {
			return fmt.Errorf("renewal: %w", err)
		}
	}
	return nil
}
