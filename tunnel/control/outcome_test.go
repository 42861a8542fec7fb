package control

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestOutcome(t *testing.T) {
	revokedByPeer := &SessionError{Reason: ReasonRevoked, Detail: "certificate revoked", Remote: true}
	cases := []struct {
		name        string
		err         error
		established bool
		reason      string
		detail      string
		byPeer      bool
	}{
		{"orderly end", nil, true, "closed", "", false},
		{"peer refused", fmt.Errorf("run: %w", revokedByPeer), true, ReasonRevoked.String(), "certificate revoked", true},
		{"handshake failed", errors.New("EOF"), false, "handshake", "EOF", false},
		{"connection broke", errors.New("EOF"), true, "connection", "EOF", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reason, detail, byPeer := Outcome(c.err, c.established)
			if reason != c.reason || detail != c.detail || byPeer != c.byPeer {
				t.Fatalf("Outcome = %q, %q, %v; want %q, %q, %v", reason, detail, byPeer, c.reason, c.detail, c.byPeer)
			}
		})
	}
}

func TestListen(t *testing.T) {
	ln, err := Listen(context.Background(), netip.MustParseAddrPort("127.0.0.1:0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := netip.MustParseAddrPort(ln.Addr().String()).Addr(); got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("listening on %v, want 127.0.0.1", got)
	}
	every, err := Listen(context.Background(), netip.MustParseAddrPort("0.0.0.0:0"), 1280)
	if err != nil {
		t.Fatal(err)
	}
	defer every.Close()
	if !strings.HasPrefix(every.Addr().String(), "[::]:") {
		t.Fatalf("unspecified address listens on %v, want every address ([::])", every.Addr())
	}
}
