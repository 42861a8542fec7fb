package netnstests

import (
	"context"
	"strconv"
	"testing"
	"time"

	"intransit/tunnel/transport"
	"intransit/tunnel/transport/registry"
)

// TestS2SSmallPathEachTransport carries 20 MB between the sites over each
// transport across a WAN whose router's links have an MTU of 1280 (its
// interfaces; the gateways' own stay at 1500, so they cannot know) and
// whose router drops every ICMP packet (no "packet too big" ever
// arrives): anything larger than 1280 bytes vanishes in either direction. Both
// gateways are configured with path_mtu 1280: QUIC packets, the TCP
// segments of the control channel and the tls transport, and the inner MTU
// are sized to it, so nothing relies on path MTU discovery. The largest
// packet the tunnel interface takes crosses too (ping with DF set), and the
// bytes arrive intact (length and SHA-256). Each transport runs in a lab of
// its own, side by side.
func TestS2SSmallPathEachTransport(t *testing.T) {
	t.Parallel()
	const pathMTU = 1280
	inner, err := registry.FallbackMTU(registry.Names(), pathMTU)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range registry.Names() {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			l := newS2SLab(t)
			l.cfgA.remotes[0].transports, l.cfgB.remotes[0].transports = tr, tr
			l.cfgA.pathMTU, l.cfgB.pathMTU = pathMTU, pathMTU
			l.wanA.B.SetMTU(pathMTU)
			l.wanB.A.SetMTU(pathMTU)
			l.router.Block("icmp", 0)
			l.router.Block("icmpv6", 0)
			// The black hole is real: a ping that fits the gateways' links
			// but not the router's vanishes, and a small one is dropped
			// as ICMP.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, size := range []string{"1400", "56"} {
				if out, err := l.gwA.Run(ctx, "ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", size, s2sWanB); err == nil {
					t.Fatalf("a ping of %s bytes crossed the router:\n%s", size, out)
				}
			}
			a, b := l.start(t)
			pa := a.waitUp("site-b", 30*time.Second)
			b.waitUp("site-a", 30*time.Second)
			if pa.Transport != tr {
				t.Errorf("gw-a uses %s, want %s", pa.Transport, tr)
			}
			if st := a.status(); st.Gateway.MTU != inner {
				t.Errorf("gw-a interface MTU %d, want %d (path %d less the largest overhead)", st.Gateway.MTU, inner, pathMTU)
			}
			// A full-size inner packet, DF set, crosses as one WAN packet.
			ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel2()
			size := strconv.Itoa(inner - 28)
			if out, err := l.siteA.Run(ctx2, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "5", "-M", "do", "-s", size, s2sHostB); err != nil {
				t.Errorf("a %d-byte ping (the tunnel's MTU) did not cross: %v\n%s", inner, err, out)
			}
			xfer := l.xfer(t)
			const n = 20 << 20
			start := time.Now()
			transfer(t, xfer, l.siteA, l.siteB, s2sHostB, n)
			d := time.Since(start)
			t.Logf("%s over a %d-byte path with ICMP dropped: %d MB in %v (%.1f Mbit/s), inner MTU %d, TCP MSS on the WAN %d",
				tr, pathMTU, n>>20, d.Round(time.Millisecond), float64(n)*8/d.Seconds()/1e6, inner, transport.TCPMSS(pathMTU))
			a.stop()
			b.stop()
		})
	}
}
