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

// Access modes of openCA.
const (
	readWrite = false // signs or revokes: the master key opens the store
	readOnly  = true  // lists or shows: no master key is asked for
)

// openCA returns the CA of --dir: through the admin socket when a daemon
// holds the PKI (no master key needed: the daemon has it unlocked), else
// the store opened here, as without a daemon: with the master key, or
// read-only without it (readOnly).
func (o *pkiOptions) openCA(cmd *cobra.Command, readOnly bool) (admin.CA, error) {
	c, err := admin.Dial(cmd.Context(), o.dir)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, admin.ErrNoDaemon) {
		return nil, err
	}
	open := o.open
	if readOnly {
		open = o.openPublic
	}
	ca, err := open(cmd)
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
