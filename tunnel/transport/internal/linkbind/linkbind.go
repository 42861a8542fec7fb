// Package linkbind is the connection-oriented half of the quic and tls
// transports: it turns links (one connection each, carrying whole WireGuard
// messages) into a conn.Bind. It owns the per-link bounded send queues and
// writer goroutines, the shared receive queue behind the one ReceiveFunc,
// lazy dialing with backoff, and the accept loop; the transports supply only
// how to dial, accept, read and write.
package linkbind

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport"
)

// Link is one established connection to a peer.
type Link interface {
	// ReadMessages reads WireGuard messages until the link fails or is
	// closed, calling deliver with each one; deliver copies msg and may be
	// called from several goroutines at once (a link made of several
	// connections reads each in its own). The error says why the link
	// ended.
	ReadMessages(deliver func(msg []byte)) error
	// WriteMessages writes msgs in order. An error ends the link.
	WriteMessages(msgs [][]byte) error
	// Close closes the link; ReadMessages and WriteMessages then return.
	Close() error
}

// Handshake completes an accepted connection and returns its link and the
// peer's address. It runs in its own goroutine and must give up when ctx is
// done. A nil Link with a nil error means the connection joined a link that
// is already being served (a link made of several connections), so there
// is nothing new to serve.
type Handshake func(ctx context.Context) (Link, netip.AddrPort, error)

// Listener accepts incoming connections.
type Listener interface {
	// Accept waits for the next connection. An error after ctx is done or
	// after Close ends the accept loop; other errors are logged.
	Accept(ctx context.Context) (Handshake, error)
	// Close stops accepting.
	Close() error
}

// Dialer connects to dst and returns the established link. A Bind that
// cannot dial (one with no client TLS configuration) has none.
type Dialer func(ctx context.Context, dst netip.AddrPort) (Link, error)

// Config describes a transport to the core.
type Config struct {
	// Scheme is the transport's name, the prefix of its endpoint strings.
	Scheme string
	// DefaultPort completes endpoint strings without a port, and is where
	// a peer is dialed when its accepted connection has ended.
	DefaultPort uint16
	// QueueLen bounds the send queue of each link, in messages.
	QueueLen int
	// InboxLen bounds the shared receive queue, in messages.
	InboxLen int
	// BackoffMin and BackoffMax bound the wait between failed dials.
	BackoffMin, BackoffMax time.Duration
	// HandshakeTimeout bounds one dial or one accepted handshake.
	HandshakeTimeout time.Duration
	// Logger receives per-connection events; nil discards them.
	Logger *slog.Logger
}

// Defaults for Config fields left zero.
const (
	DefaultQueueLen         = 1024
	DefaultInboxLen         = 4096
	DefaultBackoffMin       = 100 * time.Millisecond
	DefaultBackoffMax       = 5 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
)

// Stats counts what a transport did since it was created.
type Stats struct {
	// Queued is the number of messages Send accepted.
	Queued uint64
	// Dropped is the number of messages Send dropped on a full queue.
	Dropped uint64
	// Received is the number of messages handed to the device.
	Received uint64
	// Dials and DialFailures count outgoing connection attempts.
	Dials, DialFailures uint64
	// Accepted counts incoming links (a connection that joins a link
	// already served is not counted), HandshakeFailures refused incoming
	// connections.
	Accepted, HandshakeFailures uint64
	// Unreachable is the number of messages dropped because their
	// endpoint had no connection and the Bind cannot dial: a laptop that
	// left this transport, sent to by a gateway that only accepts.
	Unreachable uint64
}

// Core implements the parts of transport.Bind that do not depend on the
// wire protocol.
type Core struct {
	cfg  Config
	log  *slog.Logger
	pool *bufPool

	mu   sync.Mutex
	sess *session

	queued, dropped, received   atomic.Uint64
	dials, dialFailures         atomic.Uint64
	accepted, handshakeFailures atomic.Uint64
	unreachable                 atomic.Uint64
}

// New returns a Core for cfg, filling zero fields with the defaults.
func New(cfg Config) *Core {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.InboxLen <= 0 {
		cfg.InboxLen = DefaultInboxLen
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffMin)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Core{cfg: cfg, log: log.With("transport", cfg.Scheme), pool: newBufPool()}
}

// Logger returns the core's logger, for the transport's own messages.
func (c *Core) Logger() *slog.Logger { return c.log }

// Stats returns the counters.
func (c *Core) Stats() Stats {
	return Stats{
		Queued: c.queued.Load(), Dropped: c.dropped.Load(), Received: c.received.Load(),
		Dials: c.dials.Load(), DialFailures: c.dialFailures.Load(),
		Accepted: c.accepted.Load(), HandshakeFailures: c.handshakeFailures.Load(),
		Unreachable: c.unreachable.Load(),
	}
}

// Endpoint is the conn.Endpoint of the quic and tls transports. One made by
// ParseEndpoint names a destination that the Bind dials (and redials); one
// handed out by a ReceiveFunc names the connection the message came on.
type Endpoint struct {
	scheme string
	dst    netip.AddrPort
	bytes  []byte
	accept *serverLink
}

func newEndpoint(scheme string, dst netip.AddrPort, accept *serverLink) *Endpoint {
	b, _ := dst.MarshalBinary()
	return &Endpoint{scheme: scheme, dst: dst, bytes: b, accept: accept}
}

// ClearSrc does nothing: the source address is the connection's.
func (e *Endpoint) ClearSrc() {}

// SrcToString returns "": the source address is the connection's.
func (e *Endpoint) SrcToString() string { return "" }

// DstToString returns the endpoint with its scheme, e.g. "quic://192.0.2.1:443".
func (e *Endpoint) DstToString() string { return transport.FormatEndpoint(e.scheme, e.dst) }

// DstToBytes returns the peer's address for WireGuard's cookie MACs.
func (e *Endpoint) DstToBytes() []byte { return e.bytes }

// DstIP returns the peer's IP address.
func (e *Endpoint) DstIP() netip.Addr { return e.dst.Addr() }

// SrcIP returns the zero Addr: the source address is the connection's.
func (e *Endpoint) SrcIP() netip.Addr { return netip.Addr{} }

// Accepted reports whether the endpoint names an accepted connection
// rather than a destination to dial.
func (e *Endpoint) Accepted() bool { return e.accept != nil }

// ParseEndpoint reads "scheme://addr:port" or "addr:port" (the scheme, if
// present, must be the core's) into a dialing Endpoint.
func (c *Core) ParseEndpoint(s string) (conn.Endpoint, error) {
	scheme, rest := transport.SplitScheme(s)
	if scheme != "" && scheme != c.cfg.Scheme {
		return nil, fmt.Errorf("%s endpoint %q: scheme %q belongs to another transport", c.cfg.Scheme, s, scheme)
	}
	ap, err := transport.ParseAddrPort(rest, c.cfg.DefaultPort)
	if err != nil {
		return nil, fmt.Errorf("%s endpoint: %w", c.cfg.Scheme, err)
	}
	return newEndpoint(c.cfg.Scheme, ap, nil), nil
}

// Owns reports whether ep is an Endpoint of this core's scheme.
func (c *Core) Owns(ep conn.Endpoint) bool {
	e, ok := ep.(*Endpoint)
	return ok && e.scheme == c.cfg.Scheme
}

// BatchSize is wireguard-go's ideal batch size.
func (c *Core) BatchSize() int { return conn.IdealBatchSize }

// session is the running state between Start and Stop.
type session struct {
	core   *Core
	ctx    context.Context
	cancel context.CancelFunc
	in     *inbox
	dial   Dialer
	ln     Listener
	wg     sync.WaitGroup

	mu      sync.Mutex
	clients map[netip.AddrPort]*clientLink
	live    map[Link]struct{}
}

// Start opens a session: it serves ln (nil for a dial-only Bind) and dials
// with dial (nil for an accept-only Bind), and returns the one
// ReceiveFunc.
func (c *Core) Start(ln Listener, dial Dialer) ([]conn.ReceiveFunc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != nil {
		return nil, conn.ErrBindAlreadyOpen
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		core: c, ctx: ctx, cancel: cancel, in: newInbox(c.cfg.InboxLen, c.pool), dial: dial, ln: ln,
		clients: make(map[netip.AddrPort]*clientLink), live: make(map[Link]struct{}),
	}
	if ln != nil {
		s.wg.Add(1)
		go s.acceptLoop()
	}
	c.sess = s
	return []conn.ReceiveFunc{s.in.receive}, nil
}

// Open reports whether a session is running.
func (c *Core) Open() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// Stop ends the session: the listener and every link are closed, every
// goroutine has returned, and the ReceiveFunc returns net.ErrClosed.
// Stopping a stopped core does nothing.
func (c *Core) Stop() error {
	c.mu.Lock()
	s := c.sess
	c.sess = nil
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	// Cancel, then close every connection: a writer blocked on a peer
	// that stopped reading must not hold Stop up.
	s.mu.Lock()
	s.cancel()
	for l := range s.live {
		l.Close()
	}
	s.mu.Unlock()
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	s.in.close()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("%s: closing listener: %w", c.cfg.Scheme, err)
	}
	return nil
}

func (c *Core) current() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// Send queues copies of bufs for ep's connection, dialing it in the
// background if it is a destination without one, or if it was an accepted
// connection that has ended (then the peer's address on DefaultPort is
// dialed). Without a Dialer there is nothing to dial: such messages are
// dropped and counted (Stats.Unreachable), and no goroutine waits for a
// peer that is gone. It never waits for the network; messages that do not
// fit the queue are dropped and counted.
func (c *Core) Send(bufs [][]byte, ep conn.Endpoint) error {
	e, ok := ep.(*Endpoint)
	if !ok || e.scheme != c.cfg.Scheme {
		return conn.ErrWrongEndpointType
	}
	s := c.current()
	if s == nil {
		return net.ErrClosed
	}
	var out *outbox
	if e.accept != nil && e.accept.sess == s && !e.accept.gone.Load() {
		out = e.accept.out
	} else {
		// A dialing endpoint, or an accepted connection that has ended:
		// WireGuard keeps sending to the last endpoint it heard from, so
		// the way back to a peer whose connection died (it moved, the path
		// broke) is to dial it, on the port peers listen on.
		if s.dial == nil {
			c.unreachable.Add(uint64(len(bufs)))
			return nil
		}
		dst := e.dst
		if e.accept != nil {
			dst = netip.AddrPortFrom(dst.Addr(), c.cfg.DefaultPort)
		}
		cl, err := s.client(dst)
		if err != nil {
			return err
		}
		out = cl.out
	}
	q := out.push(bufs)
	c.queued.Add(uint64(q))
	if d := len(bufs) - q; d > 0 {
		c.dropped.Add(uint64(d))
	}
	return nil
}

// client returns the dialing link to dst, starting it on first use.
func (s *session) client(dst netip.AddrPort) (*clientLink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cl, ok := s.clients[dst]; ok {
		return cl, nil
	}
	if s.ctx.Err() != nil {
		return nil, net.ErrClosed
	}
	cl := &clientLink{
		sess: s, dst: dst, out: newOutbox(s.core.cfg.QueueLen, s.core.pool),
		ep: newEndpoint(s.core.cfg.Scheme, dst, nil),
	}
	s.clients[dst] = cl
	s.wg.Add(1)
	go cl.run()
	return cl, nil
}

// clientLink keeps one dialed connection to dst alive while there is
// something to send.
type clientLink struct {
	sess *session
	dst  netip.AddrPort
	out  *outbox
	ep   *Endpoint
}

func (cl *clientLink) run() {
	s := cl.sess
	c := s.core
	defer s.wg.Done()
	backoff := c.cfg.BackoffMin
	for {
		if !cl.out.wait(s.ctx, nil) {
			return
		}
		c.dials.Add(1)
		ctx, cancel := context.WithTimeout(s.ctx, c.cfg.HandshakeTimeout)
		link, err := s.dial(ctx, cl.dst)
		cancel()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			c.dialFailures.Add(1)
			// What was queued is stale by the time a later dial succeeds;
			// WireGuard retransmits what matters.
			cl.out.discard()
			c.log.Debug("dial failed", "peer", cl.dst, "retry_in", backoff, "err", err)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			backoff = min(2*backoff, c.cfg.BackoffMax)
			continue
		}
		c.log.Debug("connected", "peer", cl.dst)
		heard, err := s.serve(link, cl.out, cl.ep)
		if s.ctx.Err() != nil {
			return
		}
		c.log.Info("connection ended, will redial on next send", "peer", cl.dst, "err", err)
		if heard {
			backoff = c.cfg.BackoffMin
			continue
		}
		// A peer that completes the handshake and hangs up without a word
		// (a TLS 1.3 server refusing our certificate does just that) must
		// not be redialed in a tight loop.
		cl.out.discard()
		select {
		case <-time.After(backoff):
		case <-s.ctx.Done():
			return
		}
		backoff = min(2*backoff, c.cfg.BackoffMax)
	}
}

// serverLink is one accepted connection.
type serverLink struct {
	sess *session
	out  *outbox
	ep   *Endpoint
	gone atomic.Bool
}

func (s *session) acceptLoop() {
	defer s.wg.Done()
	c := s.core
	for {
		hs, err := s.ln.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			c.log.Warn("accept failed", "err", err)
			select {
			case <-time.After(c.cfg.BackoffMin):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		s.wg.Add(1)
		go s.handshakeAndServe(hs)
	}
}

func (s *session) handshakeAndServe(hs Handshake) {
	defer s.wg.Done()
	c := s.core
	ctx, cancel := context.WithTimeout(s.ctx, c.cfg.HandshakeTimeout)
	link, remote, err := hs(ctx)
	cancel()
	if err != nil {
		if s.ctx.Err() == nil {
			c.handshakeFailures.Add(1)
			c.log.Info("incoming connection refused", "err", err)
		}
		return
	}
	if link == nil {
		return
	}
	c.accepted.Add(1)
	sl := &serverLink{sess: s, out: newOutbox(c.cfg.QueueLen, c.pool)}
	sl.ep = newEndpoint(c.cfg.Scheme, remote, sl)
	c.log.Debug("accepted", "peer", remote)
	_, err = s.serve(link, sl.out, sl.ep)
	sl.gone.Store(true)
	sl.out.discard()
	if s.ctx.Err() == nil {
		c.log.Info("accepted connection ended", "peer", remote, "err", err)
	}
}

// serve runs a link until it fails or the session stops: a reader
// goroutine feeds the inbox, this goroutine writes what out collects. It
// reports whether the peer sent anything, and why the link ended.
func (s *session) serve(link Link, out *outbox, ep *Endpoint) (heard bool, _ error) {
	c := s.core
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		link.Close()
		return false, s.ctx.Err()
	}
	s.live[link] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.live, link)
		s.mu.Unlock()
	}()
	readDone := make(chan struct{})
	var (
		readErr error
		got     atomic.Bool
	)
	go func() {
		defer close(readDone)
		readErr = link.ReadMessages(func(msg []byte) {
			got.Store(true)
			if s.in.deliver(s.ctx, msg, ep) {
				c.received.Add(1)
			}
		})
	}()
	var (
		spare []*[]byte
		msgs  = make([][]byte, 0, c.cfg.QueueLen)
		werr  error
	)
	for werr == nil && out.wait(s.ctx, readDone) {
		batch := out.take(spare)
		msgs = msgs[:0]
		for _, b := range batch {
			msgs = append(msgs, *b)
		}
		werr = link.WriteMessages(msgs)
		clear(msgs)
		out.release(batch)
		spare = batch
	}
	link.Close()
	<-readDone
	if werr != nil {
		return got.Load(), fmt.Errorf("write: %w", werr)
	}
	if readErr != nil {
		return got.Load(), fmt.Errorf("read: %w", readErr)
	}
	return got.Load(), nil
}
