package netnstests

import (
	"context"
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/netns-tests/testpeer"
)

// TestQUICAndTLSTunnelsFollowARoamingPeer moves host a to a new underlay
// address while its tunnel to b runs over quic and then over tls: the
// old address is gone, so the old connection is dead (tls) or has to
// migrate (quic), and traffic must flow again both ways without touching
// either endpoint's configuration. Over tls, b must then be using the new
// connection from a's new address.
func TestQUICAndTLSTunnelsFollowARoamingPeer(t *testing.T) {
	t.Parallel()
	const movedA4 = "10.0.0.3"
	for _, tr := range []string{testpeer.TransportQUIC, testpeer.TransportTLS} {
		t.Run(tr, func(t *testing.T) {
			p := newPair(t, pairOptions{transport: tr})
			mustPing(t, p.a, innerB4, 2)
			mustPing(t, p.b, innerA4, 2)

			// Remove first: deleting a primary address takes its
			// secondaries with it.
			p.a.MustRun("ip", "addr", "del", underA4+"/24", "dev", p.link.A.Name())
			p.link.A.AddAddr(movedA4 + "/24")

			waitPing(t, p.a, innerB4, 60*time.Second)
			mustPing(t, p.a, innerB4, 3)
			mustPing(t, p.b, innerA4, 3)
			st, ok := p.eb.Peer(p.ea.PublicKey)
			if !ok || !strings.HasPrefix(st.Endpoint, tr+"://") {
				t.Fatalf("peer a as seen by b: %+v (found %v)", st, ok)
			}
			if tr == testpeer.TransportTLS && !strings.Contains(st.Endpoint, movedA4) {
				t.Errorf("b reaches a at %q, not on a connection from its new address %s", st.Endpoint, movedA4)
			}
		})
	}
}

// waitPing pings dst from h once a second until one answer comes back,
// failing the test after timeout.
func waitPing(t *testing.T, h *netlab.Host, dst string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := h.Run(ctx, "ping", "-n", "-q", "-c", "1", "-W", "1", dst)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %s within %v", dst, h.Name(), timeout)
		}
	}
}
