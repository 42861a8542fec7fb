package tunnel

import (
	"context"
	"fmt"
	"log/slog"

	"golang.zx2c4.com/wireguard/device"
)

// noEndpoint is what wireguard-go's error says when it cannot send to a
// peer whose endpoint it does not know yet.
const noEndpoint = "no known endpoint for peer"

// wireguardLogger adapts slog to wireguard-go's printf-style logger:
// verbose messages at Debug, errors at Error. Formatting is skipped when the
// level is off, as the device logs per packet at the verbose level.
//
// A send that fails for want of an endpoint is logged at Debug: a peer that
// is reached only after it speaks first (one whose address this end learns
// from its handshake) has no endpoint until then, and a keepalive or
// handshake wireguard-go tries before that fails by design. (The
// point-to-site gateway avoids the attempt altogether: it turns a client's
// keepalive on only after the client's first probe came through.)
func wireguardLogger(l *slog.Logger) *device.Logger {
	logf := func(level slog.Level) func(string, ...any) {
		return func(format string, args ...any) {
			lv := level
			if lv == slog.LevelError && expectedWithoutEndpoint(args) {
				lv = slog.LevelDebug
			}
			if l.Enabled(context.Background(), lv) {
				l.Log(context.Background(), lv, fmt.Sprintf(format, args...), "component", "wireguard")
			}
		}
	}
	return &device.Logger{Verbosef: logf(slog.LevelDebug), Errorf: logf(slog.LevelError)}
}

// expectedWithoutEndpoint reports whether an error message's arguments
// carry the error of a send to a peer without an endpoint.
func expectedWithoutEndpoint(args []any) bool {
	for _, a := range args {
		if err, ok := a.(error); ok && err.Error() == noEndpoint {
			return true
		}
	}
	return false
}
