package netnstests

import (
	"fmt"
	"testing"

	"intransit/netns-tests/testpeer"
)

// TestQUICAndTLSTunnelsOverIPv6Underlay runs the quic and the tls tunnel
// over an IPv6-only underlay: the IPv4 underlay addresses are removed and
// both peers are pointed at each other's IPv6 address; pings cross both
// ways over inner IPv4 and IPv6, and every packet of the transport on the
// wire is IPv6.
func TestQUICAndTLSTunnelsOverIPv6Underlay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ transport, proto string }{
		{testpeer.TransportQUIC, "udp"},
		{testpeer.TransportTLS, "tcp"},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			opts := pairOptions{transport: tc.transport}
			p := newPair(t, opts)
			p.a.MustRun("ip", "-4", "addr", "flush", "dev", p.link.A.Name())
			p.b.MustRun("ip", "-4", "addr", "flush", "dev", p.link.B.Name())
			port := opts.listenPort()
			p.ea.SetPeer(testpeer.Peer{PublicKey: p.eb.PublicKey.String(),
				Endpoint:   fmt.Sprintf("%s://[%s]:%d", tc.transport, underB6, port),
				AllowedIPs: []string{innerB4 + "/32", innerB6 + "/128"}})
			p.eb.SetPeer(testpeer.Peer{PublicKey: p.ea.PublicKey.String(),
				Endpoint:   fmt.Sprintf("%s://[%s]:%d", tc.transport, underA6, port),
				AllowedIPs: []string{innerA4 + "/32", innerA6 + "/128"}})
			under := p.link.B.Capture()
			mustPing(t, p.a, innerB4, 3)
			mustPing(t, p.b, innerA4, 3)
			mustPing(t, p.a, innerB6, 3)
			mustPing(t, p.b, innerA6, 3)
			wire := under.Stop()
			n := 0
			for _, pk := range wire.Packets {
				if pk.Proto != tc.proto {
					continue
				}
				n++
				if pk.Network != "ip6" || (pk.Src.Port() != port && pk.Dst.Port() != port) {
					t.Fatalf("%s packet %s -> %s (%s) on the IPv6-only underlay", tc.proto, pk.Src, pk.Dst, pk.Network)
				}
			}
			if n < 24 {
				t.Errorf("%d %s packets on the underlay, want at least 24 (12 pings and their replies)", n, tc.proto)
			}
			st, ok := p.ea.Peer(p.eb.PublicKey)
			if !ok || st.LastHandshake.IsZero() {
				t.Errorf("peer b as seen by a: %+v (found %v)", st, ok)
			}
		})
	}
}
