package transport

import (
	"errors"
	"fmt"
	"time"
)

// DefaultOrder is the order in which a client tries transports: UDP is the
// fastest and the one stock WireGuard speaks, QUIC passes networks that let
// only UDP 443 through, TLS on TCP 443 passes networks that let only HTTPS
// through.
func DefaultOrder() []string { return []string{UDP, QUIC, TLS} }

// Timing of a Monitor (see MonitorConfig).
const (
	// DefaultProbeEvery is how often the side that runs a Monitor sends a
	// probe through the tunnel.
	DefaultProbeEvery = time.Second
	// DefaultDeadAfter is how long a working transport may go without an
	// answered probe before it counts as dead: five probes in a row lost.
	DefaultDeadAfter = 5 * time.Second
	// UpWithin is how recent the newest answer must be for Health to call
	// the path up: three probes in a row lost make it degraded, before
	// DeadAfter moves to another transport.
	UpWithin = 3 * time.Second
	// DefaultAttempt is the time a transport gets to answer a probe after
	// the Monitor moved to it.
	DefaultAttempt = 4 * time.Second
	// DefaultRecheck is the first wait before a Monitor on a fallback
	// transport tries the preferred one again; it doubles while the
	// preferred one keeps failing, up to MaxRecheck, so that a preferred
	// transport that works again is back in use within a minute.
	DefaultRecheck = 20 * time.Second
	MaxRecheck     = 40 * time.Second
	// DefaultRecheckWait is how long a recheck of the preferred transport
	// waits for an answer before going back to the fallback.
	DefaultRecheckWait = 2 * time.Second
	// sessionLifetime is how long a WireGuard session's keys serve
	// (RejectAfterTime): without a handshake since, a move needs a fresh
	// handshake, so the peer is re-created.
	sessionLifetime = 180 * time.Second
	// While no session exists the peer is re-created, and so a new
	// handshake initiation sent, after retryFirst, then at doubling
	// intervals up to retryMax: WireGuard itself retries only every 5 s,
	// and the first initiation may reach the peer a moment before the peer
	// has installed the session's first PSK.
	retryFirst = 100 * time.Millisecond
	retryMax   = time.Second
)

// MonitorConfig configures a Monitor; zero durations take the defaults.
type MonitorConfig struct {
	// Endpoints are the peer's endpoints in order of preference (strings
	// as ParseEndpoint of the multi Bind reads them). The side that
	// chooses the transport (a client, a dialing gateway) lists them; the
	// side that follows its peer's choice (WireGuard roaming) leaves them
	// empty, and its Monitor only judges the path.
	Endpoints []string
	// DeadAfter, Attempt, Recheck and RecheckWait: see the Default
	// constants.
	DeadAfter, Attempt, Recheck, RecheckWait time.Duration
	// GiveUpAfter, when set, lets a choosing Monitor give up the peer
	// itself for another one (a client with several gateways): once the
	// peer has answered, GiveUpAfter without any answer over any of its
	// endpoints makes Observe return GiveUp. A peer that never answered
	// is not given up: its transports are all tried, as for a peer alone.
	GiveUpAfter time.Duration
}

// Observation is what the caller of a Monitor sees of the peer.
type Observation struct {
	// Now is the time of the observation.
	Now time.Time
	// Reply is the newest answered probe: when its request was sent and
	// when the answer came (tunnel.Device.LastProbeReply).
	ReplySent, ReplyReceived time.Time
	// LastHandshake is the peer's last completed WireGuard handshake
	// (zero when none since the peer was created).
	LastHandshake time.Time
	// Endpoint is the peer's endpoint as WireGuard reports it: it follows
	// the peer's packets.
	Endpoint string
}

// Action is what the caller must do with the endpoint a Monitor returns.
type Action int

// Actions.
const (
	// Keep: nothing to change.
	Keep Action = iota
	// Move: point the running peer at the endpoint; its session stays.
	Move
	// Renew: re-create the peer on the endpoint, so that a fresh
	// handshake starts at once (used while no session exists).
	Renew
	// GiveUp: the peer is gone (MonitorConfig.GiveUpAfter); end its
	// session and use another peer. The Monitor decides nothing more.
	GiveUp
)

func (a Action) String() string {
	switch a {
	case Keep:
		return "keep"
	case Move:
		return "move"
	case Renew:
		return "renew"
	case GiveUp:
		return "give up"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Health is a Monitor's judgement of the data plane.
type Health struct {
	// Up is true when a probe sent over the transport in use was answered
	// within UpWithin.
	Up bool
	// Transport is the transport in use (for a following Monitor, the one
	// the peer's packets last came over).
	Transport string
	// Reason says why the path is not up ("" when it is).
	Reason string
	// LastAnswer is when the newest counted answer arrived.
	LastAnswer time.Time
}

// Monitor states.
const (
	stateTrying     = "trying"     // moved to cur, no answer over it yet
	stateWorking    = "working"    // cur answers
	stateRechecking = "rechecking" // trying the preferred transport again; back to working on failure
	stateGivenUp    = "given up"   // the peer is gone (GiveUpAfter)
)

// Monitor is the one path monitor of the project: it judges a transport
// by the peer's answers to probes sent through the tunnel (see
// tunnel.Device.SendProbe), which prove that authenticated traffic passes
// in both directions, never by byte counters or by the control channel.
// The caller sends a probe every DefaultProbeEvery (and at once after a
// Move or Renew), polls the peer often (every 100-200 ms), hands each
// Observation to Observe and applies what it returns.
//
// A choosing Monitor (Endpoints given) starts on the first endpoint. It
// never moves while probes are answered, however idle the tunnel: the
// probes are its own traffic. When no probe sent over the transport in
// use has been answered for DeadAfter (whether the path died in one
// direction or both), it moves to the next endpoint, and to the next
// after Attempt without an answer, wrapping around. From a fallback it
// rechecks the preferred endpoint after Recheck (doubling up to
// MaxRecheck while it keeps failing): it moves there, and goes back to the
// fallback unless a probe sent over it is answered within RecheckWait, so
// a recheck of a still-blocked transport holds traffic toward the peer up
// for at most RecheckWait. WireGuard roams the peer to wherever the
// peer's packets come from; a choosing Monitor points it back (Move).
//
// Only answers to probes sent after the last move count, so an answer
// still in flight over the old transport proves nothing about the new one.
//
// Monitor is plain logic with the clock in the Observations; it is not
// safe for concurrent use.
type Monitor struct {
	cfg   MonitorConfig
	state string
	cur   int
	since time.Time // when cur was chosen (or the recheck started)

	lastAnswer time.Time // newest counted answer
	lastRetry  time.Time
	retryWait  time.Duration
	fallbackTo int
	recheck    time.Duration
	endpoint   string // the endpoint WireGuard last reported
}

// NewMonitor returns a Monitor started at now.
func NewMonitor(cfg MonitorConfig, now time.Time) (*Monitor, error) {
	for _, d := range []time.Duration{cfg.DeadAfter, cfg.Attempt, cfg.Recheck, cfg.RecheckWait, cfg.GiveUpAfter} {
		if d < 0 {
			return nil, errors.New("path monitor: negative duration")
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.DeadAfter, DefaultDeadAfter)
	def(&cfg.Attempt, DefaultAttempt)
	def(&cfg.Recheck, DefaultRecheck)
	def(&cfg.RecheckWait, DefaultRecheckWait)
	cfg.Endpoints = append([]string(nil), cfg.Endpoints...)
	return &Monitor{cfg: cfg, state: stateTrying, since: now, lastRetry: now, retryWait: retryFirst, recheck: cfg.Recheck}, nil
}

// Current returns the endpoint in use ("" for a following Monitor).
func (m *Monitor) Current() string {
	if len(m.cfg.Endpoints) == 0 {
		return ""
	}
	return m.cfg.Endpoints[m.cur]
}

// State names the Monitor's state: trying, working, rechecking or given
// up.
func (m *Monitor) State() string { return m.state }

// Observe takes an observation and returns the endpoint to use and what
// to do with it.
func (m *Monitor) Observe(o Observation) (string, Action) {
	m.endpoint = o.Endpoint
	answered := !o.ReplyReceived.IsZero() && !o.ReplySent.Before(m.since)
	if answered && o.ReplyReceived.After(m.lastAnswer) {
		m.lastAnswer = o.ReplyReceived
	}
	if len(m.cfg.Endpoints) == 0 {
		if answered {
			m.state = stateWorking
		}
		return "", Keep
	}
	if m.state == stateGivenUp {
		return m.Current(), GiveUp
	}
	if m.cfg.GiveUpAfter > 0 && !m.lastAnswer.IsZero() && o.Now.Sub(m.lastAnswer) >= m.cfg.GiveUpAfter {
		m.state = stateGivenUp
		return m.Current(), GiveUp
	}
	session := !o.LastHandshake.IsZero() && o.Now.Sub(o.LastHandshake) < sessionLifetime
	switch m.state {
	case stateTrying:
		if answered {
			if m.cur == 0 {
				m.recheck = m.cfg.Recheck
			}
			m.state = stateWorking
			return m.pointBack(o)
		}
		if o.Now.Sub(m.since) >= m.cfg.Attempt {
			return m.moveTo((m.cur+1)%len(m.cfg.Endpoints), stateTrying, o.Now, session)
		}
		if !session && o.Now.Sub(m.lastRetry) >= m.retryWait {
			m.lastRetry, m.retryWait = o.Now, min(2*m.retryWait, retryMax)
			return m.Current(), Renew
		}
		return m.pointBack(o)
	case stateRechecking:
		if answered {
			m.recheck = m.cfg.Recheck
			m.state = stateWorking
			return m.pointBack(o)
		}
		if o.Now.Sub(m.since) >= m.cfg.RecheckWait {
			m.recheck = min(2*m.recheck, MaxRecheck)
			// The fallback worked until the recheck: it counts as
			// answering from now, and DeadAfter judges it again.
			m.cur, m.state, m.since, m.lastAnswer = m.fallbackTo, stateWorking, o.Now, o.Now
			return m.Current(), Move
		}
		return m.pointBack(o)
	default:
		last := m.lastAnswer
		if last.Before(m.since) {
			last = m.since
		}
		if o.Now.Sub(last) >= m.cfg.DeadAfter {
			return m.moveTo((m.cur+1)%len(m.cfg.Endpoints), stateTrying, o.Now, session)
		}
		if m.cur != 0 && o.Now.Sub(m.since) >= m.recheck {
			m.fallbackTo = m.cur
			m.cur, m.state, m.since = 0, stateRechecking, o.Now
			return m.Current(), Move
		}
		return m.pointBack(o)
	}
}

// moveTo switches to endpoint i in state.
func (m *Monitor) moveTo(i int, state string, now time.Time, session bool) (string, Action) {
	m.cur, m.state, m.since, m.lastRetry, m.retryWait = i, state, now, now, retryFirst
	if session {
		return m.Current(), Move
	}
	return m.Current(), Renew
}

// pointBack returns Move when WireGuard roamed the peer to another
// transport than the one in use, else Keep.
func (m *Monitor) pointBack(o Observation) (string, Action) {
	if o.Endpoint != "" && SchemeOf(o.Endpoint) != SchemeOf(m.Current()) {
		return m.Current(), Move
	}
	return m.Current(), Keep
}

// Health judges the data plane at now: up when a probe sent over the
// transport in use was answered within UpWithin.
func (m *Monitor) Health(now time.Time) Health {
	h := Health{Transport: SchemeOf(m.Current()), LastAnswer: m.lastAnswer}
	if len(m.cfg.Endpoints) == 0 {
		h.Transport = ""
		if m.endpoint != "" {
			h.Transport = SchemeOf(m.endpoint)
		}
	}
	since := m.since
	if m.state == stateRechecking {
		// Traffic flows over the fallback while the preferred transport
		// is rechecked: judge the fallback.
		h.Transport = SchemeOf(m.cfg.Endpoints[m.fallbackTo])
		since = time.Time{}
	}
	if !m.lastAnswer.IsZero() && !m.lastAnswer.Before(since) && now.Sub(m.lastAnswer) < UpWithin {
		h.Up = true
		return h
	}
	silent := "no answer through the tunnel yet"
	if !m.lastAnswer.IsZero() {
		silent = "no answer through the tunnel for " + now.Sub(m.lastAnswer).Round(time.Second).String()
	}
	if m.state == stateTrying && len(m.cfg.Endpoints) > 0 {
		h.Reason = fmt.Sprintf("%s; trying %s for %s", silent, h.Transport, now.Sub(m.since).Round(time.Second))
	} else {
		h.Reason = fmt.Sprintf("%s over %s", silent, orAny(h.Transport))
	}
	return h
}

func orAny(s string) string {
	if s == "" {
		return "any transport"
	}
	return s
}
