package netnstests

import (
	"strings"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
	"intransit/tunnel/transport/registry"
)

// TestP2SSmallPathEachTransport: a laptop behind a WAN whose router has
// 1280-byte links on both sides (the laptop's and the gateway's own links
// stay at 1500) and drops every ICMP packet enrolls, connects on each
// transport in turn (udp; quic with the WireGuard port blocked; tls with
// UDP 443 blocked too) and carries 20 MB to the site host and 20 MB back,
// intact. The gateway has path_mtu 1280 and an IPv4 pool only (IPv6 needs a
// larger path); the laptop runs with --underlay-mtu 1280. Only the
// clamps (TCP_MAXSEG on both ends' control, enrollment and tls sockets)
// and the QUIC packet size keep the TCP and QUIC traffic under the path:
// no nftables clamp is on the laptop.
func TestP2SSmallPathEachTransport(t *testing.T) {
	t.Parallel()
	const pathMTU = 1280
	blocks := map[string][][2]any{
		"udp":  nil,
		"quic": {{"udp", 51821}},
		"tls":  {{"udp", 51821}, {"udp", 443}},
	}
	for _, tr := range registry.Names() {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			l := newP2SLab(t)
			l.setPath(pathMTU, p2sPool4)
			l.start()
			l.wan.B.SetMTU(pathMTU)
			l.router.Block("icmp", 0)
			l.router.Block("icmpv6", 0)
			lp := l.addLaptop("lap")
			lp.link.A.SetMTU(pathMTU)
			if lp.reaches(p2sWan) {
				t.Fatal("ICMP crossed the router that drops it")
			}
			if out, err := lp.enroll(l.invite("lap", "1h")); err != nil {
				t.Fatalf("enroll across the small path: %v\n%s", err, out)
			}
			for _, b := range blocks[tr] {
				lp.host.Block(b[0].(string), b[1].(int))
			}
			lp.connect("--underlay-mtu", "1280")
			st := lp.wait(60*time.Second, "connected on "+tr, func(st *client.Status) bool { return connected(st) && st.Transport == tr })
			if len(st.Addresses) != 1 || !strings.HasPrefix(st.Addresses[0], "10.9.0.") {
				t.Fatalf("addresses %v, want one from %s", st.Addresses, p2sPool4)
			}
			xfer := netlab.GoBuild(t, "intransit/netns-tests/xfer", true)
			const n = 20 << 20
			for _, dir := range []struct {
				name     string
				from, to *netlab.Host
				addr     string
			}{{"laptop to site", lp.host, l.site, p2sSiteHost}, {"site to laptop", l.site, lp.host, st.Addresses[0]}} {
				start := time.Now()
				transfer(t, xfer, dir.from, dir.to, dir.addr, n)
				d := time.Since(start)
				t.Logf("%s, %s, over a %d-byte path with ICMP dropped: %d MB in %v (%.1f Mbit/s)",
					tr, dir.name, pathMTU, n>>20, d.Round(time.Millisecond), float64(n)*8/d.Seconds()/1e6)
			}
			if st := lp.status(); st == nil || st.Transport != tr {
				t.Errorf("the laptop left %s during the transfers: %+v", tr, st)
			}
		})
	}
}
