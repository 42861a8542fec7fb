package netnstests

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/netns-tests/netlab"
)

// pingUntil pings dst from h once a second-fraction until one answer
// comes back or timeout passes; it returns how long that took.
func pingUntil(t testing.TB, h *netlab.Host, dst string, timeout time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := h.Run(ctx, "ping", "-n", "-q", "-c", "1", "-W", "1", dst)
		cancel()
		if err == nil {
			return time.Since(start), true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), false
}

// backgroundPing starts count pings at interval from h to dst.
func backgroundPing(h *netlab.Host, dst string, count int, interval string) *netlab.Process {
	return h.Start("ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", interval, "-W", "2", dst)
}

// TestS2SGatewayRestart kills gateway B with SIGKILL and starts it again
// with the same configuration and state: the tunnel comes back by itself,
// without touching gateway A, and traffic resumes within 15 seconds.
func TestS2SGatewayRestart(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 3)
	keyBefore := b.status().Gateway.PublicKey

	if err := b.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.proc.Done()
	restarted := time.Now()
	b.start()
	if _, ok := pingUntil(t, l.siteA, s2sHostB, 15*time.Second-time.Since(restarted)); !ok {
		t.Fatalf("no traffic within 15s of the restart\ngw-a:\n%s\ngw-b:\n%s", a.proc.Output(), b.proc.Output())
	}
	t.Logf("traffic resumed %s after gateway B was restarted", time.Since(restarted).Round(100*time.Millisecond))
	if got := b.status().Gateway.PublicKey; got != keyBefore {
		t.Errorf("gateway B's WireGuard key changed over the restart: %s -> %s", keyBefore, got)
	}
	if p := a.waitUp("site-b", 5*time.Second); p.Sessions < 2 {
		t.Errorf("gw-a counted %d sessions with site-b, want a second one after the restart", p.Sessions)
	}
	mustPing(t, l.siteB, s2sHostA, 3)
	a.stop()
	b.stop()
}

// TestS2SLossAndRateLimit: with 10% random loss in both directions of the
// WAN and a 20 Mbit/s token bucket, a 20 MB TCP transfer between the sites
// completes intact.
func TestS2SLossAndRateLimit(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	xfer := l.xfer(t)
	l.wanA.B.Loss(10)
	l.wanB.A.Loss(10)
	l.wanA.B.RateLimit("20mbit")
	l.wanB.A.RateLimit("20mbit")
	transfer(t, xfer, l.siteA, l.siteB, s2sHostB, 20<<20)
	if p := a.peer("site-b"); p.State != status.StateUp {
		t.Errorf("site-b is %s after the transfer (%s: %s)", p.State, p.Reason, p.Detail)
	}
	a.stop()
	b.stop()
}

// TestS2SPathMTUBlackHole: the router's link to gateway B has an MTU of 1280
// and every ICMP "fragmentation needed" is dropped, so full-size packets
// from gateway A vanish without a trace. TCP across the sites still
// completes, in both directions, thanks to the MSS clamp (path_mtu 1280).
func TestS2SPathMTUBlackHole(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	l.cfgA.remotes[0].transports = "udp"
	l.cfgB.remotes[0].transports = "udp"
	l.cfgA.pathMTU, l.cfgB.pathMTU = 1280, 1280
	l.wanB.A.SetMTU(1280)
	l.wanB.B.SetMTU(1280)
	l.router.DropPacketTooBig()
	l.gwA.DropPacketTooBig()
	l.gwB.DropPacketTooBig()
	// The black hole is real: a full-size packet from gateway A to B
	// vanishes, and no ICMP says why.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := l.gwA.Run(ctx, "ping", "-n", "-c", "2", "-W", "1", "-M", "do", "-s", "1400", s2sWanB); err == nil {
		t.Fatalf("a 1428-byte packet crossed the 1280-byte WAN:\n%s", out)
	}
	a, b := l.start(t)
	a.waitUp("site-b", 30*time.Second)
	b.waitUp("site-a", 30*time.Second)
	xfer := l.xfer(t)
	transfer(t, xfer, l.siteA, l.siteB, s2sHostB, 4<<20)
	transfer(t, xfer, l.siteB, l.siteA, s2sHostA, 4<<20)
	a.stop()
	b.stop()
}

// TestS2SPSKRotationKeepsTraffic pings across the sites continuously while
// the gateways rotate the post-quantum PSK every 3 seconds: at most one
// packet is lost over more than three rotations, and the status shows the
// epoch growing and the PSK age resetting.
func TestS2SPSKRotationKeepsTraffic(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	l.cfgA.rotation, l.cfgB.rotation = "3s", "3s"
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 2)
	first := a.peer("site-b")
	ping := backgroundPing(l.siteA, s2sHostB, 70, "0.2")
	var ages []time.Duration
	installs := map[time.Time]bool{first.PSKInstalled: true}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-ping.Done():
		case <-time.After(500 * time.Millisecond):
			rep := a.status()
			for _, p := range rep.Peers {
				if p.Name == "site-b" {
					ages = append(ages, rep.Time.Sub(p.PSKInstalled))
					installs[p.PSKInstalled] = true
				}
			}
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatalf("ping did not finish:\n%s", ping.Output())
		}
		break
	}
	sent, recv := pingCounts(ping.Output())
	if sent != 70 || sent-recv > 1 {
		t.Errorf("ping across three rotations: %d sent, %d received (at most one loss allowed):\n%s", sent, recv, ping.Output())
	}
	last := a.peer("site-b")
	if last.PSKEpoch < first.PSKEpoch+3 {
		t.Errorf("PSK epoch went from %d to %d, want at least 3 rotations", first.PSKEpoch, last.PSKEpoch)
	}
	if len(installs) < 4 {
		t.Errorf("saw %d distinct PSK install times, want at least 4", len(installs))
	}
	resets := 0
	for i := 1; i < len(ages); i++ {
		if ages[i] < ages[i-1] {
			resets++
		}
	}
	if resets < 3 {
		t.Errorf("PSK age reset %d times (ages %v), want at least 3", resets, ages)
	}
	if pb := b.peer("site-a"); pb.PSKEpoch != last.PSKEpoch && pb.PSKEpoch+1 != last.PSKEpoch {
		t.Errorf("gw-b is at PSK epoch %d, gw-a at %d", pb.PSKEpoch, last.PSKEpoch)
	}
	a.stop()
	b.stop()
}

// TestS2SDeadPeerAndReconnect cuts the WAN silently (every packet dropped,
// no reset, no ICMP): both gateways declare the peer dead after dead_after
// (5 s in the test configuration), remove the peer and its routes, and
// once the WAN is back they reconnect by themselves and traffic flows.
func TestS2SDeadPeerAndReconnect(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 2)
	cutA, cutB := l.wanA.B.Loss(100), l.wanB.A.Loss(100)
	pa := a.waitPeer("site-b", 15*time.Second, "down", sessionEnded)
	pb := b.waitPeer("site-a", 15*time.Second, "down", sessionEnded)
	t.Logf("after the cut: gw-a %s %s: %s; gw-b %s %s: %s", pa.State, pa.Reason, pa.Detail, pb.State, pb.Reason, pb.Detail)
	if pa.Reason != "timeout" || pb.Reason != "timeout" {
		t.Errorf("dead peer reasons: gw-a %q, gw-b %q, want timeout on both", pa.Reason, pb.Reason)
	}
	if out := l.gwA.MustRun("ip", "route", "show", s2sSiteB); strings.Contains(out, "it0") {
		t.Errorf("route to site B left in the tunnel while the peer is dead: %q", out)
	}
	cutA.Remove()
	cutB.Remove()
	healed := time.Now()
	a.waitUp("site-b", 20*time.Second)
	if took, ok := pingUntil(t, l.siteA, s2sHostB, 20*time.Second); !ok {
		t.Fatalf("no traffic after the WAN came back\n%s", a.proc.Output())
	} else {
		t.Logf("traffic back %s after the WAN healed (ping loop %s)", time.Since(healed).Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	}
	a.stop()
	b.stop()
}
