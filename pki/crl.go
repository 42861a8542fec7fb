package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
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
	revs, rev, err := ca.store.RevocationsSince(ctx, 0)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	entries := make([]x509.RevocationListEntry, 0, len(revs))
	for _, r := range revs {
		if r.NotAfter.Before(now) {
			continue
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.Serial, RevocationTime: r.At, ReasonCode: r.Reason.Code()})
	}
	n, err := ca.store.NextCRLNumber(ctx)
	if err != nil {
		return nil, err
	}
	next := now.Add(ca.cfg.CRLValidity)
	if next.After(ca.inter.NotAfter) {
		next = ca.inter.NotAfter
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    new(big.Int).SetUint64(n),
		ThisUpdate:                now,
		NextUpdate:                next,
		RevokedCertificateEntries: entries,
	}, ca.inter, ca.interKey)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	c := &store.CRL{Number: n, Revision: rev, ThisUpdate: now, NextUpdate: next, DER: der}
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
		if c.Revision == rev && fresh {
			return c, nil
		}
	}
	return ca.newCRL(ctx)
}

// PEMCRL encodes a CRL's DER as PEM.
func PEMCRL(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}) }
