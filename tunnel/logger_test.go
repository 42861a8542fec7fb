package tunnel

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestWireguardLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := wireguardLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Errorf("%v - Failed to send handshake initiation: %v", "peer(abcd)", errors.New(noEndpoint))
	l.Verbosef("%v - Sending keepalive packet", "peer(abcd)")
	if buf.Len() != 0 {
		t.Errorf("at Info, a send without an endpoint or a verbose line was logged:\n%s", buf.String())
	}
	l.Errorf("%v - Failed to send handshake initiation: %v", "peer(abcd)", errors.New("network is unreachable"))
	if out := buf.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "network is unreachable") {
		t.Errorf("a real send failure is not an error: %q", out)
	}

	buf.Reset()
	l = wireguardLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Errorf("%v - Failed to send handshake initiation: %v", "peer(abcd)", errors.New(noEndpoint))
	if out := buf.String(); !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, noEndpoint) {
		t.Errorf("a send without an endpoint is not at Debug: %q", out)
	}
}
