package pki

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"intransit/pki/store"
)

// NewCRL signs a new CRL with the next CRL number, listing every revoked
// certificate that has not expired, stores it as the current CRL and
// returns it.
func (ca *CA) NewCRL(ctx context.Context) (*store.CRL, error) {
	ca.crlMu.Lock()
	defer ca.crlMu.Unlock()
	return ca.newCRL(ctx)
}

func (ca *CA) newCRL(ctx context.Context) (*store.CRL, error) {
	if ca.interKey == nil {
		return nil, errNoKeys
	}
	c, err := ca.signCRLWith(ctx, ca.inter, ca.interKey)
	if err != nil {
		return nil, err
	}
	if err := ca.store.PutCRL(ctx, c); err != nil {
		if errors.Is(err, store.ErrStaleCRL) {
			return ca.store.CurrentCRL(ctx)
		}
		return nil, err
	}
	return c, nil
}

// CurrentCRL returns the current CRL, signing a new one first when none
// exists, a revocation happened since, or half its validity has passed.
func (ca *CA) CurrentCRL(ctx context.Context) (*store.CRL, error) {
	ca.crlMu.Lock()
	defer ca.crlMu.Unlock()
	c, err := ca.store.CurrentCRL(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if c != nil {
		// Asking for revocations after the highest possible revision returns
		// none, and the current revision.
		_, rev, err := ca.store.RevocationsSince(ctx, math.MaxUint64-1)
		if err != nil {
			return nil, err
		}
		fresh := time.Now().Before(c.ThisUpdate.Add(c.NextUpdate.Sub(c.ThisUpdate) / 2))
		if c.Revision == rev && fresh && ca.ownCRL(c) {
			return c, nil
		}
	}
	return ca.newCRL(ctx)
}

// ownCRL reports whether c was signed by the intermediate that issues
// (not by one a rotation replaced). It is checked once per CA: only this
// intermediate signs CRLs into the store after that.
func (ca *CA) ownCRL(c *store.CRL) bool {
	if ca.crlOwnChecked {
		return true
	}
	rl, err := x509.ParseRevocationList(c.DER)
	if err != nil || rl.CheckSignatureFrom(ca.inter) != nil {
		return false
	}
	ca.crlOwnChecked = true
	return true
}

// PEMCRL encodes a CRL's DER as PEM.
func PEMCRL(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}) }

// PublishedCRLs returns the CRLs the PKI publishes together in one file
// (identity.crl, DIR/crl.pem), DER each: cur, the CRL of the intermediate
// that issues, first; then the CRL of every intermediate a rotation
// replaced that is still valid (not expired, not revoked by the root's
// CRL), each signed by its own key (see CRLOf). During the overlap a leaf
// of either intermediate is thus checked against its own issuer's CRL, and
// a revoked leaf of the old one is refused. Every writer of the CRL file
// goes through here (admin.CRLFiles, pki crl).
func (ca *CA) PublishedCRLs(ctx context.Context, cur *store.CRL) ([][]byte, error) {
	out := [][]byte{cur.DER}
	if len(ca.previous) == 0 {
		return out, nil
	}
	revoked := map[string]bool{}
	rl, err := readRootCRL(ca.dir, ca.root)
	switch {
	case err == nil:
		for _, e := range rl.RevokedCertificateEntries {
			revoked[FormatSerial(e.SerialNumber)] = true
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("root CRL: %w", err)
	}
	for _, p := range ca.previous {
		sn := FormatSerial(p.cert.SerialNumber)
		if revoked[sn] || time.Now().After(p.cert.NotAfter) {
			continue
		}
		c, err := ca.CRLOf(ctx, sn)
		if err != nil {
			return nil, err
		}
		out = append(out, c.DER)
	}
	return out, nil
}

// EncodeCRLFile encodes crls (DER, as PublishedCRLs returns them) as the
// content of the file path: DER when there is one and path does not end in
// .pem, else the PEM blocks one after the other. tlspolicy.Revocation and
// openssl verify -CRLfile read every CRL of such a bundle.
func EncodeCRLFile(path string, crls [][]byte) []byte {
	if len(crls) == 1 && !strings.HasSuffix(path, ".pem") {
		return crls[0]
	}
	var out []byte
	for _, c := range crls {
		out = append(out, PEMCRL(c)...)
	}
	return out
}
