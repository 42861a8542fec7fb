package gatewaycore

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
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
// most one line per reason per interval. Repeated refusals of one host
// (same address, identity and reason) share one entry of the ring, which
// says how often and since when, so that a flooding host cannot push the
// other refusals out of the status. It is safe for concurrent use.
type Refusals struct {
	log *slog.Logger
	msg string

	mu   sync.Mutex
	ring []refusalEntry
	by   map[string]uint64
}

// refusalEntry is one entry of the ring: the latest refusal of its kind,
// how many there were and when the first was.
type refusalEntry struct {
	last  status.Refusal
	host  string
	times uint64
	first time.Time
}

// NewRefusals returns an empty record that logs msg through log, limited
// to one line per reason every interval (LimitLog).
func NewRefusals(log *slog.Logger, msg string, every time.Duration) *Refusals {
	return &Refusals{log: LimitLog(log, every), msg: msg, by: map[string]uint64{}}
}

// Record keeps, counts and logs a refused connection.
func (r *Refusals) Record(remoteAddr, identity, reason, detail string) {
	now := time.Now()
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	e := refusalEntry{last: status.Refusal{Time: now, Remote: remoteAddr, Identity: identity, Reason: reason, Detail: detail},
		host: host, times: 1, first: now}
	r.mu.Lock()
	if i := slices.IndexFunc(r.ring, func(o refusalEntry) bool {
		return o.host == host && o.last.Identity == identity && o.last.Reason == reason
	}); i >= 0 {
		e.times, e.first = r.ring[i].times+1, r.ring[i].first
		r.ring = slices.Delete(r.ring, i, i+1)
	}
	r.ring = append(r.ring, e)
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

// List returns the refusals kept, oldest first, a repeated one with
// "(N times since T)" after its detail; never nil.
func (r *Refusals) List() []status.Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]status.Refusal, len(r.ring))
	for i, e := range r.ring {
		out[i] = e.last
		if e.times > 1 {
			out[i].Detail = fmt.Sprintf("%s (%d times since %s)", e.last.Detail, e.times, e.first.UTC().Format(time.RFC3339))
		}
	}
	return out
}

// Counts returns the refusals counted so far by reason.
func (r *Refusals) Counts() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.by)
}
