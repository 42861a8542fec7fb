package pki

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math"
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
