// Package logging builds the slog loggers of the daemon and the CLI: a text
// or JSON handler on one writer, at a level that may change while the
// process runs (a slog.LevelVar the caller keeps and sets on reload).
//
// Whatever the level, nothing the project logs carries key material: no
// private key, PSK, enrollment token or passphrase is ever a log attribute.
// Debug adds detail (peer updates, per-connection events, handshakes), not
// secrets.
package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// Level names, as written in the configuration (log_level) and on command
// lines (--log-level).
const (
	Debug = "debug"
	Info  = "info"
	Warn  = "warn"
	Error = "error"
)

// Formats of the log output.
const (
	Text = "text"
	JSON = "json"
)

// ParseLevel returns the slog level of one of the four level names (exact,
// lower case). The error lists them.
func ParseLevel(name string) (slog.Level, error) {
	switch name {
	case Debug:
		return slog.LevelDebug, nil
	case Info:
		return slog.LevelInfo, nil
	case Warn:
		return slog.LevelWarn, nil
	case Error:
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: want %s, %s, %s or %s", name, Debug, Info, Warn, Error)
}

// New returns a logger writing to w in format (JSON for JSON, text for
// anything else) at level.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
