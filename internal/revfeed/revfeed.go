// Package revfeed applies the revocation feed of a PKI store that several
// gateways share (etcd) to a gateway's peer checks, the moment each
// revocation is made, on whichever host: no CRL file is copied between
// hosts. It also reads the CRL that the store holds, as the CRL source of
// a gateway on a shared store.
package revfeed

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"intransit/pki/store"
	"intransit/tlspolicy"
)

// Sink is what a revocation is applied to. tlspolicy.Revocation implements
// it. Contract: AddRevoked records that the certificate with serial issued
// by the CA whose subject is rawIssuer (DER) was revoked at at, and makes
// every later check refuse it; it does not block on the network and is
// safe for concurrent use.
type Sink interface {
	AddRevoked(rawIssuer []byte, serial *big.Int, at time.Time)
}

var _ Sink = (*tlspolicy.Revocation)(nil)

// Records finds a certificate's record by serial (store.Store has it): the
// feed carries serials, the record tells which CA issued the certificate.
type Records interface {
	Certificate(ctx context.Context, serial *big.Int) (*store.Certificate, error)
}

// Retry bounds of a record lookup that failed (the store unreachable).
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 2 * time.Second
)

// Follower follows a feed from its start and applies every revocation to
// its sinks.
type Follower struct {
	// Feed is the store's revocation watch, Records its certificates.
	Feed    store.RevocationWatcher
	Records Records
	// Sinks receive every revocation of a certificate not expired yet.
	Sinks []Sink
	// Then, when set, runs after a revocation was applied (the elected CRL
	// publisher signs a new CRL); it must not block long.
	Then func(store.Revocation)
	// Logger logs each revocation applied; nil discards.
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu       sync.Mutex
	revision uint64
	applied  time.Time
}

// State is what a follower has applied.
type State struct {
	// Revision is the last feed revision applied (0: none yet), At when.
	Revision uint64
	At       time.Time
}

// State returns the last revision applied.
func (f *Follower) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return State{Revision: f.revision, At: f.applied}
}

func (f *Follower) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Run applies every revocation of the feed, from the first, in revision
// order, and then each new one as it is made, until ctx ends. The feed
// resumes by itself after the store was unreachable (see
// store.RevocationWatcher), so the revocations made meanwhile are applied
// the moment it answers again. It returns ctx's error, or the error of a
// damaged record.
func (f *Follower) Run(ctx context.Context) error {
	log := f.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return f.Feed.WatchRevocations(ctx, 0, func(r store.Revocation) error {
		if err := f.apply(ctx, r, log); err != nil {
			return err
		}
		f.mu.Lock()
		f.revision, f.applied = r.Revision, f.now()
		f.mu.Unlock()
		if f.Then != nil {
			f.Then(r)
		}
		return nil
	})
}

// apply hands one revocation to the sinks, once the record tells its
// issuer. An expired certificate is passed over: every check refuses it
// anyway.
func (f *Follower) apply(ctx context.Context, r store.Revocation, log *slog.Logger) error {
	if !r.NotAfter.IsZero() && f.now().After(r.NotAfter) {
		return nil
	}
	rec, err := f.record(ctx, r.Serial)
	if errors.Is(err, store.ErrNotFound) {
		log.Error("revocation of a certificate the store has no record of: not applied", "serial", tlspolicy.FormatSerial(r.Serial), "revision", r.Revision)
		return nil
	}
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return fmt.Errorf("revocation feed: the record of serial %s is damaged: %w", tlspolicy.FormatSerial(r.Serial), err)
	}
	for _, s := range f.Sinks {
		s.AddRevoked(cert.RawIssuer, r.Serial, r.At)
	}
	log.Info("revocation applied from the store's feed", "serial", tlspolicy.FormatSerial(r.Serial), "name", rec.Name,
		"reason", r.Reason, "revision", r.Revision)
	return nil
}

// record reads a certificate record, retrying while the store does not
// answer, until ctx ends.
func (f *Follower) record(ctx context.Context, serial *big.Int) (*store.Certificate, error) {
	retry := minRetry
	for {
		rec, err := f.Records.Certificate(ctx, serial)
		if err == nil || errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retry):
		}
		retry = min(2*retry, maxRetry)
	}
}

// CRLSource is the CRL a shared store holds (the one the elected gateway
// signs), as a tlspolicy.CRLSource; Fallback serves while the store holds
// none yet.
type CRLSource struct {
	// Store holds the CRL.
	Store interface {
		CurrentCRL(ctx context.Context) (*store.CRL, error)
	}
	// Fallback is read when the store holds no CRL.
	Fallback tlspolicy.CRLSource
}

// FetchTimeout bounds a read of the store's CRL: a gateway cut off from
// the store keeps the CRL it has.
const FetchTimeout = 5 * time.Second

// FetchCRL implements tlspolicy.CRLSource.
func (s *CRLSource) FetchCRL(ctx context.Context) ([]byte, error) {
	fctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	c, err := s.Store.CurrentCRL(fctx)
	if errors.Is(err, store.ErrNotFound) {
		return s.Fallback.FetchCRL(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("CRL from the store: %w", err)
	}
	return c.DER, nil
}
