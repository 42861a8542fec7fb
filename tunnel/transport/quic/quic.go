// Package quic is the transport for networks that pass UDP 443 but not
// WireGuard's own port: each WireGuard message travels in one QUIC DATAGRAM
// frame (RFC 9221) over quic-go, with the ALPN transport.ALPN.
//
// A Bind owns one UDP socket. With a server configuration it accepts
// connections on it, and every accepted link (a group of connections, see
// stripe.go) has an Endpoint of its own; any Bind dials destinations lazily
// on the first Send (from the same socket), keeps the link, and redials
// with backoff after it fails. Send copies into a bounded per-link queue
// and returns; a writer goroutine per link hands the messages to quic-go,
// so a congested link drops messages instead of blocking the device.
//
// Datagrams are not split, so a message must fit one QUIC packet: the Bind
// sets quic-go's packet size from the path MTU (PacketSize) from the first
// packet on, with path MTU discovery off, so that no packet is larger than
// the path carries even when ICMP is dropped on the way; InnerMTU gives the
// TUN MTU that fits (1380 over a 1500-byte path, 1160 over 1280). A larger
// message is dropped and counted. Both ends must be configured for the same
// path: quic-go sizes what it sends by its own setting.
//
// Tuning: quic-go raises the socket buffers to 7 MiB itself (with
// SO_RCVBUFFORCE when it may); path MTU discovery is off because the packet
// size is set from the start; connection IDs are 20 bytes long so that
// full-size packets leave in GSO batches (see connectionIDLength); a
// connection silent for IdleTimeout (keepalives every third of it) is
// closed, so a dead path is noticed within 15 s and the peer redialed.
// quic-go queues at most 32 datagrams to send and 128 received ones per
// connection, neither configurable: the per-link queue of this package
// absorbs bursts on the sending side, and a link is a group of
// Config.Stripes connections (stripe.go) so that a receiver whose readers
// are not scheduled in time has that many receive queues to fill before
// quic-go drops datagrams.
//
// Migration is quic-go's: a client whose address changes keeps its
// connections.
package quic

import (
	"context"
	cryptotls "crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"
	"golang.zx2c4.com/wireguard/conn"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/internal/linkbind"
)

// Config configures a Bind.
type Config struct {
	// ServerTLS, if set, makes the Bind accept connections.
	ServerTLS *cryptotls.Config
	// ClientTLS, if set, lets the Bind dial endpoints. Its ServerName (or
	// an IP SAN matching the endpoint) must verify the gateway.
	ClientTLS *cryptotls.Config
	// PathMTU is the MTU of the path to the peers
	// (transport.DefaultPathMTU if 0, at least transport.MinPathMTU); it
	// sets the QUIC packet size.
	PathMTU int
	// PeerPort is the port peers listen on: it completes endpoints given
	// without a port, and a peer whose accepted connection has ended is
	// dialed there (transport.DefaultQUICPort if 0).
	PeerPort uint16
	// QueueLen bounds each connection's send queue, in messages.
	QueueLen int
	// Stripes is how many QUIC connections a dialed link to a peer is
	// made of (DefaultStripes if 0, at most MaxStripes); see stripe.go.
	Stripes int
	// IdleTimeout ends a connection that has heard nothing from its peer
	// for this long (DefaultIdleTimeout if 0); keepalives are sent at a
	// third of it, so only a dead peer or path ends a connection.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a dial (5 s if 0).
	HandshakeTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between failed dials.
	BackoffMin, BackoffMax time.Duration
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// DefaultIdleTimeout is Config.IdleTimeout's default.
const DefaultIdleTimeout = 15 * time.Second

// Stats counts what a Bind did.
type Stats struct {
	linkbind.Stats
	// TooLarge is the number of messages dropped for not fitting a datagram.
	TooLarge uint64
}

// Bind is the QUIC transport.Bind.
type Bind struct {
	cfg    Config
	server *cryptotls.Config
	client *cryptotls.Config
	qconf  *quicgo.Config
	core   *linkbind.Core

	tooLarge atomic.Uint64
	groups   groups

	mu   sync.Mutex
	mark uint32
	udp  *net.UDPConn
	tr   *quicgo.Transport
}

var _ transport.Bind = (*Bind)(nil)

// New returns a Bind for cfg. At least one of ServerTLS and ClientTLS must
// be set.
func New(cfg Config) (*Bind, error) {
	if cfg.ServerTLS == nil && cfg.ClientTLS == nil {
		return nil, errors.New("quic transport: neither a server nor a client TLS configuration")
	}
	if cfg.PeerPort == 0 {
		cfg.PeerPort = transport.DefaultQUICPort
	}
	if cfg.PathMTU == 0 {
		cfg.PathMTU = transport.DefaultPathMTU
	}
	if cfg.PathMTU < transport.MinPathMTU {
		return nil, fmt.Errorf("quic transport: path MTU %d is below the minimum of %d", cfg.PathMTU, transport.MinPathMTU)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Stripes <= 0 {
		cfg.Stripes = DefaultStripes
	}
	if cfg.Stripes > MaxStripes {
		return nil, fmt.Errorf("quic transport: %d stripes, at most %d", cfg.Stripes, MaxStripes)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = linkbind.DefaultHandshakeTimeout
	}
	b := &Bind{cfg: cfg}
	var err error
	if cfg.ServerTLS != nil {
		if b.server, err = linkbind.WithALPN(cfg.ServerTLS); err != nil {
			return nil, fmt.Errorf("quic transport: server configuration: %w", err)
		}
	}
	if cfg.ClientTLS != nil {
		if b.client, err = linkbind.WithALPN(cfg.ClientTLS); err != nil {
			return nil, fmt.Errorf("quic transport: client configuration: %w", err)
		}
	}
	b.qconf = &quicgo.Config{
		EnableDatagrams:         true,
		InitialPacketSize:       uint16(PacketSize(cfg.PathMTU)),
		DisablePathMTUDiscovery: true,
		MaxIdleTimeout:          cfg.IdleTimeout,
		KeepAlivePeriod:         cfg.IdleTimeout / 3,
		HandshakeIdleTimeout:    cfg.HandshakeTimeout,
		MaxIncomingStreams:      -1,
		MaxIncomingUniStreams:   1, // the hello, see stripe.go
	}
	b.core = linkbind.New(linkbind.Config{
		Scheme: transport.QUIC, DefaultPort: cfg.PeerPort, QueueLen: cfg.QueueLen,
		BackoffMin: cfg.BackoffMin, BackoffMax: cfg.BackoffMax, HandshakeTimeout: cfg.HandshakeTimeout,
		Logger: cfg.Logger,
	})
	return b, nil
}

// Packet sizes, in bytes.
const (
	// MaxUDPPayload is the largest UDP payload quic-go ever sends (1500
	// less IPv6 and UDP headers), whatever the path allows.
	MaxUDPPayload = 1452
	// PacketOverhead is quic-go's budget for a 1-RTT packet's own bytes
	// (1 flags + 20 connection ID + 16 AEAD tag) plus the DATAGRAM frame's
	// type byte and 2-byte length. quic-go v0.65 in fact accepts datagrams
	// 3 bytes larger; the slack keeps the number valid if its estimate
	// tightens.
	PacketOverhead = 1 + 20 + 16 + 1 + 2
)

// PacketSize returns the UDP payload size of the Bind's packets over a path
// of MTU pathMTU: the path less the outer IPv6 and UDP headers, at most
// MaxUDPPayload. At transport.MinPathMTU it is 1232, above the 1200 bytes
// QUIC requires.
func PacketSize(pathMTU int) int {
	return min(pathMTU-transport.IPUDPOverhead, MaxUDPPayload)
}

// InnerMTU returns the TUN MTU whose packets, as WireGuard messages, fit a
// DATAGRAM frame of a full packet over a path of MTU pathMTU.
func InnerMTU(pathMTU int) int {
	return PacketSize(pathMTU) - PacketOverhead - transport.WireGuardOverhead
}

// Info describes the transport to the registry: UDP port 443, packets
// sized from Options.PathMTU, TLS configurations required.
func Info() transport.Info {
	return transport.Info{
		Name: transport.QUIC, Network: transport.NetworkUDP, DefaultPort: transport.DefaultQUICPort, TLS: true,
		InnerMTU: InnerMTU,
		New: func(o transport.Options) (transport.Bind, error) {
			return New(Config{ServerTLS: o.ServerTLS, ClientTLS: o.ClientTLS, PathMTU: o.PathMTU, Logger: o.Logger})
		},
	}
}

// Scheme returns transport.QUIC.
func (b *Bind) Scheme() string { return transport.QUIC }

// Owns reports whether ep is an endpoint of this transport.
func (b *Bind) Owns(ep conn.Endpoint) bool { return b.core.Owns(ep) }

// ParseEndpoint reads "quic://addr[:port]" or "addr[:port]" (Config.PeerPort if
// missing).
func (b *Bind) ParseEndpoint(s string) (conn.Endpoint, error) { return b.core.ParseEndpoint(s) }

// BatchSize returns the largest batch Send and the ReceiveFunc handle.
func (b *Bind) BatchSize() int { return b.core.BatchSize() }

// LinkStats returns the counters every connection-oriented transport
// keeps (the multi Bind's metrics read them).
func (b *Bind) LinkStats() linkbind.Stats { return b.core.Stats() }

// Stats returns the Bind's counters.
func (b *Bind) Stats() Stats {
	return Stats{Stats: b.core.Stats(), TooLarge: b.tooLarge.Load()}
}

// Open binds UDP port (0 picks one), accepts connections on it if the Bind
// has a server configuration, and returns the ReceiveFunc and the port.
func (b *Bind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.core.Open() {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
	if err != nil {
		return nil, 0, fmt.Errorf("quic transport: listen on UDP port %d: %w", port, err)
	}
	if b.mark != 0 {
		if err := markUDP(udp, b.mark); err != nil {
			udp.Close()
			return nil, 0, err
		}
	}
	tr := &quicgo.Transport{Conn: udp, ConnectionIDLength: connectionIDLength}
	var ln linkbind.Listener
	if b.server != nil {
		ql, err := tr.Listen(b.server, b.qconf)
		if err != nil {
			tr.Close()
			udp.Close()
			return nil, 0, fmt.Errorf("quic transport: listen: %w", err)
		}
		ln = &listener{b: b, ln: ql}
	}
	b.udp, b.tr = udp, tr
	var dial linkbind.Dialer
	if b.client != nil {
		dial = b.dial
	}
	fns, err := b.core.Start(ln, dial)
	if err != nil {
		b.closeSocket()
		return nil, 0, err
	}
	return fns, uint16(udp.LocalAddr().(*net.UDPAddr).Port), nil
}

func (b *Bind) closeSocket() error {
	var err error
	if b.tr != nil {
		err = b.tr.Close()
	}
	if b.udp != nil {
		if cerr := b.udp.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
	}
	b.tr, b.udp = nil, nil
	return err
}

// Close closes every connection and the socket and makes the ReceiveFunc
// return net.ErrClosed.
func (b *Bind) Close() error {
	err := b.core.Stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	if cerr := b.closeSocket(); cerr != nil && err == nil {
		err = fmt.Errorf("quic transport: close: %w", cerr)
	}
	return err
}

// LocalPort returns the UDP port the Bind is open on, 0 when closed.
func (b *Bind) LocalPort() uint16 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.udp == nil {
		return 0
	}
	return uint16(b.udp.LocalAddr().(*net.UDPAddr).Port)
}

// SetMark sets SO_MARK on the Bind's UDP socket, now and after reopening.
func (b *Bind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mark = mark
	if b.udp == nil {
		return nil
	}
	return markUDP(b.udp, mark)
}

func markUDP(udp *net.UDPConn, mark uint32) error {
	rc, err := udp.SyscallConn()
	if err != nil {
		return fmt.Errorf("quic transport: %w", err)
	}
	if err := linkbind.SetMark(rc, mark); err != nil {
		return fmt.Errorf("quic transport: %w", err)
	}
	return nil
}

// Send queues copies of bufs for ep's connection; see transport.Bind.
func (b *Bind) Send(bufs [][]byte, ep conn.Endpoint) error { return b.core.Send(bufs, ep) }

func (b *Bind) dial(ctx context.Context, dst netip.AddrPort) (linkbind.Link, error) {
	b.mu.Lock()
	tr := b.tr
	b.mu.Unlock()
	if tr == nil {
		return nil, net.ErrClosed
	}
	l, err := b.dialGroup(ctx, func(ctx context.Context) (*quicgo.Conn, error) {
		return tr.Dial(ctx, net.UDPAddrFromAddrPort(dst), b.client, b.qconf)
	}, b.cfg.Stripes)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", dst, err)
	}
	return l, nil
}

func check(qc *quicgo.Conn) error {
	st := qc.ConnectionState()
	if err := linkbind.CheckALPN(st.TLS); err != nil {
		return err
	}
	if !st.SupportsDatagrams.Remote {
		return errors.New("peer does not support QUIC datagrams")
	}
	return nil
}

type listener struct {
	b  *Bind
	ln *quicgo.Listener
}

// Accept waits for the next connection; see linkbind.Listener.
func (l *listener) Accept(ctx context.Context) (linkbind.Handshake, error) {
	qc, err := l.ln.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (linkbind.Link, netip.AddrPort, error) {
		remote := qc.RemoteAddr().(*net.UDPAddr).AddrPort()
		remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
		if err := check(qc); err != nil {
			qc.CloseWithError(0, "")
			return nil, remote, fmt.Errorf("connection from %s: %w", remote, err)
		}
		id, err := readHello(ctx, qc)
		if err != nil {
			qc.CloseWithError(0, "")
			return nil, remote, fmt.Errorf("connection from %s: %w", remote, err)
		}
		lk, isNew, err := l.b.groups.join(id, qc, l.b)
		if err != nil {
			qc.CloseWithError(0, "")
			return nil, remote, fmt.Errorf("connection from %s: %w", remote, err)
		}
		if !isNew {
			return nil, remote, nil
		}
		return lk, remote, nil
	}, nil
}

// Close stops accepting.
func (l *listener) Close() error { return l.ln.Close() }

// connectionIDLength is the length of the connection IDs a Bind hands its
// peers, so of those in the packets they send it. quic-go sizes the largest
// datagram for the longest connection ID (20 bytes), so with 20-byte IDs a
// full-size message fills its packet to the packet size exactly, whatever
// the packet size PathMTU sets; quic-go batches packets into one GSO send
// only while they are exactly that size.
// With its default of 4 bytes every packet was 16 bytes short and went out
// in a system call of its own.
const connectionIDLength = 20
