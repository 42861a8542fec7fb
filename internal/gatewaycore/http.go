package gatewaycore

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Bounds of the HTTP listeners that face the internet (point-to-site
// enrollment and renewal).
const (
	// HTTPHeaderTimeout bounds the TLS handshake and the request headers,
	// HTTPReadTimeout the whole request, HTTPWriteTimeout the answer and
	// HTTPIdleTimeout a kept-alive connection between requests.
	HTTPHeaderTimeout = 5 * time.Second
	HTTPReadTimeout   = 10 * time.Second
	HTTPWriteTimeout  = 30 * time.Second
	HTTPIdleTimeout   = 30 * time.Second
	// HTTPMaxHeaderBytes bounds the request headers, HTTPMaxBodyBytes a
	// request body.
	HTTPMaxHeaderBytes = 16 << 10
	HTTPMaxBodyBytes   = 64 << 10
	// HTTPPerSource bounds the connections one source (an IPv4 address or
	// an IPv6 /64) holds open, HTTPConns those of all sources.
	HTTPPerSource = 8
	HTTPConns     = 256
)

// NewHTTPServer returns a server of h over TLS (cfg) with the deadlines and
// size limits above; its own errors (failed handshakes) go to log at debug
// level, limited per message.
func NewHTTPServer(h http.Handler, cfg *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{Handler: http.MaxBytesHandler(h, HTTPMaxBodyBytes), TLSConfig: cfg,
		ReadHeaderTimeout: HTTPHeaderTimeout, ReadTimeout: HTTPReadTimeout, WriteTimeout: HTTPWriteTimeout,
		IdleTimeout: HTTPIdleTimeout, MaxHeaderBytes: HTTPMaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(LimitLog(log, DefaultLogEvery).Handler(), slog.LevelDebug)}
}

// LimitListener returns ln bounded to perSource open connections per
// source and total in all: a connection beyond either is closed at once
// and recorded in refusals (ReasonSourceLimit, ReasonBusy).
func LimitListener(ln net.Listener, perSource, total int, refusals *Refusals) net.Listener {
	return &limitListener{Listener: ln, perSource: perSource, total: total, refusals: refusals, by: map[netip.Prefix]int{}}
}

type limitListener struct {
	net.Listener
	perSource, total int
	refusals         *Refusals

	mu   sync.Mutex
	open int
	by   map[netip.Prefix]int
}

// Accept returns the next connection within the bounds.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(sourceAddr(c.RemoteAddr()))
		if reason := l.take(src); reason != "" {
			l.refusals.Record(c.RemoteAddr().String(), "", reason, "too many open connections")
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(src) }}, nil
	}
}

func (l *limitListener) take(src netip.Prefix) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.by[src] >= l.perSource:
		return ReasonSourceLimit
	case l.open >= l.total:
		return ReasonBusy
	}
	l.open++
	l.by[src]++
	return ""
}

func (l *limitListener) release(src netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.by[src]--; l.by[src] <= 0 {
		delete(l.by, src)
	}
}

// limitedConn gives its slot back on its first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
