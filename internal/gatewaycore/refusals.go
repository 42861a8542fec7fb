package gatewaycore

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"intransit/internal/status"
)

// RefusalsKept is how many refusals a gateway keeps for its status.
const RefusalsKept = 32

// Reasons of refusals decided by the control server, before a control
// session starts (the session's own reasons are control.Reason names).
const (
	// ReasonSourceLimit: the source has Limits.PerSource handshakes in
	// progress already.
	ReasonSourceLimit = "source_limit"
	// ReasonBusy: every handshake slot is taken.
	ReasonBusy = "busy"
	// ReasonSessionsFull: every session slot is taken.
	ReasonSessionsFull = "sessions_full"
	// ReasonHandshakeTimeout: the TLS handshake did not complete within
	// Limits.HandshakeTimeout.
	ReasonHandshakeTimeout = "handshake_timeout"
)

// Refusals is a gateway's record of refused peers: the last RefusalsKept
// for the status, a count per reason for the metrics, and a log of at
// most one line per reason per interval. It is safe for concurrent use.
type Refusals struct {
	log *slog.Logger
	msg string

	mu   sync.Mutex
	ring []status.Refusal
	by   map[string]uint64
}

// NewRefusals returns an empty record that logs msg through log, limited
// to one line per reason every interval (LimitLog).
func NewRefusals(log *slog.Logger, msg string, every time.Duration) *Refusals {
	return &Refusals{log: LimitLog(log, every), msg: msg, by: map[string]uint64{}}
}

// Record keeps, counts and logs a refused connection.
func (r *Refusals) Record(remoteAddr, identity, reason, detail string) {
	r.mu.Lock()
	r.ring = append(r.ring, status.Refusal{Time: time.Now(), Remote: remoteAddr, Identity: identity, Reason: reason, Detail: detail})
	if len(r.ring) > RefusalsKept {
		r.ring = slices.Delete(r.ring, 0, len(r.ring)-RefusalsKept)
	}
	r.by[reason]++
	r.mu.Unlock()
	r.log.Warn(r.msg, "remote_addr", remoteAddr, "identity", identity, "reason", reason, "detail", detail)
}

// Count counts a refusal that is neither kept nor logged here (a dialing
// gateway refused by its remote, logged by the caller).
func (r *Refusals) Count(reason string) {
	r.mu.Lock()
	r.by[reason]++
	r.mu.Unlock()
}

// List returns the refusals kept, oldest first; never nil.
func (r *Refusals) List() []status.Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.ring)
	if out == nil {
		out = []status.Refusal{}
	}
	return out
}

// Counts returns the refusals counted so far by reason.
func (r *Refusals) Counts() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.by)
}
