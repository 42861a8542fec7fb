package pki

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"intransit/pki/store"
	"intransit/tlspolicy"
)

// FormatSerial renders a serial number as lower-case hex in whole bytes,
// the form the CLI prints and accepts (tlspolicy.FormatSerial, which logs
// use too).
func FormatSerial(sn *big.Int) string { return tlspolicy.FormatSerial(sn) }

// ParseSerial accepts a serial in hex, in any case, with or without ':'
// separators (openssl x509 -text) and a 0x prefix, with or without leading
// zeros (openssl x509 -serial, pki list).
func ParseSerial(s string) (*big.Int, error) {
	h := strings.TrimPrefix(strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", "")), "0x")
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return nil, fmt.Errorf("%q is not a hex serial number", s)
	}
	return n, nil
}

// serialCandidates returns the serials ref may mean: as hex (see
// ParseSerial), and as decimal when it is all digits (how some tools and
// logs print serials). Refs shorter than 16 digits are names: serials are
// at least 64 bits.
func serialCandidates(ref string) []*big.Int {
	var out []*big.Int
	if len(strings.ReplaceAll(ref, ":", "")) < 16 {
		return nil
	}
	if sn, err := ParseSerial(ref); err == nil {
		out = append(out, sn)
	}
	if n, ok := new(big.Int).SetString(ref, 10); ok && n.Sign() > 0 {
		out = append(out, n)
	}
	return out
}

// Find returns the records that ref names: the certificate whose serial it
// is (hex in any form, or decimal; at least 16 digits), else every
// certificate issued to that name, oldest first. Nothing found is a
// Refusal.
func (ca *CA) Find(ctx context.Context, ref string) ([]*store.Certificate, error) {
	for _, sn := range serialCandidates(ref) {
		c, err := ca.store.Certificate(ctx, sn)
		if err == nil {
			return []*store.Certificate{c}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	recs, err := ca.store.Certificates(ctx, store.Filter{Name: ref})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, &Refusal{Rule: fmt.Sprintf("no certificate has serial or name %q", ref), Err: store.ErrNotFound}
	}
	return recs, nil
}

// List returns the records matching f.
func (ca *CA) List(ctx context.Context, f store.Filter) ([]*store.Certificate, error) {
	return ca.store.Certificates(ctx, f)
}

// Revoke revokes the certificate with serial sn. An unknown serial or a
// certificate already revoked is a Refusal.
func (ca *CA) Revoke(ctx context.Context, sn *big.Int, reason store.Reason) (*store.Certificate, error) {
	c, err := ca.store.Revoke(ctx, sn, time.Now().UTC().Truncate(time.Second), reason)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, &Refusal{Rule: fmt.Sprintf("no certificate with serial %s was issued by this CA", FormatSerial(sn)), Err: err}
	case errors.Is(err, store.ErrAlreadyRevoked):
		return nil, &Refusal{Rule: fmt.Sprintf("certificate %s is already revoked", FormatSerial(sn)), Err: err}
	case err != nil:
		return nil, err
	}
	ca.log.Info("certificate revoked", "serial", FormatSerial(sn), "name", c.Name, "reason", reason, "revision", c.Revision)
	return c, nil
}

// RevokeRef revokes the certificate ref names (see Find). A name must match
// exactly one certificate that is not revoked yet.
func (ca *CA) RevokeRef(ctx context.Context, ref string, reason store.Reason) (*store.Certificate, error) {
	recs, err := ca.Find(ctx, ref)
	if err != nil {
		return nil, err
	}
	var live []*store.Certificate
	for _, r := range recs {
		if r.Status == store.StatusValid {
			live = append(live, r)
		}
	}
	switch {
	case len(recs) == 1:
		return ca.Revoke(ctx, recs[0].Serial, reason)
	case len(live) == 0:
		return nil, &Refusal{Rule: fmt.Sprintf("every certificate named %q is already revoked", ref), Err: store.ErrAlreadyRevoked}
	case len(live) > 1:
		var sns []string
		for _, r := range live {
			sns = append(sns, FormatSerial(r.Serial))
		}
		return nil, &Refusal{Rule: fmt.Sprintf("%d certificates named %q are not revoked (%s); give a serial", len(live), ref, strings.Join(sns, ", "))}
	}
	return ca.Revoke(ctx, live[0].Serial, reason)
}

// IsRevoked reports whether the certificate with serial sn is revoked. A
// serial this CA never issued is an error wrapping store.ErrNotFound.
func (ca *CA) IsRevoked(ctx context.Context, sn *big.Int) (bool, error) {
	c, err := ca.store.Certificate(ctx, sn)
	if err != nil {
		return false, err
	}
	return c.Status == store.StatusRevoked, nil
}

// RevokedSerials returns every revoked serial number, in revocation order.
func (ca *CA) RevokedSerials(ctx context.Context) ([]*big.Int, error) {
	revs, _, err := ca.store.RevocationsSince(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := make([]*big.Int, len(revs))
	for i, r := range revs {
		out[i] = r.Serial
	}
	return out, nil
}

// RevocationsSince returns the revocations after revision rev and the
// current revision: a gateway polls with the revision it last saw.
func (ca *CA) RevocationsSince(ctx context.Context, rev uint64) ([]store.Revocation, uint64, error) {
	return ca.store.RevocationsSince(ctx, rev)
}
