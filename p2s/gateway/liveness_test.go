package gateway

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"intransit/internal/gatewaycore"
	"intransit/internal/gatewaycore/peersettest"
	"intransit/tunnel"
)

// TestStartKeepalive: the client's peer is created without a keepalive;
// startKeepalive turns it on for the client's current session only, and
// never creates a peer that is gone.
func TestStartKeepalive(t *testing.T) {
	const keepalive = 2 * time.Second
	newGateway := func() (*Gateway, *peersettest.Memory, *session) {
		mem := peersettest.NewMemory()
		g := &Gateway{opts: Options{ClientKeepalive: keepalive}, log: slog.New(slog.DiscardHandler),
			peers: gatewaycore.NewPeers(mem), sessions: map[string]*session{}}
		s := &session{g: g, name: "alice", owner: gatewaycore.NewOwner("client alice"), attached: true}
		s.pub[0] = 1
		s.pc = tunnel.PeerConfig{PublicKey: s.pub, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.1/32")}}
		if err := g.peers.Set(s.owner, s.pc); err != nil {
			t.Fatal(err)
		}
		g.sessions[s.name] = s
		return g, mem, s
	}
	keepaliveOf := func(mem *peersettest.Memory, pub tunnel.PublicKey) (time.Duration, bool) {
		pc, ok := mem.Config(pub)
		return pc.PersistentKeepalive, ok
	}

	t.Run("current session", func(t *testing.T) {
		_, mem, s := newGateway()
		if k, _ := keepaliveOf(mem, s.pub); k != 0 {
			t.Fatalf("keepalive %v before the first probe", k)
		}
		if !s.startKeepalive() {
			t.Fatal("startKeepalive: false for the client's current session")
		}
		if k, _ := keepaliveOf(mem, s.pub); k != keepalive {
			t.Errorf("keepalive %v, want %v", k, keepalive)
		}
		pc, _ := mem.Config(s.pub)
		if len(pc.AllowedIPs) != 1 || s.pc.PersistentKeepalive != keepalive {
			t.Errorf("peer after the keepalive: %+v, session's %+v", pc, s.pc)
		}
	})
	t.Run("superseded session", func(t *testing.T) {
		g, mem, s := newGateway()
		g.sessions[s.name] = &session{g: g, name: s.name}
		if s.startKeepalive() {
			t.Error("startKeepalive: true for a superseded session")
		}
		if k, _ := keepaliveOf(mem, s.pub); k != 0 {
			t.Errorf("keepalive %v set by a superseded session", k)
		}
	})
	t.Run("peer gone", func(t *testing.T) {
		g, mem, s := newGateway()
		if err := g.peers.Release(s.owner, s.pub); err != nil {
			t.Fatal(err)
		}
		if s.startKeepalive() {
			t.Error("startKeepalive: true without a peer")
		}
		if _, ok := keepaliveOf(mem, s.pub); ok {
			t.Error("startKeepalive created the removed peer again")
		}
	})
}
