package main

import (
	"log/slog"

	"intransit/internal/daemonconfig"
	"intransit/internal/logging"
)

// logLevel is the daemon's log level: the configuration's log_level, set
// again by every reload, unless --log-level pinned it for the life of the
// process.
type logLevel struct {
	slog.LevelVar
	pinned bool
}

// newLogLevel returns the level of flag ("" leaves it to the
// configuration).
func newLogLevel(flag string) (*logLevel, error) {
	l := &logLevel{}
	if flag == "" {
		return l, nil
	}
	lv, err := logging.ParseLevel(flag)
	if err != nil {
		return nil, err
	}
	l.Set(lv)
	l.pinned = true
	return l, nil
}

// apply sets the level of cfg (validated, so its level parses) unless the
// command line pinned it; it reports whether the level changed.
func (l *logLevel) apply(cfg *daemonconfig.Config) bool {
	if l.pinned {
		return false
	}
	lv, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil || lv == l.Level() {
		return false
	}
	l.Set(lv)
	return true
}
