package tlspolicy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"
)

// CRLSource fetches the current certificate revocation list. FetchCRL returns
// the CRL as DER or PEM; it may block on the network and must give up when
// ctx ends. It is called by one goroutine at a time. Implementations live in
// tlspolicy/crlsource (file, URL, http.Handler).
type CRLSource interface {
	FetchCRL(ctx context.Context) ([]byte, error)
}

// Revocation checks peer chains against CRLs signed by the trusted CAs.
// The source gives one CRL, or a PEM bundle of several from different
// issuers: during an intermediate rotation both the new and the replaced
// intermediate sign one, and a certificate is checked against the CRL of
// its own issuer. The CRLs are refreshed when Reload is called, every
// Watch interval and when a nextUpdate passes. A bundle holding a CRL
// whose signature does not verify against a trusted CA, two of one
// issuer, or one older than the one in use of its issuer, is refused as a
// whole and the current one kept.
//
// Revocations pushed by a shared store's feed (AddRevoked) count as well,
// from the moment they arrive: a gateway that follows the feed refuses and
// cuts a revoked peer before any new CRL reaches it.
type Revocation struct {
	src CRLSource
	cas CASource
	log *slog.Logger
	now func() time.Time

	mu  sync.Mutex // serializes refreshes
	sum [sha256.Size]byte
	cur atomic.Pointer[crlState]

	fmu     sync.Mutex
	feed    map[string]time.Time // issuer DER + serial (decimal) -> revocation time
	changed chan struct{}        // closed and replaced at every change
}

// crlState is the CRLs in use, one per issuer.
type crlState struct {
	lists []*crlList
}

type crlList struct {
	list    *x509.RevocationList
	revoked map[string]time.Time // serial (decimal) -> revocation time
}

// of returns the CRL of the issuer whose subject is rawIssuer, or nil.
func (st *crlState) of(rawIssuer []byte) *crlList {
	for _, l := range st.lists {
		if bytes.Equal(l.list.RawIssuer, rawIssuer) {
			return l
		}
	}
	return nil
}

// NewRevocation fetches the first CRL; it must verify against cas.
func NewRevocation(ctx context.Context, src CRLSource, cas CASource, log *slog.Logger) (*Revocation, error) {
	r := &Revocation{src: src, cas: cas, log: loggerOrDiscard(log), now: time.Now, feed: map[string]time.Time{}, changed: make(chan struct{})}
	if _, err := r.refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Revocation) refresh(ctx context.Context) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := r.src.FetchCRL(ctx)
	if err != nil {
		return false, fmt.Errorf("fetch CRL: %w", err)
	}
	sum := sha256.Sum256(data)
	if r.cur.Load() != nil && sum == r.sum {
		return false, nil
	}
	st, err := r.parse(data)
	if err != nil {
		return false, fmt.Errorf("CRL refused: %w", err)
	}
	r.sum = sum
	r.cur.Store(st)
	r.notify()
	return true, nil
}

// feedKey keys a feed entry by issuer and serial.
func feedKey(rawIssuer []byte, serial *big.Int) string {
	return string(rawIssuer) + "/" + serial.String()
}

// AddRevoked records that the certificate with serial, issued by the CA
// whose subject is rawIssuer (DER), was revoked at at: Check refuses it from
// now on, whatever the CRL in use says. It wakes the Changed channel.
func (r *Revocation) AddRevoked(rawIssuer []byte, serial *big.Int, at time.Time) {
	r.fmu.Lock()
	r.feed[feedKey(rawIssuer, serial)] = at
	r.fmu.Unlock()
	r.notify()
}

// Changed returns a channel closed at the next change of what Check
// decides (a new CRL, a revocation added): a watcher of sessions re-checks
// them at once instead of at its next tick.
func (r *Revocation) Changed() <-chan struct{} {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	return r.changed
}

func (r *Revocation) notify() {
	r.fmu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.fmu.Unlock()
}

// fed returns the feed's revocation time of c, if it is there.
func (r *Revocation) fed(c *x509.Certificate) (time.Time, bool) {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	at, ok := r.feed[feedKey(c.RawIssuer, c.SerialNumber)]
	return at, ok
}

func (r *Revocation) parse(data []byte) (*crlState, error) {
	var ders [][]byte
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("unexpected PEM block %q (want X509 CRL)", block.Type)
		}
		ders = append(ders, block.Bytes)
	}
	if len(ders) == 0 {
		ders = [][]byte{data}
	}
	st := &crlState{}
	prev := r.cur.Load()
	for i, der := range ders {
		l, err := r.parseOne(der, prev)
		if err != nil {
			if len(ders) > 1 {
				return nil, fmt.Errorf("CRL %d of %d: %w", i+1, len(ders), err)
			}
			return nil, err
		}
		if st.of(l.list.RawIssuer) != nil {
			return nil, fmt.Errorf("two CRLs of %q", l.list.Issuer)
		}
		st.lists = append(st.lists, l)
	}
	return st, nil
}

// parseOne parses and verifies one DER CRL; prev is the state in use.
func (r *Revocation) parseOne(der []byte, prev *crlState) (*crlList, error) {
	list, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var issuer *x509.Certificate
	for _, ca := range r.cas.CAs().Certs {
		if bytes.Equal(ca.RawSubject, list.RawIssuer) {
			issuer = ca
			break
		}
	}
	if issuer == nil {
		return nil, fmt.Errorf("issuer %q is not a trusted CA", list.Issuer)
	}
	if err := list.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("signature does not verify against CA %q: %w", issuer.Subject, err)
	}
	if prev != nil {
		if old := prev.of(list.RawIssuer); old != nil && old.list.Number != nil && list.Number != nil && list.Number.Cmp(old.list.Number) < 0 {
			return nil, fmt.Errorf("CRL number %s is older than the one in use (%s)", list.Number, old.list.Number)
		}
	}
	l := &crlList{list: list, revoked: make(map[string]time.Time, len(list.RevokedCertificateEntries))}
	for _, e := range list.RevokedCertificateEntries {
		l.revoked[e.SerialNumber.String()] = e.RevocationTime
	}
	return l, nil
}

// Reload fetches the CRL now. A broken or unverifiable CRL is logged and
// refused; the current one stays in use.
func (r *Revocation) Reload(ctx context.Context) error {
	changed, err := r.refresh(ctx)
	if err != nil {
		r.log.Error("CRL reload failed, keeping the previous CRL", "error", err.Error())
		return err
	}
	if changed {
		for _, l := range r.cur.Load().lists {
			r.log.Info("CRL reloaded", "issuer", l.list.Issuer.String(), "number", l.list.Number, "revoked", len(l.revoked), "next_update", l.list.NextUpdate)
		}
	}
	return nil
}

// NextUpdate returns the earliest nextUpdate of the CRLs in use (zero if
// none has one).
func (r *Revocation) NextUpdate() time.Time {
	var next time.Time
	for _, l := range r.cur.Load().lists {
		if n := l.list.NextUpdate; !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next
}

// Watch refreshes the CRL every interval, and as soon as its nextUpdate
// passes, until ctx ends.
func (r *Revocation) Watch(ctx context.Context, every time.Duration) {
	for {
		wait := every
		if next := r.NextUpdate(); !next.IsZero() {
			if until := next.Sub(r.now()); until < wait {
				wait = max(until, time.Second)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		_ = r.Reload(ctx) // logged by Reload; the old CRL stays in use
	}
}

// Check refuses a verified chain (leaf first) when one of its certificates
// is revoked by the CRL of its issuer, or when that CRL is past its
// nextUpdate so that revocation cannot be decided. Certificates of an
// issuer without a CRL here are not checked.
func (r *Revocation) Check(chain []*x509.Certificate) *Refusal {
	st := r.cur.Load()
	now := r.now()
	for _, c := range chain {
		if at, ok := r.fed(c); ok {
			return refuse(ReasonRevoked, "certificate %q (serial %s) was revoked at %s", c.Subject, FormatSerial(c.SerialNumber), at.Format(time.RFC3339))
		}
		l := st.of(c.RawIssuer)
		if l == nil {
			continue
		}
		if next := l.list.NextUpdate; !next.IsZero() && now.After(next) {
			return refuse(ReasonRevocationUnknown, "the CRL of %q expired at %s and could not be refreshed", l.list.Issuer, next.Format(time.RFC3339))
		}
		if at, ok := l.revoked[c.SerialNumber.String()]; ok {
			return refuse(ReasonRevoked, "certificate %q (serial %s) was revoked at %s", c.Subject, FormatSerial(c.SerialNumber), at.Format(time.RFC3339))
		}
	}
	return nil
}
