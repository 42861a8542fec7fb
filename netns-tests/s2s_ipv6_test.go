package netnstests

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestS2SIPv6Sites joins sites that have IPv6 networks as well, over an
// IPv4 WAN: both families are agreed, routed and carried, and TCP over
// IPv6 crosses with its MSS clamped for IPv6.
func TestS2SIPv6Sites(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	l.cfgA.site = s2sSiteA + ", " + s2sSiteA6
	l.cfgB.site = s2sSiteB + ", " + s2sSiteB6
	l.cfgA.remotes[0].allowed = s2sSiteB + ", " + s2sSiteB6
	l.cfgB.remotes[0].allowed = s2sSiteA + ", " + s2sSiteA6
	a, b := l.start(t)
	pa := a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	if !slices.Contains(pa.Routes, s2sSiteB6) || !slices.Contains(pa.Routes, s2sSiteB) {
		t.Errorf("gw-a routes %v, want both of site B's prefixes", pa.Routes)
	}
	if out := l.gwA.MustRun("ip", "-6", "route", "show", s2sSiteB6); !strings.Contains(out, "it0") {
		t.Errorf("no IPv6 route into the tunnel: %q", out)
	}
	mustPing(t, l.siteA, s2sHostB6, 3)
	transfer(t, l.xfer(t), l.siteA, l.siteB, s2sHostB6, 4<<20)
	a.stop()
	b.stop()
}
