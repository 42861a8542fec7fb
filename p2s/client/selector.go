package client

import (
	"errors"
	"time"

	"intransit/tunnel/transport"
)

// Timing of the transport selection.
const (
	// DefaultAttempt is the time a transport gets to complete a WireGuard
	// handshake before the next one is tried.
	DefaultAttempt = 4 * time.Second
	// DefaultStallAfter is how long nothing may arrive from the gateway
	// (which sends a keepalive every 2 s) before the transport in use
	// counts as broken.
	DefaultStallAfter = 5 * time.Second
	// DefaultProbeEvery is the first wait before a client that fell back
	// tries the first transport (udp) again; it doubles up to maxProbeEvery
	// while the first transport keeps failing.
	DefaultProbeEvery = 20 * time.Second
	maxProbeEvery     = 5 * time.Minute
	// probeAttempt is the time a probe of the first transport gets. A
	// probe only points the working session at the first transport: if
	// the gateway's packets (a keepalive at least every 2 s) keep coming
	// over the fallback, WireGuard roams the peer back to it and the probe
	// failed; if they come over the first transport, it works.
	probeAttempt = 3 * time.Second
	// probeGrace is how long after the start of a probe packets still in
	// flight over the fallback are expected.
	probeGrace = 500 * time.Millisecond
	// While a transport is being tried the peer is re-created, and so a
	// new handshake initiation sent, after retryFirst, then at doubling
	// intervals up to retryMax: WireGuard itself retries only every 5 s,
	// and the first initiation usually reaches the gateway a moment before
	// the gateway has installed the session's first PSK.
	retryFirst = 100 * time.Millisecond
	retryMax   = time.Second
)

// Selector states.
const (
	stateTrying  = "trying"  // a fresh handshake is running on cur
	stateWorking = "working" // cur carries traffic
	stateProbing = "probing" // trying the first transport again, back to working on failure
)

// selector chooses the gateway endpoint a client uses: it tries the
// endpoints in order until a fresh WireGuard handshake completes on one
// (each try re-creates the peer, so that success is proved on that
// transport alone), moves on when the one in use stops carrying anything
// from the gateway for stallAfter, and from a fallback transport probes
// the first one now and then without dropping the session (see
// probeAttempt). It is plain logic: the caller polls the peer and applies
// what it returns. Not safe for concurrent use.
type selector struct {
	endpoints                  []string
	attempt, stallAfter, probe time.Duration

	state      string
	cur        int
	since      time.Time // when cur was chosen
	lastTry    time.Time // when the peer was last re-created on cur
	retryWait  time.Duration
	lastRx     time.Time // when rx last grew
	rx         uint64
	fallbackTo int // the working endpoint to return to after a failed probe
	probeWait  time.Duration
}

func newSelector(endpoints []string, attempt, stallAfter, probe time.Duration, now time.Time) (*selector, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("the gateway advertises none of the transports this client uses")
	}
	return &selector{endpoints: endpoints, attempt: attempt, stallAfter: stallAfter, probe: probe, probeWait: probe,
		state: stateTrying, since: now, lastRx: now, lastTry: now, retryWait: retryFirst}, nil
}

// current returns the endpoint in use.
func (s *selector) current() string { return s.endpoints[s.cur] }

// working reports whether the endpoint in use carries traffic.
func (s *selector) working() bool { return s.state == stateWorking }

// action is what the caller must do with the endpoint observe returns.
type action int

const (
	keep  action = iota // nothing
	renew               // re-create the peer on the endpoint (a fresh handshake)
	move                // point the running peer at the endpoint (keeps the session)
)

// observe takes the time, the peer's last handshake (zero when none since
// the peer was last re-created), its received bytes and its current
// endpoint (WireGuard moves it to where the gateway's packets come from),
// and returns the endpoint to use and what to do with it.
func (s *selector) observe(now, lastHandshake time.Time, rx uint64, current string) (string, action) {
	grew := rx > s.rx
	s.rx = rx
	if grew {
		s.lastRx = now
	}
	if s.state == stateProbing {
		switch {
		case schemeOf(current) != schemeOf(s.current()) && now.Sub(s.since) < probeGrace:
			// A packet the gateway sent before it heard us on the first
			// transport came over the fallback: point the peer back.
			return s.current(), move
		case schemeOf(current) != schemeOf(s.current()):
			// The gateway's packets still come over the fallback: WireGuard
			// has roamed the peer back to it.
			s.probeWait = min(2*s.probeWait, maxProbeEvery)
			s.cur, s.state, s.since, s.lastRx = s.fallbackTo, stateWorking, now, now
			return s.current(), move
		case now.Sub(s.since) >= probeAttempt && grew:
			s.probeWait = s.probe
			s.state, s.since = stateWorking, now
			return s.current(), keep
		case now.Sub(s.since) >= 2*probeAttempt:
			s.probeWait = min(2*s.probeWait, maxProbeEvery)
			s.cur, s.state, s.since, s.lastRx = s.fallbackTo, stateWorking, now, now
			return s.current(), move
		}
		return s.current(), keep
	}
	switch s.state {
	case stateTrying:
		if !lastHandshake.IsZero() {
			if s.cur == 0 {
				s.probeWait = s.probe
			}
			s.state, s.since, s.lastRx = stateWorking, now, now
			return s.current(), keep
		}
		if now.Sub(s.since) < s.attempt {
			if now.Sub(s.lastTry) >= s.retryWait {
				s.lastTry, s.retryWait = now, min(2*s.retryWait, retryMax)
				return s.current(), renew
			}
			return s.current(), keep
		}
		s.switchTo((s.cur+1)%len(s.endpoints), stateTrying, now)
		return s.current(), renew
	default:
		if now.Sub(s.lastRx) >= s.stallAfter {
			s.switchTo((s.cur+1)%len(s.endpoints), stateTrying, now)
			return s.current(), renew
		}
		if s.cur != 0 && now.Sub(s.since) >= s.probeWait {
			s.fallbackTo = s.cur
			s.cur, s.state, s.since = 0, stateProbing, now
			return s.current(), move
		}
		return s.current(), keep
	}
}

func (s *selector) switchTo(i int, state string, now time.Time) {
	s.cur, s.state, s.since, s.lastRx, s.lastTry, s.retryWait, s.rx = i, state, now, now, now, retryFirst, 0
}

// schemeOf names the transport of an endpoint ("udp" for a plain one).
func schemeOf(ep string) string {
	scheme, _ := transport.SplitScheme(ep)
	if scheme == "" {
		return transport.UDP
	}
	return scheme
}
