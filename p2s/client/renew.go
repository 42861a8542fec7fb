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
	"path/filepath"
	"time"

	"intransit/p2s/enroll"
	"intransit/pki/renewal"
	"intransit/tunnel/control"
)

// renewLoop renews the certificate at two thirds of its lifetime
// (renewal.At) until ctx ends; a failure is retried with renewal.Retry's
// backoff.
func (c *Client) renewLoop(ctx context.Context) {
	if c.profile.RenewPort == 0 {
		c.log.Warn("the gateway offers no renewal endpoint; the certificate will not be renewed", "expires", c.mat.Load().Leaf.NotAfter)
		return
	}
	failures := 0
	for {
		wait := max(time.Until(renewal.At(c.mat.Load().Leaf)), 0)
		if failures > 0 {
			wait = renewal.Retry(failures)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := c.Renew(ctx); err != nil {
			failures++
			c.log.Error("certificate renewal failed; retrying", "error", err.Error(), "retry_in", renewal.Retry(failures))
			continue
		}
		failures = 0
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
	// Key and chain are switched in together (renewal.Install); LoadMaterial
	// finishes a switch that a crash interrupted.
	if err := renewal.Install(filepath.Join(c.opts.Dir, ChainFile), filepath.Join(c.opts.Dir, KeyFile), []byte(got.Chain), keyPEM); err != nil {
		return err
	}
	next := *m
	next.Cert, next.Leaf = cert, leaf
	c.mat.Store(&next)
	c.mu.Lock()
	c.st.CertExpiry = leaf.NotAfter
	sess := c.sess
	c.mu.Unlock()
	c.log.Info("certificate renewed", "not_after", leaf.NotAfter, "next_renewal", renewal.At(leaf))
	// The running session was admitted with the old certificate, which the
	// gateway cuts when it expires: reconnect now, with the new one.
	if sess != nil {
		sess.Close(control.ReasonShutdown, "certificate renewed; reconnecting with the new one")
	}
	return nil
}
