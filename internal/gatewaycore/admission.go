package gatewaycore

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"intransit/tunnel/control"
)

// Defaults of Limits.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultHandshakes       = 256
	DefaultPerSource        = 8
	DefaultReserved         = 32
	DefaultSessions         = 4096
)

// Limits bound what a control listener admits. Zero fields take the
// defaults.
type Limits struct {
	// HandshakeTimeout bounds a connection's TLS handshake, from accept
	// (DefaultHandshakeTimeout). It is separate from a session's
	// DeadAfter: an unauthenticated stranger gets seconds, not more.
	HandshakeTimeout time.Duration
	// Handshakes bounds the connections in their TLS handshake at once
	// (DefaultHandshakes), PerSource those from one source: an IPv4
	// address or an IPv6 /64 (DefaultPerSource).
	Handshakes, PerSource int
	// Reserved are handshake slots beyond Handshakes kept for priority
	// sources (DefaultReserved); priority sources are not bound by
	// PerSource.
	Reserved int
	// Sessions bounds the authenticated connections served at once
	// (DefaultSessions).
	Sessions int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = DefaultHandshakeTimeout
	}
	def(&l.Handshakes, DefaultHandshakes)
	def(&l.PerSource, DefaultPerSource)
	def(&l.Reserved, DefaultReserved)
	def(&l.Sessions, DefaultSessions)
	return l
}

// ServerConfig configures a control Server.
type ServerConfig struct {
	// Listener is the control listener; Serve closes it.
	Listener net.Listener
	// TLS is the server configuration of the control channel (mTLS).
	TLS *tls.Config
	// Limits bound admission.
	Limits Limits
	// Priority reports whether a source address is a configured peer's,
	// whose connections take reserved handshake slots when the others are
	// taken; nil gives no source priority. It must not block.
	Priority func(netip.Addr) bool
	// Serve runs the control session of a connection whose TLS handshake
	// completed; it returns when the session is over and owns conn.
	Serve func(ctx context.Context, conn *tls.Conn)
	// Refusals records the connections refused before their session;
	// required.
	Refusals *Refusals
	// Logger receives the listener's failures, at most one line per
	// DefaultLogEvery; nil discards them.
	Logger *slog.Logger
}

// Server admits control connections into bounded handshake and session
// slots (see the package documentation) and hands authenticated ones to
// ServerConfig.Serve.
type Server struct {
	cfg ServerConfig
	lim Limits
	log *slog.Logger

	mu         sync.Mutex
	handshakes int // general handshake slots taken
	reserved   int // reserved handshake slots taken
	sessions   int
	bySource   map[netip.Prefix]int
}

// NewServer returns a server; Serve runs it.
func NewServer(cfg ServerConfig) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = LimitLog(log, DefaultLogEvery)
	return &Server{cfg: cfg, lim: cfg.Limits.withDefaults(), log: log, bySource: map[netip.Prefix]int{}}
}

// Occupancy is a snapshot of the slots taken.
type Occupancy struct {
	// Handshakes counts the connections in their TLS handshake (reserved
	// slots included), Sessions those past it.
	Handshakes, Sessions int
}

// Occupancy returns the slots taken now.
func (s *Server) Occupancy() Occupancy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Occupancy{Handshakes: s.handshakes + s.reserved, Sessions: s.sessions}
}

// Serve accepts connections until ctx ends or the listener fails, then
// closes the listener and waits for every connection it admitted to end
// (they end with ctx).
func (s *Server) Serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.cfg.Listener.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer s.cfg.Listener.Close()
	var backoff time.Duration
	for {
		c, err := s.cfg.Listener.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, or a connection aborted before it
			// was accepted: wait a little and go on, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("control listener: accept failed", "error", err.Error(), "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		addr := sourceAddr(c.RemoteAddr())
		slot, reason := s.takeHandshake(addr)
		if reason != "" {
			s.cfg.Refusals.Record(c.RemoteAddr().String(), "", reason, s.refusalDetail(reason))
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, c, slot)
		}()
	}
}

func (s *Server) refusalDetail(reason string) string {
	switch reason {
	case ReasonSourceLimit:
		return "too many connections from this source in their TLS handshake"
	case ReasonBusy:
		return "every handshake slot is taken"
	}
	return "every session slot is taken"
}

// handshakeSlot is the slot a connection holds during its handshake.
type handshakeSlot struct {
	reserved bool
	source   netip.Prefix // counted per source when valid
}

// takeHandshake takes a handshake slot for a connection from addr, or
// returns the reason of its refusal.
func (s *Server) takeHandshake(addr netip.Addr) (handshakeSlot, string) {
	prio := addr.IsValid() && s.cfg.Priority != nil && s.cfg.Priority(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if prio {
		switch {
		case s.handshakes < s.lim.Handshakes:
			s.handshakes++
			return handshakeSlot{}, ""
		case s.reserved < s.lim.Reserved:
			s.reserved++
			return handshakeSlot{reserved: true}, ""
		}
		return handshakeSlot{}, ReasonBusy
	}
	src := sourceOf(addr)
	if src.IsValid() && s.bySource[src] >= s.lim.PerSource {
		return handshakeSlot{}, ReasonSourceLimit
	}
	if s.handshakes >= s.lim.Handshakes {
		return handshakeSlot{}, ReasonBusy
	}
	s.handshakes++
	if src.IsValid() {
		s.bySource[src]++
	}
	return handshakeSlot{source: src}, ""
}

func (s *Server) releaseHandshake(h handshakeSlot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.reserved {
		s.reserved--
		return
	}
	s.handshakes--
	if h.source.IsValid() {
		if s.bySource[h.source]--; s.bySource[h.source] <= 0 {
			delete(s.bySource, h.source)
		}
	}
}

func (s *Server) takeSession() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions >= s.lim.Sessions {
		return false
	}
	s.sessions++
	return true
}

func (s *Server) releaseSession() {
	s.mu.Lock()
	s.sessions--
	s.mu.Unlock()
}

// handle runs the TLS handshake of c within the handshake timeout, then
// its session in a session slot.
func (s *Server) handle(ctx context.Context, c net.Conn, slot handshakeSlot) {
	tc := tls.Server(c, s.cfg.TLS)
	// A deadline rather than a context: the connection stays open until
	// the refusal is recorded.
	err := c.SetDeadline(time.Now().Add(s.lim.HandshakeTimeout))
	if err == nil {
		err = tc.HandshakeContext(ctx)
	}
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	s.releaseHandshake(slot)
	remote := c.RemoteAddr().String()
	if err != nil {
		defer c.Close()
		switch {
		case ctx.Err() != nil:
		case timedOut:
			s.cfg.Refusals.Record(remote, "", ReasonHandshakeTimeout, "no TLS handshake within "+s.lim.HandshakeTimeout.String())
		default:
			reason, detail, _ := control.Outcome(err, false)
			s.cfg.Refusals.Record(remote, "", reason, detail)
		}
		return
	}
	if !s.takeSession() {
		s.cfg.Refusals.Record(remote, "", ReasonSessionsFull, s.refusalDetail(ReasonSessionsFull))
		c.Close()
		return
	}
	defer s.releaseSession()
	s.cfg.Serve(ctx, tc)
}

// sourceAddr is the IP address of a connection's remote end, unmapped.
func sourceAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// sourceOf is what counts as one source: an IPv4 address, or the /64 of
// an IPv6 one (what one host is usually given); the zero prefix for an
// address that is not IP.
func sourceOf(a netip.Addr) netip.Prefix {
	switch {
	case a.Is4():
		return netip.PrefixFrom(a, 32)
	case a.Is6():
		p, _ := a.Prefix(64)
		return p
	}
	return netip.Prefix{}
}
