// Package store defines how the PKI keeps its records: the Store interface
// that every backend implements (bbolt in pki/store/bolt, etcd in
// pki/store/etcd) and the record types that cross it.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Errors a Store returns; callers test them with errors.Is.
var (
	// ErrNotFound means no record has the requested key.
	ErrNotFound = errors.New("not found")
	// ErrSerialExists means a certificate with this serial was already
	// recorded; serials are never reused.
	ErrSerialExists = errors.New("serial number already used")
	// ErrAlreadyRevoked means the certificate is revoked already.
	ErrAlreadyRevoked = errors.New("certificate already revoked")
	// ErrStaleCRL means a CRL with the same or a higher number is stored.
	ErrStaleCRL = errors.New("a CRL with this or a higher number is stored")
)

// Store keeps the PKI's certificate records, revocations and CRL state
// durably.
//
// Contract, for every backend:
//   - A method that returns nil has made its change durable: after a crash or
//     power loss the change is there. A method that returns an error has made
//     no change at all.
//   - PutCertificate checks that the serial is unused and writes the record
//     in one atomic step, so two concurrent callers can never both record the
//     same serial: one of them gets ErrSerialExists.
//   - Every revocation advances the store's revision by exactly one, in the
//     same atomic step as the record's status change. Revisions start at 0
//     (nothing revoked) and never go back, so a poller holding revision N can
//     ask RevocationsSince(N) and miss nothing.
//   - Records returned are copies; callers may modify them.
//   - All methods are safe for concurrent use, from one process or (for
//     backends that say so) several. ctx bounds the wait for the backend; a
//     cancelled ctx may still see its change applied if it was already
//     committed.
//   - Damaged storage yields an error naming what is damaged, never a panic.
//
// Later record kinds (address leases, enrollment tokens) come as further
// small interfaces a backend may also implement, so callers of this one are
// never touched.
type Store interface {
	// PutCertificate records a newly issued certificate. It fails with
	// ErrSerialExists when the serial was ever recorded before.
	PutCertificate(ctx context.Context, rec *Certificate) error
	// Certificate returns the record with the given serial, or ErrNotFound.
	Certificate(ctx context.Context, serial *big.Int) (*Certificate, error)
	// Certificates returns the records that match f, ordered by issue time
	// then serial.
	Certificates(ctx context.Context, f Filter) ([]*Certificate, error)
	// Revoke marks a certificate revoked at time at for reason, and returns
	// the updated record. It fails with ErrNotFound or ErrAlreadyRevoked.
	Revoke(ctx context.Context, serial *big.Int, at time.Time, reason Reason) (*Certificate, error)
	// RevocationsSince returns the revocations with a revision above after,
	// in revision order, and the store's current revision.
	RevocationsSince(ctx context.Context, after uint64) ([]Revocation, uint64, error)
	// NextCRLNumber reserves and returns a CRL number greater than any
	// returned before.
	NextCRLNumber(ctx context.Context) (uint64, error)
	// PutCRL stores c as the current CRL unless a CRL with the same or a
	// higher number is stored (ErrStaleCRL).
	PutCRL(ctx context.Context, c *CRL) error
	// CurrentCRL returns the last CRL stored, or ErrNotFound.
	CurrentCRL(ctx context.Context) (*CRL, error)
	// Close releases the backend. No method may be called after it.
	Close() error
}

// RevocationWatcher is implemented by backends that push the revocation
// feed, so that a revocation made on one host reaches every host at once
// (etcd's watch).
//
// Contract: WatchRevocations calls fn with every revocation whose revision
// is above after, each exactly once, in revision order (without gaps),
// including those made while the backend was unreachable or had discarded
// its history (a compaction): it resumes from the last revision delivered.
// It blocks until ctx ends (returning ctx's error) or fn returns an error
// (returning it). fn is called from the goroutine that called
// WatchRevocations, one call at a time.
type RevocationWatcher interface {
	WatchRevocations(ctx context.Context, after uint64, fn func(Revocation) error) error
}

// Status is a certificate's state as recorded. Expiry is not recorded: it
// follows from NotAfter and the clock (see Certificate.StatusAt).
type Status string

const (
	// StatusValid is an issued certificate not revoked.
	StatusValid Status = "valid"
	// StatusRevoked is a revoked certificate.
	StatusRevoked Status = "revoked"
	// StatusExpired is reported (never stored) for a valid certificate past
	// its NotAfter.
	StatusExpired Status = "expired"
)

// Certificate is the record of one issued certificate.
type Certificate struct {
	// Serial is the certificate's serial number.
	Serial *big.Int `json:"-"`
	// Name is the name the certificate was issued to (its common name).
	Name string `json:"name"`
	// Profile is the issuance profile (gateway, server, client).
	Profile string `json:"profile"`
	// Subject is the subject distinguished name as text.
	Subject string `json:"subject"`
	// DNSNames, IPAddresses and URIs are the subject alternative names.
	DNSNames    []string `json:"dns_names,omitempty"`
	IPAddresses []string `json:"ip_addresses,omitempty"`
	URIs        []string `json:"uris,omitempty"`
	// KeyType describes the certificate's public key ("ecdsa-p256", ...).
	KeyType string `json:"key_type"`
	// NotBefore and NotAfter bound the validity.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// IssuedAt is when the record was made.
	IssuedAt time.Time `json:"issued_at"`
	// Status is StatusValid or StatusRevoked.
	Status Status `json:"status"`
	// RevokedAt and Reason are set when Status is StatusRevoked.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Reason    Reason     `json:"reason,omitempty"`
	// Revision is the store revision of the revocation, when revoked.
	Revision uint64 `json:"revision,omitempty"`
	// DER is the certificate itself.
	DER []byte `json:"der"`
}

// StatusAt reports the status at time now: StatusExpired for a valid
// certificate past its NotAfter.
func (c *Certificate) StatusAt(now time.Time) Status {
	if c.Status == StatusValid && now.After(c.NotAfter) {
		return StatusExpired
	}
	return c.Status
}

// Filter selects certificate records. Zero fields match everything.
type Filter struct {
	// Name matches the record's name exactly.
	Name string
	// Profile matches the record's profile exactly.
	Profile string
	// Status matches the status at time Now (valid, revoked, expired).
	Status Status
	// NotAfterBefore keeps records whose NotAfter is before this time.
	NotAfterBefore time.Time
	// Now is the time statuses are judged at; zero means time.Now().
	Now time.Time
}

// Match reports whether c passes the filter.
func (f Filter) Match(c *Certificate) bool {
	now := f.Now
	if now.IsZero() {
		now = time.Now()
	}
	switch {
	case f.Name != "" && c.Name != f.Name,
		f.Profile != "" && c.Profile != f.Profile,
		f.Status != "" && c.StatusAt(now) != f.Status,
		!f.NotAfterBefore.IsZero() && !c.NotAfter.Before(f.NotAfterBefore):
		return false
	}
	return true
}

// Revocation is one entry of the revocation feed.
type Revocation struct {
	// Revision is the store revision this revocation created.
	Revision uint64 `json:"revision"`
	// Serial is the revoked certificate's serial number.
	Serial *big.Int `json:"serial"`
	// At is the revocation time.
	At time.Time `json:"at"`
	// Reason is the revocation reason.
	Reason Reason `json:"reason"`
	// NotAfter is the revoked certificate's expiry (entries past it may be
	// dropped from CRLs).
	NotAfter time.Time `json:"not_after"`
}

// CRL is a signed certificate revocation list as stored.
type CRL struct {
	// Number is the CRL number.
	Number uint64 `json:"number"`
	// Revision is the store revision the CRL reflects.
	Revision uint64 `json:"revision"`
	// ThisUpdate and NextUpdate are the CRL's validity.
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	// DER is the encoded CRL.
	DER []byte `json:"der"`
}

// Reason is a revocation reason as named in RFC 5280.
type Reason string

// The revocation reasons intransit accepts.
const (
	ReasonUnspecified          Reason = "unspecified"
	ReasonKeyCompromise        Reason = "keyCompromise"
	ReasonCACompromise         Reason = "cACompromise"
	ReasonAffiliationChanged   Reason = "affiliationChanged"
	ReasonSuperseded           Reason = "superseded"
	ReasonCessationOfOperation Reason = "cessationOfOperation"
	ReasonCertificateHold      Reason = "certificateHold"
	ReasonPrivilegeWithdrawn   Reason = "privilegeWithdrawn"
)

// ReasonNames lists the accepted reasons.
func ReasonNames() []string {
	return []string{
		string(ReasonUnspecified), string(ReasonKeyCompromise), string(ReasonCACompromise),
		string(ReasonAffiliationChanged), string(ReasonSuperseded), string(ReasonCessationOfOperation),
		string(ReasonCertificateHold), string(ReasonPrivilegeWithdrawn),
	}
}

// ParseReason accepts a reason name, case-insensitively.
func ParseReason(s string) (Reason, error) {
	for _, r := range ReasonNames() {
		if strings.EqualFold(r, s) {
			return Reason(r), nil
		}
	}
	return "", fmt.Errorf("unknown revocation reason %q (one of %s)", s, strings.Join(ReasonNames(), ", "))
}

// Code returns the RFC 5280 CRLReason code.
func (r Reason) Code() int {
	switch r {
	case ReasonKeyCompromise:
		return 1
	case ReasonCACompromise:
		return 2
	case ReasonAffiliationChanged:
		return 3
	case ReasonSuperseded:
		return 4
	case ReasonCessationOfOperation:
		return 5
	case ReasonCertificateHold:
		return 6
	case ReasonPrivilegeWithdrawn:
		return 9
	}
	return 0
}
