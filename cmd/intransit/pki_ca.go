package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"intransit/pki"
	"intransit/pki/admin"
)

// openCA returns the CA of --dir: through the admin socket when a daemon
// holds the PKI (no master key needed: the daemon has it unlocked), else
// the store opened here with the master key, as without a daemon.
func (o *pkiOptions) openCA(cmd *cobra.Command) (admin.CA, error) {
	c, err := admin.Dial(cmd.Context(), o.dir)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, admin.ErrNoDaemon) {
		return nil, err
	}
	ca, err := o.open(cmd)
	if err != nil {
		return nil, err
	}
	return admin.NewLocal(ca, nil, nil), nil
}

// issueHere generates a key of type kt here and has ca sign it for req:
// the private key never crosses the admin socket.
func issueHere(cmd *cobra.Command, ca admin.CA, req pki.Request, kt pki.KeyType) (*pki.Issued, *x509.Certificate, error) {
	key, err := kt.Generate()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: req.Name}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	s, err := ca.Sign(cmd.Context(), csr, req)
	if err != nil {
		return nil, nil, pkiError(err)
	}
	return &pki.Issued{Certificate: s.Certificate, Record: s.Record, Key: key}, s.Intermediate, nil
}
