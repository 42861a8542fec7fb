package console

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Connection bounds of a console listener.
const (
	// MaxConnsPerSource is how many connections one IP address may hold.
	MaxConnsPerSource = 16
	// MaxConns is how many connections the console holds in all.
	MaxConns = 128
)

// limitListener closes at once a connection over the per-source or the
// total bound.
type limitListener struct {
	net.Listener
	perSource, total int

	mu    sync.Mutex
	bySrc map[string]int
	all   int
}

// LimitListener bounds the connections accepted from ln: at most
// perSource at a time from one IP address and total overall; a connection
// over either bound is closed as soon as it is accepted.
func LimitListener(ln net.Listener, perSource, total int) net.Listener {
	return &limitListener{Listener: ln, perSource: perSource, total: total, bySrc: map[string]int{}}
}

// Accept returns the next connection within the bounds.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(src); err == nil {
			src = host
		}
		l.mu.Lock()
		if l.bySrc[src] >= l.perSource || l.all >= l.total {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.bySrc[src]++
		l.all++
		l.mu.Unlock()
		return &limitConn{Conn: c, release: func() { l.release(src) }}, nil
	}
}

func (l *limitListener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all--
	if l.bySrc[src]--; l.bySrc[src] <= 0 {
		delete(l.bySrc, src)
	}
}

// limitConn gives its slot back once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Serve serves the console on ln (bounded per source and in total, with
// deadlines on every request) until ctx ends; ln is closed then. With cfg
// the console speaks TLS on ln (see Options.Admin), else plain HTTP.
func (c *Console) Serve(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	srv := &http.Server{
		Handler:           c.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      actionTimeout + 10*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	ln = LimitListener(ln, MaxConnsPerSource, MaxConns)
	if cfg != nil {
		// Over the limit: the server must see the *tls.Conn itself.
		ln = tls.NewListener(ln, cfg)
	}
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
