package transport

import (
	"fmt"
	"time"
)

// DefaultOrder is the order in which a client tries transports: UDP is the
// fastest and the one stock WireGuard speaks, QUIC passes networks that let
// only UDP 443 through, TLS on TCP 443 passes networks that let only HTTPS
// through.
func DefaultOrder() []string { return []string{UDP, QUIC, TLS} }

// DefaultAttemptTimeout is how long Fallback waits for a handshake on one
// transport before moving to the next. WireGuard sends a handshake
// initiation at once and retries every 5 s, so 6 s covers one retry.
const DefaultAttemptTimeout = 6 * time.Second

// Fallback chooses which of a gateway's endpoints a client uses. It starts
// with the first candidate; while no WireGuard handshake has completed since
// the current candidate was chosen, it moves to the next one after the
// attempt timeout, wrapping around after the last. Once a handshake
// completes it stays, and it starts moving again only when handshakes stop
// for longer than StaleAfter (the gateway became unreachable over this
// transport), so a working transport is never abandoned for a short outage.
//
// Fallback is plain logic: the caller polls the peer's last handshake time
// and applies the endpoint it returns. It is not safe for concurrent use.
type Fallback struct {
	endpoints []string
	attempt   time.Duration
	stale     time.Duration
	current   int
	since     time.Time
}

// StaleAfter is how old the last handshake may get before Fallback treats
// the current transport as failed: WireGuard rekeys every 2 minutes while
// traffic flows, and a keepalive-driven session renews its handshake within
// 3 minutes, so 3 minutes without one means the path is gone.
const StaleAfter = 3 * time.Minute

// NewFallback returns a Fallback over endpoints (strings as ParseEndpoint of
// the multi Bind reads them, in order of preference), starting at now.
// attempt is the time given to each transport (DefaultAttemptTimeout if 0).
func NewFallback(endpoints []string, attempt time.Duration, now time.Time) (*Fallback, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("transport fallback: no endpoints")
	}
	if attempt < 0 {
		return nil, fmt.Errorf("transport fallback: negative attempt timeout %v", attempt)
	}
	if attempt == 0 {
		attempt = DefaultAttemptTimeout
	}
	return &Fallback{endpoints: append([]string(nil), endpoints...), attempt: attempt, stale: StaleAfter, since: now}, nil
}

// Current returns the endpoint in use.
func (f *Fallback) Current() string { return f.endpoints[f.current] }

// Observe takes the time now and the peer's last completed handshake (zero
// if none) and returns the endpoint to use, with changed true when it
// differs from the one before, so the caller must update the peer.
func (f *Fallback) Observe(now, lastHandshake time.Time) (endpoint string, changed bool) {
	if !lastHandshake.IsZero() && !lastHandshake.Before(f.since) {
		if now.Sub(lastHandshake) <= f.stale {
			return f.Current(), false
		}
		// The transport worked and went silent: give it one more attempt
		// period counted from the moment it went stale.
		f.since = lastHandshake.Add(f.stale)
	}
	if now.Sub(f.since) < f.attempt {
		return f.Current(), false
	}
	if len(f.endpoints) == 1 {
		f.since = now
		return f.Current(), false
	}
	f.current = (f.current + 1) % len(f.endpoints)
	f.since = now
	return f.Current(), true
}
