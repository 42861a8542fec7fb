// Package tls is the transport for networks that pass only HTTPS: WireGuard
// messages framed on a TLS 1.3 stream over TCP, port 443 by default, with
// the ALPN transport.ALPN.
//
// Each message is one frame (see AppendFrame): a 2-byte big-endian length
// and the message. A connection has a bounded send queue (drop when full)
// and a writer goroutine that packs everything queued into one TLS write, so
// that a burst of messages costs one system call and few TLS records. The
// reader refuses frames above the message size limit by skipping them; only
// a failing stream ends a connection, and never the Bind's receive loop.
//
// A Bind with a server configuration listens on the port given to Open; any
// Bind dials destinations lazily on the first Send, keeps the connection,
// and redials with backoff after it fails. The TLS configurations come from
// tlspolicy; the Bind only adds the ALPN and requires TLS 1.3.
package tls

import (
	"context"
	cryptotls "crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/internal/linkbind"
	"intransit/tunnel/transport/tcpmss"
)

// Config configures a Bind.
type Config struct {
	// ServerTLS, if set, makes the Bind listen for connections.
	ServerTLS *cryptotls.Config
	// ClientTLS, if set, lets the Bind dial endpoints. Its ServerName (or
	// an IP SAN matching the endpoint) must verify the gateway.
	ClientTLS *cryptotls.Config
	// MaxMessageSize bounds the messages read and written
	// (DefaultMaxMessageSize if 0, at most MaxFrameLen).
	MaxMessageSize int
	// PathMTU is the MTU of the path to the peers
	// (transport.DefaultPathMTU if 0, at least transport.MinPathMTU); TCP
	// segments are clamped to it.
	PathMTU int
	// PeerPort is the port peers listen on: it completes endpoints given
	// without a port, and a peer whose accepted connection has ended is
	// dialed there (transport.DefaultTLSPort if 0).
	PeerPort uint16
	// QueueLen bounds each connection's send queue, in messages.
	QueueLen int
	// WriteTimeout ends a connection whose peer stops reading (10 s if 0).
	WriteTimeout time.Duration
	// DeadAfter ends a connection whose sent data stays unacknowledged
	// this long (TCP_USER_TIMEOUT; 15 s if 0), and is the TCP keepalive
	// period, so that a dead path is noticed and the peer redialed.
	DeadAfter time.Duration
	// HandshakeTimeout bounds a dial or an incoming handshake (5 s if 0).
	HandshakeTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between failed dials.
	BackoffMin, BackoffMax time.Duration
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// Defaults for Config fields left zero.
const (
	DefaultWriteTimeout = 10 * time.Second
	DefaultDeadAfter    = 15 * time.Second
)

// coalesceLimit bounds the bytes packed into one write.
const coalesceLimit = 256 << 10

// Stats counts what a Bind did.
type Stats struct {
	linkbind.Stats
	// OversizedFrames is the number of received frames refused for size.
	OversizedFrames uint64
}

// Bind is the TLS-over-TCP transport.Bind.
type Bind struct {
	cfg       Config
	server    *cryptotls.Config
	client    *cryptotls.Config
	core      *linkbind.Core
	oversized atomic.Uint64

	mu   sync.Mutex
	mark uint32
	ln   *net.TCPListener
}

var _ transport.Bind = (*Bind)(nil)

// New returns a Bind for cfg. At least one of ServerTLS and ClientTLS must
// be set, and neither may exclude TLS 1.3.
func New(cfg Config) (*Bind, error) {
	if cfg.ServerTLS == nil && cfg.ClientTLS == nil {
		return nil, errors.New("tls transport: neither a server nor a client TLS configuration")
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if least := InnerMTU(transport.MinPathMTU) + transport.WireGuardOverhead; cfg.MaxMessageSize < least || cfg.MaxMessageSize > MaxFrameLen {
		return nil, fmt.Errorf("tls transport: MaxMessageSize %d outside %d..%d", cfg.MaxMessageSize, least, MaxFrameLen)
	}
	if cfg.PathMTU == 0 {
		cfg.PathMTU = transport.DefaultPathMTU
	}
	if cfg.PathMTU < transport.MinPathMTU {
		return nil, fmt.Errorf("tls transport: path MTU %d is below the minimum of %d", cfg.PathMTU, transport.MinPathMTU)
	}
	if cfg.PeerPort == 0 {
		cfg.PeerPort = transport.DefaultTLSPort
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	b := &Bind{cfg: cfg}
	var err error
	if cfg.ServerTLS != nil {
		if b.server, err = linkbind.WithALPN(cfg.ServerTLS); err != nil {
			return nil, fmt.Errorf("tls transport: server configuration: %w", err)
		}
	}
	if cfg.ClientTLS != nil {
		if b.client, err = linkbind.WithALPN(cfg.ClientTLS); err != nil {
			return nil, fmt.Errorf("tls transport: client configuration: %w", err)
		}
	}
	b.core = linkbind.New(linkbind.Config{
		Scheme: transport.TLS, DefaultPort: cfg.PeerPort, QueueLen: cfg.QueueLen,
		BackoffMin: cfg.BackoffMin, BackoffMax: cfg.BackoffMax, HandshakeTimeout: cfg.HandshakeTimeout,
		Logger: cfg.Logger,
	})
	return b, nil
}

// InnerMTU returns the TUN MTU over a path of MTU pathMTU: the same as the
// udp transport's, so that the inner MTU does not change with a fallback
// between them; TCP segments the stream to the path (see tcpmss).
func InnerMTU(pathMTU int) int {
	return pathMTU - transport.IPUDPOverhead - transport.WireGuardOverhead
}

// Info describes the transport to the registry: TCP port 443, segments
// clamped to Options.PathMTU, TLS configurations required.
func Info() transport.Info {
	return transport.Info{
		Name: transport.TLS, Network: transport.NetworkTCP, DefaultPort: transport.DefaultTLSPort, TLS: true,
		InnerMTU: InnerMTU,
		New: func(o transport.Options) (transport.Bind, error) {
			return New(Config{ServerTLS: o.ServerTLS, ClientTLS: o.ClientTLS, PathMTU: o.PathMTU, Logger: o.Logger})
		},
	}
}

// Scheme returns transport.TLS.
func (b *Bind) Scheme() string { return transport.TLS }

// Owns reports whether ep is an endpoint of this transport.
func (b *Bind) Owns(ep conn.Endpoint) bool { return b.core.Owns(ep) }

// ParseEndpoint reads "tls://addr[:port]" or "addr[:port]" (Config.PeerPort if
// missing).
func (b *Bind) ParseEndpoint(s string) (conn.Endpoint, error) { return b.core.ParseEndpoint(s) }

// BatchSize returns the largest batch Send and the ReceiveFunc handle.
func (b *Bind) BatchSize() int { return b.core.BatchSize() }

// LinkStats returns the counters every connection-oriented transport
// keeps (the multi Bind's metrics read them).
func (b *Bind) LinkStats() linkbind.Stats { return b.core.Stats() }

// Stats returns the Bind's counters.
func (b *Bind) Stats() Stats {
	return Stats{Stats: b.core.Stats(), OversizedFrames: b.oversized.Load()}
}

// Open listens on TCP port (0 picks one) if the Bind has a server
// configuration, and returns the ReceiveFunc and the port (0 for a
// dial-only Bind).
func (b *Bind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.core.Open() {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	var ln linkbind.Listener
	var actual uint16
	if b.server != nil {
		lc := net.ListenConfig{KeepAlive: -1, Control: b.control(b.mark)}
		l, err := lc.Listen(context.Background(), "tcp", ":"+strconv.Itoa(int(port)))
		if err != nil {
			return nil, 0, fmt.Errorf("tls transport: listen on TCP port %d: %w", port, err)
		}
		b.ln = l.(*net.TCPListener)
		actual = uint16(b.ln.Addr().(*net.TCPAddr).Port)
		ln = &listener{b: b, ln: b.ln}
	}
	var dial linkbind.Dialer
	if b.client != nil {
		dial = b.dial
	}
	fns, err := b.core.Start(ln, dial)
	if err != nil {
		if b.ln != nil {
			b.ln.Close()
			b.ln = nil
		}
		return nil, 0, err
	}
	return fns, actual, nil
}

// Close stops listening, closes every connection and makes the
// ReceiveFunc return net.ErrClosed.
func (b *Bind) Close() error {
	err := b.core.Stop()
	b.mu.Lock()
	b.ln = nil
	b.mu.Unlock()
	return err
}

// LocalPort returns the TCP port the Bind listens on, 0 when closed or
// dial-only.
func (b *Bind) LocalPort() uint16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln == nil {
		return 0
	}
	return uint16(b.ln.Addr().(*net.TCPAddr).Port)
}

// SetMark sets SO_MARK on the listening socket and on every later dial.
func (b *Bind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mark = mark
	if b.ln == nil {
		return nil
	}
	rc, err := b.ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("tls transport: %w", err)
	}
	return linkbind.SetMark(rc, mark)
}

// Send queues copies of bufs for ep's connection; see transport.Bind.
func (b *Bind) Send(bufs [][]byte, ep conn.Endpoint) error { return b.core.Send(bufs, ep) }

func (b *Bind) dial(ctx context.Context, dst netip.AddrPort) (linkbind.Link, error) {
	b.mu.Lock()
	mark := b.mark
	b.mu.Unlock()
	d := net.Dialer{KeepAlive: -1, Control: b.control(mark)}
	raw, err := d.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", dst, err)
	}
	if err := b.tuneTCP(raw.(*net.TCPConn)); err != nil {
		raw.Close()
		return nil, fmt.Errorf("dial %s: %w", dst, err)
	}
	tc := cryptotls.Client(raw, b.client)
	if err := handshake(ctx, tc); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", dst, err)
	}
	return b.newLink(tc), nil
}

// control returns the Control function of the Bind's sockets: the MSS
// clamp, and SO_MARK when mark is not 0.
func (b *Bind) control(mark uint32) func(network, address string, c syscall.RawConn) error {
	return tcpmss.Control(b.cfg.PathMTU, func(_, _ string, rc syscall.RawConn) error {
		if mark == 0 {
			return nil
		}
		return linkbind.SetMark(rc, mark)
	})
}

// tuneTCP sets what makes a dead TCP connection end within DeadAfter:
// keepalives for an idle one, TCP_USER_TIMEOUT for one with data in flight.
func (b *Bind) tuneTCP(c *net.TCPConn) error {
	if err := c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: b.cfg.DeadAfter / 3, Interval: b.cfg.DeadAfter / 3, Count: 3}); err != nil {
		return fmt.Errorf("TCP keepalive: %w", err)
	}
	return setUserTimeout(c, b.cfg.DeadAfter)
}

func handshake(ctx context.Context, tc *cryptotls.Conn) error {
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	return linkbind.CheckALPN(tc.ConnectionState())
}

type listener struct {
	b  *Bind
	ln *net.TCPListener
}

// Accept waits for the next connection; see linkbind.Listener.
func (l *listener) Accept(ctx context.Context) (linkbind.Handshake, error) {
	raw, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (linkbind.Link, netip.AddrPort, error) {
		remote := raw.RemoteAddr().(*net.TCPAddr).AddrPort()
		remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
		if err := l.b.tuneTCP(raw.(*net.TCPConn)); err != nil {
			raw.Close()
			return nil, remote, fmt.Errorf("connection from %s: %w", remote, err)
		}
		tc := cryptotls.Server(raw, l.b.server)
		if err := handshake(ctx, tc); err != nil {
			raw.Close()
			return nil, remote, fmt.Errorf("TLS handshake from %s: %w", remote, err)
		}
		return l.b.newLink(tc), remote, nil
	}, nil
}

// Close stops accepting.
func (l *listener) Close() error { return l.ln.Close() }

// link is one TLS connection carrying frames.
type link struct {
	b    *Bind
	tc   *cryptotls.Conn
	dec  *Decoder
	wbuf []byte
}

func (b *Bind) newLink(tc *cryptotls.Conn) *link {
	return &link{b: b, tc: tc, dec: NewDecoder(tc, b.cfg.MaxMessageSize), wbuf: make([]byte, 0, coalesceLimit+FrameHeaderLen+b.cfg.MaxMessageSize)}
}

// ReadMessages delivers each received message until the connection fails.
func (l *link) ReadMessages(deliver func([]byte)) error {
	for {
		msg, err := l.dec.Next()
		if errors.Is(err, ErrFrameTooLarge) {
			l.b.oversized.Add(1)
			continue
		}
		if err != nil {
			return err
		}
		deliver(msg)
	}
}

// WriteMessages sends msgs in order; see linkbind.Link.
func (l *link) WriteMessages(msgs [][]byte) error {
	l.wbuf = l.wbuf[:0]
	for _, m := range msgs {
		if len(m) > l.b.cfg.MaxMessageSize {
			continue
		}
		l.wbuf = AppendFrame(l.wbuf, m)
		if len(l.wbuf) >= coalesceLimit {
			if err := l.flush(); err != nil {
				return err
			}
		}
	}
	return l.flush()
}

func (l *link) flush() error {
	if len(l.wbuf) == 0 {
		return nil
	}
	if err := l.tc.SetWriteDeadline(time.Now().Add(l.b.cfg.WriteTimeout)); err != nil {
		return err
	}
	_, err := l.tc.Write(l.wbuf)
	l.wbuf = l.wbuf[:0]
	return err
}

// Close closes the connection.
func (l *link) Close() error { return l.tc.Close() }
