package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"intransit/internal/atomicfile"
	"intransit/p2s/enroll"
	"intransit/tunnel/control"
)

// renewRetry is the wait after a failed renewal.
const renewRetry = time.Minute

// renewAt is when a certificate is renewed: at two thirds of its lifetime.
func renewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// renewLoop renews the certificate at two thirds of its lifetime until ctx
// ends; a failure is retried every renewRetry.
func (c *Client) renewLoop(ctx context.Context) {
	if c.profile.RenewPort == 0 {
		c.log.Warn("the gateway offers no renewal endpoint; the certificate will not be renewed", "expires", c.mat.Load().Leaf.NotAfter)
		return
	}
	for {
		wait := time.Until(renewAt(c.mat.Load().Leaf))
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, 0)):
		}
		if err := c.Renew(ctx); err != nil {
			c.log.Error("certificate renewal failed; retrying", "error", err.Error(), "retry_in", renewRetry)
			select {
			case <-ctx.Done():
				return
			case <-time.After(renewRetry):
			}
		}
	}
}

// Renew gets a new certificate for a new key over mTLS with the current
// one and writes both into the profile; new sessions use them.
func (c *Client) Renew(ctx context.Context) error {
	m := c.mat.Load()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("renewal key: %w", err)
	}
	csr, err := enroll.NewCSR(key, c.profile.Name)
	if err != nil {
		return err
	}
	base := "https://" + net.JoinHostPort(c.host(), portString(c.profile.RenewPort))
	got, err := enroll.Renew(ctx, base, m.Cert, m.CAs, csr, c.tlsProf)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	defer clear(keyPEM)
	cert, err := tls.X509KeyPair([]byte(got.Chain), keyPEM)
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	cert.Leaf = leaf
	// Both files are written completely under their ".next" names before
	// either is renamed into place; LoadMaterial finishes a switch that a
	// crash interrupted, so key and chain always match.
	if err := atomicfile.Write(filepath.Join(c.opts.Dir, KeyFile+nextSuffix), keyPEM, 0o600); err != nil {
		return fmt.Errorf("renewed key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(c.opts.Dir, ChainFile+nextSuffix), []byte(got.Chain), 0o644); err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	if err := finishSwitch(c.opts.Dir); err != nil {
		return err
	}
	next := *m
	next.Cert, next.Leaf = cert, leaf
	c.mat.Store(&next)
	c.mu.Lock()
	c.st.CertExpiry = leaf.NotAfter
	sess := c.sess
	c.mu.Unlock()
	c.log.Info("certificate renewed", "not_after", leaf.NotAfter, "next_renewal", renewAt(leaf))
	// The running session was admitted with the old certificate, which the
	// gateway cuts when it expires: reconnect now, with the new one.
	if sess != nil {
		sess.Close(control.ReasonShutdown, "certificate renewed; reconnecting with the new one")
	}
	return nil
}

// nextSuffix marks a renewed key and chain before they are switched in.
const nextSuffix = ".next"

// finishSwitch renames a renewed key and chain into place. It runs only
// once both ".next" files are complete, so rolling forward is always right.
func finishSwitch(dir string) error {
	for _, f := range []string{KeyFile, ChainFile} {
		next := filepath.Join(dir, f+nextSuffix)
		if _, err := os.Stat(next); err != nil {
			continue
		}
		if err := atomicfile.Rename(next, filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("renewal: %w", err)
		}
	}
	return nil
}
