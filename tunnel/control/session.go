package control

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"intransit/tunnel/pqpsk"
)

// Conn is the TLS connection a session runs over; *tls.Conn implements it.
// The session requires TLS 1.3 and a peer certificate on both ends.
type Conn interface {
	net.Conn
	// HandshakeContext completes the TLS handshake.
	HandshakeContext(ctx context.Context) error
	// ConnectionState describes the completed handshake.
	ConnectionState() tls.ConnectionState
}

// Role is a session's end of the control protocol.
type Role uint8

// Roles. The initiator dialed the control connection, speaks first and
// proposes every PSK rotation; the responder accepted it.
const (
	Initiator Role = 1
	Responder Role = 2
)

// String returns "initiator" or "responder".
func (r Role) String() string {
	switch r {
	case Initiator:
		return "initiator"
	case Responder:
		return "responder"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Defaults of Config.
const (
	DefaultRotationPeriod    = 2 * time.Minute
	DefaultKeepaliveInterval = 5 * time.Second
	DefaultDeadAfter         = 15 * time.Second
)

// Config is one end of a session.
type Config struct {
	// Role is this end's role; required.
	Role Role
	// Kind is what this end is; a Responder must be a KindGateway.
	Kind Kind
	// WireGuardKey is this end's WireGuard static public key.
	WireGuardKey [32]byte
	// Signer is the private key of this end's TLS certificate; it signs
	// the WireGuard key over the TLS exporter.
	Signer crypto.Signer
	// Prefixes are the local site prefixes offered to the peer. A client
	// offers none.
	Prefixes []netip.Prefix
	// Transports are this end's data-plane endpoints, in order of preference.
	Transports []Transport
	// Admit decides on the peer once its Hello (and, on a client, the
	// Assignment) has been verified, and says what the local configuration
	// allows it; return Refuse(...) to refuse with a reason. It runs while
	// the peer waits, so it must return well within DeadAfter. Required.
	Admit func(ctx context.Context, p *Peer) (*Admission, error)
	// InstallPSK installs the PSK of a completed rotation into WireGuard.
	// It is called once per epoch, starting at 1 right after the Hello
	// exchange (the moment to configure the WireGuard peer), and must
	// return only once the key is in place. Required.
	InstallPSK func(ctx context.Context, p *Peer, epoch uint64, psk pqpsk.PSK) error
	// RotationPeriod is the time between rotations (DefaultRotationPeriod
	// when zero). Only the initiator uses it.
	RotationPeriod time.Duration
	// KeepaliveInterval is the time between pings (DefaultKeepaliveInterval
	// when zero).
	KeepaliveInterval time.Duration
	// DeadAfter is how long the peer may stay silent, or leave a step of
	// the protocol unanswered, before the session ends with ErrDeadPeer
	// (DefaultDeadAfter when zero). It must exceed KeepaliveInterval.
	DeadAfter time.Duration
	// Liveness, when set, returns when the data plane last carried
	// authenticated traffic from the peer (the zero time when it never
	// did): such traffic counts as hearing from the peer, so that a session
	// whose tunnel carries traffic pings only to check the control
	// connection, once the control channel carried nothing for DeadAfter,
	// and a peer is dead once both the control channel and the data plane
	// stayed silent for DeadAfter (or a ping went unanswered for DeadAfter).
	// It is called from the session's goroutine, at most about once per
	// KeepaliveInterval and on every wake-up; it must not block on the
	// session.
	Liveness func() time.Time
	// Rand is the randomness for the KEM; crypto/rand when nil.
	Rand io.Reader
	// Metrics counts sessions and rotations; nil counts nothing.
	Metrics *Metrics
	// Logger receives session events; nil discards them. Keys are never
	// logged, only their fingerprints.
	Logger *slog.Logger
}

// Admission is what the local configuration allows an admitted peer.
type Admission struct {
	// AllowedPrefixes are the prefixes the peer may be routed for (see
	// Agree). On a client they bound the routes the gateway pushes; on a
	// gateway admitting a client they must cover its assigned addresses
	// (the address pools, which must not overlap the local site prefixes).
	AllowedPrefixes []netip.Prefix
	// Assignment is what a gateway assigns to a point-to-site client;
	// required when the peer is a client, nil otherwise.
	Assignment *Assignment
}

// Peer is what a session learned about the other end.
type Peer struct {
	// Certificate is the peer's verified TLS leaf certificate.
	Certificate *x509.Certificate
	// Identity names the peer: its first URI SAN, else its first DNS SAN,
	// else its common name.
	Identity string
	// Kind is what the peer is.
	Kind Kind
	// WireGuardKey is the peer's WireGuard static public key, bound to
	// Certificate by a verified signature over this TLS session.
	WireGuardKey [32]byte
	// Offered are the prefixes the peer offered.
	Offered []netip.Prefix
	// Routes is the agreement on what this end routes toward the peer: the
	// peer's WireGuard allowed IPs and the routes to install.
	Routes Agreement
	// Transports are the peer's data-plane endpoints.
	Transports []Transport
	// Assignment is the point-to-site assignment: received from the gateway
	// on a client, sent to the client on a gateway; nil site-to-site.
	Assignment *Assignment
}

// Status is a snapshot of a running session.
type Status struct {
	// Epoch is the epoch of the PSK in place; 0 before the first.
	Epoch uint64
	// PSKID is the fingerprint of the PSK in place.
	PSKID string
	// PSKInstalled is when the PSK in place was installed.
	PSKInstalled time.Time
	// LastHeard is when the last message from the peer arrived.
	LastHeard time.Time
	// RTT is the round trip time of the last answered ping.
	RTT time.Duration
}

// Session runs the control protocol over one connection. A running
// session is one goroutine (the caller of Run), which waits on its
// connection with a read deadline at the next timer; Close, Rotate and the
// end of Run's context wake it by moving the deadline.
type Session struct {
	cfg  Config
	conn Conn
	log  *slog.Logger
	stop chan *SessionError
	now  chan struct{}

	mu     sync.Mutex
	status Status
	// woken says that Close, Rotate or the context asked the session to
	// look at its signals; reading says that Run is waiting on the
	// connection (after the TLS handshake), where a past read deadline
	// wakes it.
	woken, reading bool
}

// New checks cfg and returns a session over conn. The session owns conn
// from now on: Run closes it.
func New(conn Conn, cfg Config) (*Session, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("control: config: %w", err)
	}
	if cfg.RotationPeriod == 0 {
		cfg.RotationPeriod = DefaultRotationPeriod
	}
	if cfg.KeepaliveInterval == 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if cfg.DeadAfter == 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	if cfg.DeadAfter <= cfg.KeepaliveInterval {
		return nil, fmt.Errorf("control: config: DeadAfter %s must exceed KeepaliveInterval %s", cfg.DeadAfter, cfg.KeepaliveInterval)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Session{cfg: cfg, conn: conn, log: log.With("role", cfg.Role.String()), stop: make(chan *SessionError, 1), now: make(chan struct{}, 1)}, nil
}

func (c *Config) check() error {
	switch {
	case c.Role != Initiator && c.Role != Responder:
		return fmt.Errorf("role %d: want Initiator or Responder", c.Role)
	case c.Kind != KindGateway && c.Kind != KindClient:
		return fmt.Errorf("kind %d: want KindGateway or KindClient", c.Kind)
	case c.Role == Responder && c.Kind != KindGateway:
		return errors.New("a responder must be a gateway: clients only dial")
	case c.Kind == KindClient && len(c.Prefixes) > 0:
		return errors.New("a client offers no prefixes")
	case c.Signer == nil:
		return errors.New("no certificate key (Signer) to sign the WireGuard key binding")
	case c.Admit == nil:
		return errors.New("no Admit callback")
	case c.InstallPSK == nil:
		return errors.New("no InstallPSK callback")
	case c.RotationPeriod < 0 || c.KeepaliveInterval < 0 || c.DeadAfter < 0:
		return errors.New("negative duration")
	}
	if err := ValidatePrefixes("prefixes", c.Prefixes); err != nil {
		return err
	}
	probe := &Hello{Kind: c.Kind, KeySignature: []byte{0}, Prefixes: c.Prefixes, Transports: c.Transports}
	if _, err := Encode(probe); err != nil {
		return fmt.Errorf("local hello: %w", err)
	}
	return nil
}

// Close asks a running session to end in order, telling the peer why (for
// example ReasonRevoked when the peer's certificate was revoked, or
// ReasonRemoved after a reload). Run then returns a *SessionError with
// Closed set. It does not block; only the first call counts.
func (s *Session) Close(reason Reason, detail string) {
	select {
	case s.stop <- &SessionError{Reason: reason, Detail: detail, Closed: true}:
	default:
	}
	s.wake()
}

// Rotate asks a running initiator for a PSK rotation now, or right after
// the one in flight, instead of waiting for the rotation period (after a
// reload, or on an operator's request). It does not block. Only the
// initiator rotates; on a responder it returns an error.
func (s *Session) Rotate() error {
	if s.cfg.Role != Initiator {
		return errors.New("control: only the initiator of a session proposes rotations")
	}
	select {
	case s.now <- struct{}{}:
	default:
	}
	s.wake()
	return nil
}

// wake makes a waiting Run look at its signals.
func (s *Session) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.woken = true
	if s.reading {
		// A deadline in the past ends the read at once. An error means the
		// connection is closed, which ends the read too.
		_ = s.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// arm sets the read deadline for the next read, unless the session was
// woken since the last call (then it returns false: look at the signals
// first).
func (s *Session) arm(deadline time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.woken {
		s.woken = false
		return false, nil
	}
	if err := s.conn.SetReadDeadline(deadline); err != nil {
		return false, fmt.Errorf("control: read deadline: %w", err)
	}
	s.reading = true
	return true, nil
}

func (s *Session) disarm() {
	s.mu.Lock()
	s.reading = false
	s.mu.Unlock()
}

// Status returns a snapshot of the session.
func (s *Session) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// inbound is one result of reading the connection.
type inbound struct {
	m   Message
	err error
}

// run holds the state of one Run.
type run struct {
	*Session
	cs     tls.ConnectionState
	frames *frameReader
	peer   *Peer
	heard  time.Time

	// rotation state
	epoch    uint64 // last installed epoch
	pending  uint64 // epoch in flight, 0 when idle
	since    time.Time
	proposal *pqpsk.Proposal
	secret   *pqpsk.Secret
	acked    bool // initiator: pending epoch installed locally, waiting for ack
	again    bool // initiator: Rotate was called while a rotation was in flight

	pingSeq    uint64
	pingSent   time.Time
	unanswered time.Time // the first ping not answered yet (see tick)
	readEnd    bool      // the connection delivered its final error
}

// Run performs the TLS handshake, exchanges Hellos, then keeps the session:
// PSK rotations, keepalives, and the peer's messages, until ctx ends, Close
// is called, the peer ends the session or stops answering, or the
// connection fails. It always returns a non-nil error and closes the
// connection: ctx's error, a *SessionError (refusals and closes in either
// direction, ErrDeadPeer), or a connection error. Run is called once.
func (s *Session) Run(ctx context.Context) error {
	defer s.conn.Close()
	stopWaking := context.AfterFunc(ctx, s.wake)
	defer stopWaking()
	r := &run{Session: s, frames: &frameReader{r: s.conn}}
	// The TLS handshake and the Hello exchange (x509, ML-KEM, ECDSA) run on
	// a goroutine that ends with them: the stack they grow is then not kept
	// by this one, which spends the session waiting on the connection.
	type stage struct{ handshake, hello error }
	done := make(chan stage, 1)
	go func() {
		if err := r.handshake(ctx); err != nil {
			done <- stage{handshake: err}
			return
		}
		done <- stage{hello: r.establish(ctx)}
	}()
	st := <-done
	if st.handshake != nil {
		return st.handshake
	}
	err := st.hello
	if err == nil {
		err = r.loop(ctx)
	}
	var se *SessionError
	if !errors.As(err, &se) && ctx.Err() == nil {
		err = r.peerReason(err)
	}
	if r.proposal != nil {
		r.proposal.Discard()
	}
	switch {
	case errors.As(err, &se) && !se.Remote:
		r.sendFinal(se)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		r.sendFinal(&SessionError{Reason: ReasonShutdown, Detail: "shutting down", Closed: true})
	}
	r.logEnd(ctx, err)
	s.cfg.Metrics.sessionEnded(ctx, s.cfg.Role, err)
	return err
}

// reasonGrace is how long a session that failed on its connection waits
// for a refusal or close the peer may have sent just before.
const reasonGrace = 250 * time.Millisecond

// peerReason returns the peer's refusal or close if one arrives within
// reasonGrace, else err. A peer that ends a session sends its reason and
// closes; a ping this end writes at that moment fails before the session
// has read the reason, which must not be lost.
func (r *run) peerReason(err error) error {
	if r.readEnd {
		return err
	}
	deadline := time.Now().Add(reasonGrace)
	for time.Now().Before(deadline) {
		in, ok := r.next(deadline)
		if !ok {
			continue
		}
		if in.err != nil {
			return err
		}
		switch m := in.m.(type) {
		case *Refusal:
			return &SessionError{Reason: m.Reason, Detail: m.Detail, Remote: true}
		case *Close:
			return &SessionError{Reason: m.Reason, Detail: m.Detail, Remote: true, Closed: true}
		}
	}
	return err
}

// logEnd logs why the session ended: a warning unless it was asked to end.
func (r *run) logEnd(ctx context.Context, err error) {
	var se *SessionError
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		r.log.Info("control session ended", "why", "context done")
	case errors.As(err, &se):
		level := slog.LevelWarn
		if se.Closed && (se.Reason == ReasonShutdown || !se.Remote) {
			level = slog.LevelInfo
		}
		r.log.Log(ctx, level, "control session ended", "reason", se.Reason.String(), "by_peer", se.Remote, "err", err.Error())
	default:
		r.log.Warn("control session ended", "err", err.Error())
	}
}

// next reads the next message, waiting until deadline at most. It returns
// false when the deadline passed or the session was woken before a message
// arrived (a message begun is kept for the next call). It reads from the
// TLS connection without a buffer of its own: the connection already
// holds a decrypted record, and an idle session then holds no read buffer
// beyond the connection's.
func (r *run) next(deadline time.Time) (inbound, bool) {
	ok, err := r.arm(deadline)
	if err != nil {
		return inbound{err: err}, true
	}
	if !ok {
		return inbound{}, false
	}
	m, err := r.frames.next()
	r.disarm()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return inbound{}, false
	}
	return inbound{m: m, err: err}, true
}

// sendFinal tells the peer why the session ends, best effort.
func (r *run) sendFinal(se *SessionError) {
	detail := truncateUTF8(strings.ToValidUTF8(se.Detail, "\uFFFD"), MaxDetail)
	var m Message = &Refusal{Reason: se.Reason, Detail: detail}
	if se.Closed {
		m = &Close{Reason: se.Reason, Detail: detail}
	}
	if err := r.sendWithin(m, min(r.cfg.DeadAfter, finalWriteTimeout)); err != nil {
		r.log.Debug("could not tell the peer why the session ends", "err", err)
	}
}

// finalWriteTimeout bounds the last write of a session, so that a peer that
// stopped reading cannot hold Run open.
const finalWriteTimeout = 2 * time.Second

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// send writes one message; a peer that does not take it within DeadAfter
// is as good as dead.
func (r *run) send(m Message) error { return r.sendWithin(m, r.cfg.DeadAfter) }

func (r *run) sendWithin(m Message, d time.Duration) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	if err := r.conn.SetWriteDeadline(time.Now().Add(d)); err != nil {
		return fmt.Errorf("control: send %s: %w", m.Type(), err)
	}
	if _, err := r.conn.Write(b); err != nil {
		return fmt.Errorf("control: send %s: %w", m.Type(), err)
	}
	return nil
}

// receive waits until deadline for the next message that is not a
// keepalive, answering pings on the way. It turns a Refusal or Close from
// the peer, a malformed frame and silence into errors.
func (r *run) receive(ctx context.Context, deadline time.Time) (Message, error) {
	for {
		// A Close says why the session ends; it wins over the context,
		// which its caller may cancel right after.
		select {
		case se := <-r.stop:
			return nil, se
		default:
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			return nil, &SessionError{Reason: ReasonTimeout, Detail: fmt.Sprintf("nothing heard from the peer for %s", r.cfg.DeadAfter), err: ErrDeadPeer}
		}
		in, ok := r.next(deadline)
		if !ok {
			continue
		}
		m, err := r.received(in)
		if err != nil || m != nil {
			return m, err
		}
	}
}

// received handles what every state handles the same way; it returns nil,
// nil for a message it consumed.
func (r *run) received(in inbound) (Message, error) {
	if in.err != nil {
		r.readEnd = true
		var ve *versionError
		switch {
		case errors.As(in.err, &ve):
			return nil, refusef(ReasonVersion, "%v", in.err)
		case errors.Is(in.err, ErrMalformed):
			return nil, refusef(ReasonProtocol, "%v", in.err)
		case errors.Is(in.err, io.EOF):
			return nil, errors.New("control: the peer closed the connection without a close message")
		}
		return nil, fmt.Errorf("control: read: %w", in.err)
	}
	now := time.Now()
	r.heard = now
	r.mu.Lock()
	r.status.LastHeard = now
	r.mu.Unlock()
	switch m := in.m.(type) {
	case *Ping:
		return nil, r.send(&Pong{Seq: m.Seq})
	case *Pong:
		if m.Seq == r.pingSeq && !r.pingSent.IsZero() {
			r.mu.Lock()
			r.status.RTT = now.Sub(r.pingSent)
			r.mu.Unlock()
		}
		return nil, nil
	case *Refusal:
		return nil, &SessionError{Reason: m.Reason, Detail: m.Detail, Remote: true}
	case *Close:
		return nil, &SessionError{Reason: m.Reason, Detail: m.Detail, Remote: true, Closed: true}
	}
	return in.m, nil
}

// handshake completes the TLS handshake.
func (r *run) handshake(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, r.cfg.DeadAfter)
	defer cancel()
	if err := r.conn.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("control: TLS handshake: %w", err)
	}
	r.cs, r.heard = r.conn.ConnectionState(), time.Now()
	return nil
}

// establish checks the connection and exchanges the Hellos.
func (r *run) establish(ctx context.Context) error {
	if r.cs.Version != tls.VersionTLS13 {
		return refusef(ReasonProtocol, "the control channel needs TLS 1.3, the connection negotiated %s", tls.VersionName(r.cs.Version))
	}
	if len(r.cs.PeerCertificates) == 0 {
		return refusef(ReasonIdentity, "the peer presented no certificate")
	}
	var err error
	if r.cfg.Role == Initiator {
		err = r.helloInitiator(ctx)
	} else {
		err = r.helloResponder(ctx)
	}
	if err != nil {
		return err
	}
	r.cfg.Metrics.sessionEstablished(r.cfg.Role)
	r.log = r.log.With("peer", r.peer.Identity)
	r.log.Info("control session established", "kind", r.peer.Kind.String(), "routes", joinPrefixes(r.peer.Routes.Accepted))
	for _, rp := range r.peer.Routes.Refused {
		r.log.Warn("peer prefix not routed", "prefix", rp.Prefix.String(), "why", rp.Why)
	}
	return nil
}

// loop keeps an established session: rotations, keepalives and the peer's
// messages.
func (r *run) loop(ctx context.Context) error {
	initiator := r.cfg.Role == Initiator
	var nextRotation time.Time
	if initiator {
		nextRotation = time.Now().Add(r.cfg.RotationPeriod)
		if err := r.propose(); err != nil {
			return err
		}
	}
	for {
		select {
		case se := <-r.stop:
			return se
		default:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-r.now:
			if r.pending != 0 {
				r.again = true
			} else if err := r.propose(); err != nil {
				return err
			}
		default:
		}
		now := time.Now()
		wait, err := r.tick(now)
		if err != nil {
			return err
		}
		if initiator {
			if !now.Before(nextRotation) {
				if r.pending == 0 {
					if err := r.propose(); err != nil {
						return err
					}
				}
				nextRotation = now.Add(r.cfg.RotationPeriod)
			}
			if nextRotation.Before(wait) {
				wait = nextRotation
			}
		}
		in, ok := r.next(wait)
		if !ok {
			continue
		}
		m, err := r.received(in)
		if err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if err := r.rotation(ctx, m); err != nil {
			return err
		}
	}
}

// lastHeard is when the peer was last heard from, on the control channel
// or (with Config.Liveness) on the data plane.
func (r *run) lastHeard() time.Time {
	last := r.heard
	if r.cfg.Liveness != nil {
		if d := r.cfg.Liveness(); d.After(last) {
			last = d
		}
	}
	return last
}

// pingAfter is how long this end lets the peer stay silent before it
// pings. The initiator pings after KeepaliveInterval of silence and every
// answer resets it, so one ping and one pong per interval keep both ends
// hearing each other; the responder waits until halfway between
// KeepaliveInterval and DeadAfter, which an initiator's pings never let it
// reach, and pings only for a peer that does not ping often enough.
func (r *run) pingAfter() time.Duration {
	if r.cfg.Role == Initiator {
		return r.cfg.KeepaliveInterval
	}
	return (r.cfg.KeepaliveInterval + r.cfg.DeadAfter) / 2
}

// deadSlack puts a wake-up for a limit just past it, so that the check
// after the wake-up sees the limit exceeded.
const deadSlack = time.Millisecond

// tick checks the peer, the control channel and the rotation in flight
// for silence, pings when one is due, and returns when to look again. A
// ping is due when the peer was not heard from (on either channel) for
// pingAfter, or the control channel carried nothing for DeadAfter: a data
// plane that carries on does not show that the control connection still
// does. A ping that nothing on the control channel answers within
// DeadAfter ends the session, as does silence on both channels.
func (r *run) tick(now time.Time) (time.Time, error) {
	last := r.lastHeard()
	if silent := now.Sub(last); silent > r.cfg.DeadAfter {
		return time.Time{}, &SessionError{Reason: ReasonTimeout, Detail: fmt.Sprintf("nothing heard from the peer for %s (limit %s)", silent.Round(time.Millisecond), r.cfg.DeadAfter), err: ErrDeadPeer}
	}
	if r.pending != 0 && now.Sub(r.since) > r.cfg.DeadAfter {
		return time.Time{}, &SessionError{Reason: ReasonTimeout, Detail: fmt.Sprintf("PSK rotation epoch %d not completed within %s", r.pending, r.cfg.DeadAfter), err: ErrDeadPeer}
	}
	// unanswered is when the first ping that nothing on the control
	// channel answered yet went out.
	awaiting := !r.unanswered.IsZero() && r.heard.Before(r.unanswered)
	if awaiting && now.Sub(r.unanswered) > r.cfg.DeadAfter {
		return time.Time{}, &SessionError{Reason: ReasonTimeout, Detail: fmt.Sprintf("ping unanswered on the control channel for %s (limit %s)", now.Sub(r.unanswered).Round(time.Millisecond), r.cfg.DeadAfter), err: ErrDeadPeer}
	}
	after := r.pingAfter()
	wake := last.Add(r.cfg.DeadAfter + deadSlack)
	if r.pending != 0 {
		wake = earliest(wake, r.since.Add(r.cfg.DeadAfter+deadSlack))
	}
	if awaiting {
		wake = earliest(wake, r.unanswered.Add(r.cfg.DeadAfter+deadSlack))
	}
	if due := earliest(last.Add(after), r.heard.Add(r.cfg.DeadAfter)); due.After(now) {
		// Heard recently enough: look again when that runs out (the data
		// plane may have been heard from by then).
		return earliest(wake, due), nil
	}
	if next := r.pingSent.Add(after); awaiting && next.After(now) {
		// Pinged already; the answer (or the next ping) is due.
		return earliest(wake, next), nil
	}
	r.pingSeq++
	r.pingSent = now
	if !awaiting {
		r.unanswered = now
	}
	if err := r.send(&Ping{Seq: r.pingSeq}); err != nil {
		return time.Time{}, err
	}
	return earliest(wake, now.Add(after)), nil
}

// earliest returns the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
