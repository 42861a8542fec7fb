package gateway

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"intransit/p2s"
)

func TestDisconnectWithoutSession(t *testing.T) {
	g := &Gateway{log: slog.New(slog.DiscardHandler), sessions: map[string]*session{}}
	err := g.Disconnect(context.Background(), "alice")
	if !errors.Is(err, p2s.ErrNotFound) || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("Disconnect of a client without a session: %v, want ErrNotFound naming it", err)
	}
}
