package gatewaycore

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"intransit/tlspolicy"
	"intransit/tunnel/control"
)

// Identity is a gateway's TLS identity and trust: its certificate and key,
// the CAs its peers chain to, their revocation list, the TLS profile, and
// the TLS metrics. The files reload in place (Reload).
type Identity struct {
	// Certificate is the gateway's certificate and key.
	Certificate *tlspolicy.KeyPairFiles
	// CAs are the CAs that peers' certificates chain to, Revocation
	// their CRL.
	CAs        *tlspolicy.CAFile
	Revocation *tlspolicy.Revocation
	// Profile is the TLS profile of the control channel and of the quic
	// and tls transports; Complete sets tlspolicy's pq profile when nil.
	Profile *tlspolicy.Profile
	// TLSMetrics counts TLS handshakes and refusals; nil counts nothing.
	TLSMetrics *tlspolicy.Metrics
}

// Complete checks that the certificate, the CAs and the CRL are there and
// fills in the default profile; what names the gateway in the error.
func (id *Identity) Complete(what string) error {
	if id.Certificate == nil || id.CAs == nil || id.Revocation == nil {
		return fmt.Errorf("%s: the gateway needs its certificate, the CAs and the CRL", what)
	}
	if id.Profile == nil {
		p, err := tlspolicy.Builtin(tlspolicy.PQ)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		id.Profile = p
	}
	return nil
}

// Options are the tlspolicy options of the identity, logging through log.
func (id *Identity) Options(log *slog.Logger) tlspolicy.Options {
	return tlspolicy.Options{Profile: id.Profile, Certificate: id.Certificate, CAs: id.CAs, Revocation: id.Revocation,
		Logger: log, Metrics: id.TLSMetrics}
}

// Own is the gateway's own certificate as the control channel needs it.
type Own struct {
	// Identity names the certificate (control.IdentityOf), NotAfter is its
	// expiry.
	Identity string
	NotAfter time.Time
	// Signer is its private key, which signs the WireGuard key binding.
	Signer crypto.Signer
}

// Own returns the gateway's current certificate identity, expiry and key.
func (id *Identity) Own() (Own, error) {
	cert, err := id.Certificate.Certificate()
	if err != nil {
		return Own{}, err
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return Own{}, fmt.Errorf("own certificate: %w", err)
		}
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return Own{}, errors.New("the certificate's private key cannot sign")
	}
	return Own{Identity: control.IdentityOf(leaf), NotAfter: leaf.NotAfter, Signer: signer}, nil
}

// Reload re-reads the certificate, the CAs and the CRL; broken new
// material is refused and the current one kept.
func (id *Identity) Reload(ctx context.Context) error {
	var errs []error
	for _, r := range []tlspolicy.Reloader{id.Certificate, id.CAs, id.Revocation} {
		if err := r.Reload(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Why a watched session is cut.
const (
	CutRevoked = "revoked"
	CutExpired = "expired"
)

// Watched is a running session whose peer certificate Watch checks.
type Watched interface {
	// PeerCertificate is the session's verified peer certificate; nil
	// while it has none yet.
	PeerCertificate() *x509.Certificate
	// Cut ends the session because its certificate is no longer valid:
	// why is CutRevoked or CutExpired, detail what the peer is told. It
	// must not block.
	Cut(why, detail string)
}

// Verdict says whether a peer certificate must be cut at now: CutRevoked
// when the CRL revokes it, CutExpired after its expiry, "" otherwise, with
// the detail to tell the peer.
func (id *Identity) Verdict(leaf *x509.Certificate, now time.Time) (why, detail string) {
	if ref := id.Revocation.Check([]*x509.Certificate{leaf}); ref != nil && ref.Reason == tlspolicy.ReasonRevoked {
		return CutRevoked, "certificate revoked: " + ref.Err.Error()
	}
	return expiry(leaf, now)
}

// expiry is the part of Verdict that time alone decides.
func expiry(leaf *x509.Certificate, now time.Time) (why, detail string) {
	if now.After(leaf.NotAfter) {
		return CutExpired, "certificate expired at " + leaf.NotAfter.UTC().Format(time.RFC3339)
	}
	return "", ""
}

// Watch cuts the sessions whose certificate was revoked or has expired,
// until ctx ends. sessions returns the running sessions; Watch calls it at
// start, every interval, and at once when the revocation state changes (a
// new CRL, a revocation from the store's feed). A certificate is checked
// against the revocation state when Watch first sees it and again after
// every change of that state; at the other ticks only its expiry is
// compared, since nothing else can have changed, so that holding many idle
// sessions costs a time comparison each rather than a CRL lookup.
func (id *Identity) Watch(ctx context.Context, every time.Duration, sessions func() []Watched) {
	t := time.NewTicker(every)
	defer t.Stop()
	now := time.Now()
	// checked holds the certificates found good by a full Verdict since
	// the last change; a session admitted while a change was being
	// applied is not in it and gets the full check at the next tick.
	checked, next := map[*x509.Certificate]struct{}{}, map[*x509.Certificate]struct{}{}
	full := true
	for {
		// Taken before the check: a change during it wakes the next wait.
		changed := id.Revocation.Changed()
		for _, s := range sessions() {
			leaf := s.PeerCertificate()
			if leaf == nil {
				continue
			}
			var why, detail string
			if _, ok := checked[leaf]; ok && !full {
				why, detail = expiry(leaf, now)
			} else {
				why, detail = id.Verdict(leaf, now)
			}
			if why != "" {
				s.Cut(why, detail)
				continue
			}
			next[leaf] = struct{}{}
		}
		checked, next = next, checked
		clear(next)
		full = false
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		case <-changed:
			now = time.Now()
			full = true
		}
	}
}
