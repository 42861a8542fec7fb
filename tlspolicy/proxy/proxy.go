// Package proxy puts a plaintext TCP service behind policy-checked TLS, or
// lets plaintext local clients reach a TLS service: the data path of
// `intransit tls proxy`. The TLS side is configured by tlspolicy; this
// package accepts, refuses plaintext spoken to a TLS port, dials, copies and
// counts.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"intransit/tlspolicy"
)

// Mode says which side of the proxy speaks TLS.
type Mode string

// Modes of the proxy.
const (
	// ModeServer accepts TLS (terminating it) and forwards plaintext to the
	// target.
	ModeServer Mode = "server"
	// ModeClient accepts plaintext and originates TLS to the target.
	ModeClient Mode = "client"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeServer, ModeClient:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown proxy mode %q (want server or client)", s)
}

// Config describes a proxy.
type Config struct {
	// Mode chooses which side speaks TLS.
	Mode Mode
	// Target is the address connections are forwarded to.
	Target string
	// TLS is the server config (ModeServer) or client config (ModeClient),
	// built by tlspolicy.ServerConfig or tlspolicy.ClientConfig.
	TLS *tls.Config
	// Profile names the policy in logs and metric labels.
	Profile string
	// Logger receives connection and refusal lines; nil discards.
	Logger *slog.Logger
	// PolicyMetrics counts the refusals the proxy decides itself
	// (plaintext, failed handshakes) beside those of the TLS config; nil
	// counts nothing.
	PolicyMetrics *tlspolicy.Metrics
	// Metrics counts bytes and connections; nil counts nothing.
	Metrics *Metrics
	// HandshakeTimeout bounds the first bytes and the TLS handshake
	// (default 10s).
	HandshakeTimeout time.Duration
	// DialTimeout bounds connecting to the target (default 5s).
	DialTimeout time.Duration
	// ShutdownGrace is how long Serve waits for open connections after its
	// context ends before closing them (default 10s).
	ShutdownGrace time.Duration
	// BufferSize is the copy buffer per direction and the read buffer
	// under the TLS side (default 32 KiB; a connection holds three while it
	// is open). Larger buffers did not measurably speed up the data path.
	BufferSize int
}

// Proxy forwards connections between a listener and a target.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	dialer net.Dialer
	bufs   sync.Pool // BufferSize buffers, for every connection
	bulk   sync.Pool // bulkBufferSize buffers, for connections moving bulk data

	mu      sync.Mutex
	conns   map[net.Conn]struct{} // accepted connections
	targets map[net.Conn]struct{} // connections to the target
	wg      sync.WaitGroup

	open, accepted, refused atomic.Int64
	bytesIn, bytesOut       atomic.Int64
}

// New checks cfg and makes a proxy.
func New(cfg Config) (*Proxy, error) {
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	if cfg.Target == "" {
		return nil, errors.New("proxy: no target address")
	}
	if cfg.TLS == nil {
		return nil, errors.New("proxy: no TLS config")
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = 32 << 10
	}
	cfg.TLS = cfg.TLS.Clone()
	// Full-size records from the first byte: this is a bulk data path.
	cfg.TLS.DynamicRecordSizingDisabled = true
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cfg: cfg, log: log, dialer: net.Dialer{Timeout: cfg.DialTimeout}, conns: map[net.Conn]struct{}{}, targets: map[net.Conn]struct{}{}}
	p.bufs.New = func() any {
		b := make([]byte, cfg.BufferSize)
		return &b
	}
	p.bulk.New = func() any {
		b := make([]byte, bulkBufferSize)
		return &b
	}
	return p, nil
}

// Serve accepts connections on ln until ctx ends, then stops accepting,
// waits up to ShutdownGrace for open connections to finish and closes the
// rest. It closes ln. It returns nil after a shutdown and the accept error
// otherwise.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	p.log.Info("proxy listening", "mode", p.cfg.Mode, "listen", ln.Addr().String(), "target", p.cfg.Target, "profile", p.cfg.Profile)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var acceptErr error
	backoff := time.Duration(0)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, net.ErrClosed) {
				acceptErr = fmt.Errorf("accept: %w", err)
				break
			}
			// Out of file descriptors and the like: wait and try again
			// rather than give up serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Error("accept failed, retrying", "error", err.Error(), "retry_in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		p.track(c, true)
		p.wg.Go(func() {
			defer p.track(c, false)
			p.handle(ctx, c)
		})
	}
	ln.Close()
	p.drain()
	return acceptErr
}

// drain waits for open connections, closing them after the grace period.
func (p *Proxy) drain() {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	t := time.NewTimer(p.cfg.ShutdownGrace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	p.mu.Lock()
	n := len(p.conns)
	for c := range p.conns {
		c.Close()
	}
	for c := range p.targets {
		c.Close()
	}
	p.mu.Unlock()
	p.log.Warn("shutdown grace period over, closed open connections", "count", n)
	<-done
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
		p.open.Add(1)
		p.cfg.Metrics.opened()
		return
	}
	delete(p.conns, c)
	c.Close()
	p.open.Add(-1)
	p.cfg.Metrics.closed()
}

// trackTarget records a connection to the target, so that the end of a
// shutdown's grace period closes it, and returns the function that closes
// and forgets it.
func (p *Proxy) trackTarget(c net.Conn) func() {
	p.mu.Lock()
	p.targets[c] = struct{}{}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.targets, c)
		p.mu.Unlock()
		c.Close()
	}
}

func (p *Proxy) handle(ctx context.Context, c net.Conn) {
	peer := c.RemoteAddr().String()
	start := time.Now()
	switch p.cfg.Mode {
	case ModeServer:
		client, raw, err := p.acceptTLS(ctx, c)
		if err != nil {
			p.refused.Add(1)
			return
		}
		target, err := p.dialer.DialContext(ctx, "tcp", p.cfg.Target)
		if err != nil {
			p.log.Error("cannot reach the target", "target", p.cfg.Target, "peer", peer, "error", err.Error())
			return
		}
		defer p.trackTarget(target)()
		p.accepted.Add(1)
		p.log.Debug("connection accepted", append([]any{"peer", peer}, tlspolicy.ConnectionAttrs(client.ConnectionState())...)...)
		in, out := p.pipe(client, target, raw, nil)
		p.log.Debug("connection closed", "peer", peer, "bytes_in", in, "bytes_out", out, "duration", time.Since(start))
	case ModeClient:
		target, raw, err := p.dialTLS(ctx, peer)
		if err != nil {
			p.refused.Add(1)
			return
		}
		defer p.trackTarget(target)()
		p.accepted.Add(1)
		p.log.Debug("connected to the target", append([]any{"peer", peer, "target", p.cfg.Target}, tlspolicy.ConnectionAttrs(target.ConnectionState())...)...)
		in, out := p.pipe(c, target, nil, raw)
		p.log.Debug("connection closed", "peer", peer, "bytes_in", in, "bytes_out", out, "duration", time.Since(start))
	}
}

// acceptTLS refuses plaintext and runs the server handshake. It returns the
// TLS connection and the buffered connection under it.
func (p *Proxy) acceptTLS(ctx context.Context, c net.Conn) (*tls.Conn, *bufferedConn, error) {
	peer := c.RemoteAddr().String()
	_ = c.SetDeadline(time.Now().Add(p.cfg.HandshakeTimeout))
	first := make([]byte, 8)
	n, err := c.Read(first)
	if err != nil {
		if errors.Is(err, io.EOF) {
			// A TCP health check or port probe: nothing was refused.
			p.log.Debug("connection closed before sending anything", "peer", peer)
			return nil, nil, err
		}
		p.refuse(tlspolicy.ReasonHandshake, peer, fmt.Errorf("no ClientHello: %w", err))
		return nil, nil, err
	}
	first = first[:n]
	if first[0] != recordTypeHandshake {
		err := p.refusePlaintext(c, first)
		return nil, nil, err
	}
	raw := newBufferedConn(c, first, p.cfg.BufferSize)
	tc := tls.Server(raw, p.cfg.TLS)
	hctx, cancel := context.WithTimeout(ctx, p.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		if !tlspolicy.IsRefusal(err) {
			// Policy refusals are logged and counted by the TLS config.
			p.refuse(tlspolicy.ReasonHandshake, peer, err)
		}
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return tc, raw, nil
}

// dialTLS connects to the target and runs the client handshake. It returns
// the TLS connection and the buffered connection under it.
func (p *Proxy) dialTLS(ctx context.Context, peer string) (*tls.Conn, *bufferedConn, error) {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.cfg.Target)
	if err != nil {
		p.log.Error("cannot reach the target", "target", p.cfg.Target, "peer", peer, "error", err.Error())
		return nil, nil, err
	}
	cfg := p.cfg.TLS
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(p.cfg.Target)
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("target %q: %w", p.cfg.Target, err)
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	raw := newBufferedConn(conn, nil, p.cfg.BufferSize)
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, p.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		if !tlspolicy.IsRefusal(err) {
			p.refuse(tlspolicy.ReasonHandshake, p.cfg.Target, err)
		}
		return nil, nil, err
	}
	return tc, raw, nil
}

func (p *Proxy) refuse(reason tlspolicy.Reason, peer string, err error) {
	role := tlspolicy.RoleServer
	if p.cfg.Mode == ModeClient {
		role = tlspolicy.RoleClient
	}
	tlspolicy.LogRefusal(p.log, p.cfg.PolicyMetrics, role, p.cfg.Profile, &tlspolicy.Refusal{Reason: reason, Err: err}, peer)
}

// pipe copies both ways until both directions end. When one side finishes
// sending (EOF), the other side's write half is closed so that it sees EOF
// too; when a direction fails (a reset, a write error), both connections
// are closed so that the other direction ends as well. The buffered
// connection under the TLS side (clientRaw in server mode, targetRaw in
// client mode) gathers the records of each write. It returns the bytes
// moved each way.
func (p *Proxy) pipe(client, target net.Conn, clientRaw, targetRaw *bufferedConn) (in, out int64) {
	finish := func(dst net.Conn, err error) {
		if err != nil {
			client.Close()
			target.Close()
			return
		}
		closeWrite(dst)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		in, err = p.copy(target, client, directionIn, targetRaw)
		p.bytesIn.Add(in)
		finish(target, err)
	})
	var err error
	out, err = p.copy(client, target, directionOut, clientRaw)
	p.bytesOut.Add(out)
	finish(client, err)
	wg.Wait()
	return in, out
}

// Directions of the byte counters: in flows from the accepting side to the
// target, out flows back.
const (
	directionIn  = "in"
	directionOut = "out"
)

// bulkBufferSize is the copy buffer of a direction once a read has filled
// the first, small one: the connection is moving bulk data.
const bulkBufferSize = 256 << 10

// copy moves bytes from src to dst and counts them as they go; it returns
// the total and the error that ended the copy (nil for EOF). It starts with
// a BufferSize buffer and switches to a bulk one when a read fills it. When
// gather is not nil (dst is TLS over it), each write is sent with one
// system call.
func (p *Proxy) copy(dst io.Writer, src io.Reader, dir string, gather *bufferedConn) (int64, error) {
	small := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(small)
	buf := *small
	var bulk *[]byte
	defer func() {
		if bulk != nil {
			p.bulk.Put(bulk)
		}
	}()
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			var (
				w    int
				werr error
			)
			if gather != nil {
				werr = gather.gathered(func() error {
					var err error
					w, err = dst.Write(buf[:n])
					return err
				})
			} else {
				w, werr = dst.Write(buf[:n])
			}
			total += int64(w)
			p.cfg.Metrics.transferred(dir, w)
			if werr != nil {
				return total, werr
			}
		}
		if errors.Is(rerr, io.EOF) {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
		if n == len(buf) && bulk == nil && len(buf) < bulkBufferSize {
			bulk = p.bulk.Get().(*[]byte)
			buf = *bulk
		}
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	c.Close()
}

// Status is a snapshot of the proxy's counters.
type Status struct {
	Mode     Mode   `json:"mode"`
	Target   string `json:"target"`
	Profile  string `json:"profile"`
	Open     int64  `json:"open_connections"`
	Accepted int64  `json:"accepted"`
	Refused  int64  `json:"refused"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
}

// Status returns the current counters. Bytes in flow from the accepting
// side to the target; bytes out flow back.
func (p *Proxy) Status() Status {
	return Status{
		Mode: p.cfg.Mode, Target: p.cfg.Target, Profile: p.cfg.Profile,
		Open: p.open.Load(), Accepted: p.accepted.Load(), Refused: p.refused.Load(),
		BytesIn: p.bytesIn.Load(), BytesOut: p.bytesOut.Load(),
	}
}
