package main

import (
	"log/slog"
	"testing"

	"intransit/internal/daemonconfig"
)

// TestLogLevelReload: the configuration's level applies at start and on
// every reload, unless --log-level pinned it.
func TestLogLevelReload(t *testing.T) {
	cfg := func(level string) *daemonconfig.Config { return &daemonconfig.Config{LogLevel: level} }
	l, err := newLogLevel("")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		level   string
		changed bool
		want    slog.Level
	}{
		{"info", false, slog.LevelInfo},
		{"debug", true, slog.LevelDebug},
		{"debug", false, slog.LevelDebug},
		{"error", true, slog.LevelError},
		{"warn", true, slog.LevelWarn},
	}
	for i, s := range steps {
		if got := l.apply(cfg(s.level)); got != s.changed {
			t.Errorf("step %d (%s): changed %v, want %v", i, s.level, got, s.changed)
		}
		if l.Level() != s.want {
			t.Errorf("step %d (%s): level %v, want %v", i, s.level, l.Level(), s.want)
		}
	}
	pinned, err := newLogLevel("debug")
	if err != nil {
		t.Fatal(err)
	}
	if pinned.apply(cfg("error")) || pinned.Level() != slog.LevelDebug {
		t.Errorf("a pinned level followed the configuration: %v", pinned.Level())
	}
	if _, err := newLogLevel("loud"); err == nil {
		t.Error("--log-level loud accepted")
	}
}
