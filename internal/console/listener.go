package console

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"intransit/internal/gatewaycore"
)

// Connection bounds of a console listener.
const (
	// MaxConnsPerSource is how many connections one source (an IPv4
	// address, an IPv6 /64) may hold.
	MaxConnsPerSource = 16
	// MaxConns is how many connections the console holds in all.
	MaxConns = 128
)

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
	// The gateways' listener bound: refusals are logged at most once per
	// reason and interval.
	ln = gatewaycore.LimitListener(ln, MaxConnsPerSource, MaxConns,
		gatewaycore.NewRefusals(c.log, "console connection refused", gatewaycore.DefaultLogEvery))
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
