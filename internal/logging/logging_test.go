package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		name string
		want slog.Level
		ok   bool
	}{
		{"debug", slog.LevelDebug, true},
		{"info", slog.LevelInfo, true},
		{"warn", slog.LevelWarn, true},
		{"error", slog.LevelError, true},
		{"", 0, false},
		{"DEBUG", 0, false},
		{"warning", 0, false},
		{"info+2", 0, false},
		{"trace", 0, false},
	} {
		got, err := ParseLevel(tc.name)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, ok %v", tc.name, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "debug, info, warn or error") {
			t.Errorf("ParseLevel(%q): error %q does not list the levels", tc.name, err)
		}
	}
}

// TestNewFollowsTheLevelVar: the level applies at once when the LevelVar
// changes (as on a reload), in both formats.
func TestNewFollowsTheLevelVar(t *testing.T) {
	for _, format := range []string{Text, JSON} {
		var buf bytes.Buffer
		var lv slog.LevelVar
		lv.Set(slog.LevelInfo)
		log := New(&buf, format, &lv)
		log.Debug("hidden")
		log.Info("shown")
		lv.Set(slog.LevelDebug)
		log.Debug("now shown")
		lv.Set(slog.LevelError)
		log.Warn("hidden again")
		out := buf.String()
		if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || !strings.Contains(out, "now shown") {
			t.Errorf("%s: output:\n%s", format, out)
		}
		if format == JSON {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("json: line %q is not JSON", line)
				}
			}
		} else if strings.HasPrefix(out, "{") {
			t.Errorf("text: output is JSON:\n%s", out)
		}
	}
}
