package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"

	"intransit/p2s/enroll"
	"intransit/pki/renewal"
	"intransit/tunnel/control"
)

// renewLoop renews the certificate with a renewal.Renewer over the
// gateway's renewal endpoint (enroll.Issuer) until ctx ends. After a
// renewal the running session, admitted with the old certificate (which
// the gateway cuts when it expires), is closed so that the client
// reconnects with the new one.
func (c *Client) renewLoop(ctx context.Context) {
	if c.profile.RenewPort == 0 {
		c.log.Warn("the gateway offers no renewal endpoint; the certificate will not be renewed", "expires", c.mat.Load().Leaf.NotAfter)
		return
	}
	r := &renewal.Renewer{Name: "client", CertFile: filepath.Join(c.opts.Dir, ChainFile), KeyFile: filepath.Join(c.opts.Dir, KeyFile),
		Source: materialSource{c},
		Issuer: &enroll.Issuer{URL: func() string { return "https://" + net.JoinHostPort(c.host(), portString(c.profile.RenewPort)) },
			CAs: c.mat.Load().CAs, Profile: c.tlsProf},
		Renewed: func(leaf *x509.Certificate) {
			c.mu.Lock()
			c.st.CertExpiry = leaf.NotAfter
			sess := c.sess
			c.mu.Unlock()
			if sess != nil {
				sess.Close(control.ReasonShutdown, "certificate renewed; reconnecting with the new one")
			}
		},
		Logger: c.log}
	r.Run(ctx)
}

// materialSource is the client's certificate as a renewal.Source:
// Certificate is the one in use; Reload re-reads the profile's files
// (LoadMaterial) and takes them into use, keeping the current material
// when they are broken.
type materialSource struct{ c *Client }

// Certificate implements tlspolicy.CertificateSource.
func (s materialSource) Certificate() (*tls.Certificate, error) {
	return &s.c.mat.Load().Cert, nil
}

// Reload implements tlspolicy.Reloader.
func (s materialSource) Reload(context.Context) error {
	m, err := LoadMaterial(s.c.opts.Dir)
	if err != nil {
		return err
	}
	s.c.mat.Store(m)
	return nil
}
