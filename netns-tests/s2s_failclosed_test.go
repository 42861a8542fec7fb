package netnstests

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/netns-tests/netlab"
)

// failClosedMarker is carried by the marker pings (ping -p takes at most
// 16 bytes); it must never be seen on the WAN.
const failClosedMarker = "fail-closed-mark"

// markerPings sends count pings carrying the marker from h to dst, 0.1 s
// apart, and returns how many were answered and ping's output.
func markerPings(t *testing.T, h *netlab.Host, dst string, count int) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count)*200*time.Millisecond+10*time.Second)
	defer cancel()
	out, _ := h.Run(ctx, "ping", "-n", "-c", strconv.Itoa(count), "-i", "0.1", "-W", "1", "-p", fmt.Sprintf("%x", failClosedMarker), dst)
	_, recv := pingCounts(string(out))
	return recv, string(out)
}

// backgroundMarkerPings starts count marker pings at 0.1 s from h to dst.
func backgroundMarkerPings(h *netlab.Host, dst string, count int) *netlab.Process {
	return h.Start("ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", "0.1", "-W", "1", "-p", fmt.Sprintf("%x", failClosedMarker), dst)
}

// markerCount is the number of captured packets carrying the marker.
func markerCount(p *netlab.Pcap) int {
	n := 0
	for _, pk := range p.Packets {
		if bytes.Contains(pk.Data, []byte(failClosedMarker)) {
			n++
		}
	}
	return n
}

// waitBlock waits until gateway g reports the fail-closed block of remote
// name in state, and returns it.
func waitBlock(t *testing.T, g *gateway, name, state string, timeout time.Duration) status.Block {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rep := g.status()
		for _, b := range rep.Blocks {
			if b.Name == name && b.State == state {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s block for %s within %s: %+v", g.host.Name(), state, name, timeout, rep.Blocks)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clearOnWAN runs marker pings from site A to site B (count of them) and
// from gateway A itself (5) while capturing on gateway A's WAN link; it
// returns how many marker packets crossed the WAN in clear, and fails the
// test if any ping was answered.
func (l *s2sLab) clearOnWAN(t *testing.T, what string, count int) int {
	t.Helper()
	return l.clearOnWANTo(t, what, s2sHostB, count)
}

// clearOnWANTo is clearOnWAN with pings to dst.
func (l *s2sLab) clearOnWANTo(t *testing.T, what, dst string, count int) int {
	t.Helper()
	capture := l.wanA.B.Capture("icmp")
	recv, out := markerPings(t, l.siteA, dst, count)
	if recv != 0 {
		t.Errorf("%s: %d of %d pings from site A answered with the tunnel down:\n%s", what, recv, count, out)
	}
	if recv, out := markerPings(t, l.gwA, dst, 5); recv != 0 {
		t.Errorf("%s: %d of 5 pings from gateway A answered with the tunnel down:\n%s", what, recv, out)
	}
	n := markerCount(capture.Stop())
	t.Logf("%s: %d marker pings (%d from site A, 5 from gateway A), %d seen in clear on the WAN", what, count+5, count, n)
	if n != 0 {
		t.Errorf("%s: the marker crossed the WAN in clear %d times", what, n)
	}
	return n
}

// TestS2SFailClosedPeerStopped stops gateway B (SIGSTOP) past dead_after:
// marker pings from site A and from gateway A, sent from the moment B stops
// until well after gateway A gave the session up, never cross the WAN in
// clear; gateway A's status shows the block rejecting site B's traffic and
// why; after SIGCONT the tunnel carries the pings again. A capture on the
// site link sees the same marker (the capture method works).
func TestS2SFailClosedPeerStopped(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	waitBlock(t, a, "site-b", status.BlockArmed, 5*time.Second)

	// The positive control: the marker is seen on the site link.
	site := l.siteLinkA.B.Capture("icmp")
	wan := l.wanA.B.Capture("icmp")
	if recv, out := markerPings(t, l.siteA, s2sHostB, 5); recv != 5 {
		t.Fatalf("tunnel up: %d of 5 marker pings answered:\n%s", recv, out)
	}
	siteHits, wanHits := markerCount(site.Stop()), markerCount(wan.Stop())
	t.Logf("tunnel up: the marker seen %d times on the site link, %d times on the WAN", siteHits, wanHits)
	if siteHits < 5 || wanHits != 0 {
		t.Fatalf("control: marker %d times on the site link (want >= 5), %d on the WAN (want 0)", siteHits, wanHits)
	}

	if err := b.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = b.proc.Signal(syscall.SIGCONT)
		}
	}()
	// From the moment B stops until past dead_after (5 s) and beyond.
	wan = l.wanA.B.Capture("icmp")
	ping := backgroundMarkerPings(l.siteA, s2sHostB, 90)
	a.waitPeer("site-b", 15*time.Second, "down", func(p status.Peer) bool { return p.State != status.StateUp })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	_ = ping.Wait(ctx)
	cancel()
	n := markerCount(wan.Stop())
	t.Logf("peer stopped (SIGSTOP): 90 marker pings across dead_after, %d seen in clear on the WAN", n)
	if n != 0 {
		t.Errorf("peer stopped: the marker crossed the WAN in clear %d times", n)
	}
	blk := waitBlock(t, a, "site-b", status.BlockBlocking, 5*time.Second)
	if !strings.Contains(blk.Reason, "tunnel down") || strings.Join(blk.Prefixes, " ") != s2sSiteB || blk.Table != "inet intransit_guard_it0" {
		t.Errorf("block while down: %+v", blk)
	}
	l.clearOnWAN(t, "peer stopped, session given up", 20)
	blk = waitBlock(t, a, "site-b", status.BlockBlocking, time.Second)
	t.Logf("peer stopped: status says %s, %d packets rejected: %s", blk.State, blk.Rejected, blk.Reason)
	if blk.Rejected < 25 {
		t.Errorf("the block counted %d rejected packets, want at least the 25 marker pings", blk.Rejected)
	}

	if err := b.proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	a.waitUp("site-b", 20*time.Second)
	if _, ok := pingUntil(t, l.siteA, s2sHostB, 15*time.Second); !ok {
		t.Fatalf("no traffic after SIGCONT\ngw-a:\n%s", a.proc.Output())
	}
	waitBlock(t, a, "site-b", status.BlockArmed, 5*time.Second)

	// UDP blocked on the WAN: whatever the transports do meanwhile, no
	// marker leaves in clear.
	rule := l.router.Block("udp", 51820)
	wan = l.wanA.B.Capture("icmp")
	recv, _ := markerPings(t, l.siteA, s2sHostB, 50)
	n = markerCount(wan.Stop())
	t.Logf("udp blocked on the WAN (fallback): 50 marker pings, %d answered, %d seen in clear on the WAN", recv, n)
	if n != 0 {
		t.Errorf("udp blocked: the marker crossed the WAN in clear %d times", n)
	}
	rule.Remove()

	// Reload: a remote added is guarded at once, before any session; a
	// remote removed is no longer guarded.
	withC := l.cfgA
	withC.remotes = append(append([]gwRemote(nil), l.cfgA.remotes...), gwRemote{name: "site-c", identity: l.pki.identity("gw-c"), allowed: "10.3.0.0/24"})
	withC.write(t, l.pki, l.dirA)
	if err := a.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitBlock(t, a, "site-c", status.BlockBlocking, 10*time.Second)
	l.clearOnWANTo(t, "remote added by reload, no session yet", "10.3.0.10", 10)
	onlyC := l.cfgA
	onlyC.remotes = withC.remotes[1:]
	onlyC.write(t, l.pki, l.dirA)
	if err := a.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		blocks := a.status().Blocks
		if len(blocks) == 1 && blocks[0].Name == "site-c" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("site-b removed by reload: blocks %+v", blocks)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if table := l.gwA.MustRun("nft", "list", "table", "inet", "intransit_guard_it0"); strings.Contains(table, "10.2.0.0/24") || !strings.Contains(table, "10.3.0.0/24") {
		t.Errorf("the table after site-b left the configuration:\n%s", table)
	}
	a.stop()
	b.stop()
}

// TestS2SFailClosedStopKillRestart: gateway A at boot (intransitd --guard,
// no daemon yet), at a cold start before the first session (gateway B not
// running yet), stopped with SIGTERM, during
// a restart, and killed with SIGKILL: marker pings from site A and from
// gateway A never cross the WAN in clear. Its table, deleted by hand while
// it runs, comes back by itself. Then `intransit s2s unblock` lifts the
// block of the stopped gateway and the same capture does see the marker on
// the WAN: what the block prevents, and that the capture would have seen
// it.
func TestS2SFailClosedStopKillRestart(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	cli := netlab.GoBuild(t, "intransit/cmd/intransit", true)
	// Boot: intransitd --guard (intransitd-guard.service) blocks before
	// the daemon ever ran.
	cfgA := l.cfgA.write(t, l.pki, l.dirA)
	out := l.gwA.MustRun(l.bin, "--config", cfgA, "--guard")
	if !strings.Contains(out, "fail-closed blocks installed") {
		t.Fatalf("intransitd --guard: %s", out)
	}
	l.clearOnWAN(t, "boot, intransitd --guard, no daemon yet", 20)
	// Cold start: gateway A alone, before its first session.
	a := startGateway(t, l.gwA, l.bin, cfgA)
	blk := waitBlock(t, a, "site-b", status.BlockBlocking, 5*time.Second)
	t.Logf("cold start, status block: %s %s: %s", blk.Name, blk.State, blk.Reason)
	l.clearOnWAN(t, "cold start before the first session", 20)
	// A table deleted behind the daemon's back (a firewall manager's flush)
	// comes back by itself.
	l.gwA.MustRun("nft", "delete", "table", "inet", "intransit_guard_it0")
	deleted := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := l.gwA.Run(ctx, "nft", "list", "table", "inet", "intransit_guard_it0")
		cancel()
		if err == nil {
			break
		}
		if time.Since(deleted) > 10*time.Second {
			t.Fatalf("the deleted fail-closed table is not back after 10s:\n%s", a.proc.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("fail-closed table deleted by hand: back after %s", time.Since(deleted).Round(100*time.Millisecond))
	b := startGateway(t, l.gwB, l.bin, l.cfgB.write(t, l.pki, l.dirB))
	a.waitUp("site-b", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 3)

	a.stop()
	l.clearOnWAN(t, "gateway A stopped (SIGTERM)", 20)

	a.start()
	a.waitUp("site-b", 20*time.Second)
	// A restart while pings run: stopped, 2 s later started, up again.
	wan := l.wanA.B.Capture("icmp")
	ping := backgroundMarkerPings(l.siteA, s2sHostB, 600)
	time.Sleep(time.Second)
	restarted := time.Now()
	a.stop()
	time.Sleep(2 * time.Second)
	a.start()
	a.waitUp("site-b", 20*time.Second)
	t.Logf("restart under pings: up again %s after the stop", time.Since(restarted).Round(100*time.Millisecond))
	time.Sleep(time.Second)
	_ = ping.Signal(syscall.SIGINT)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = ping.Wait(ctx)
	cancel()
	sent, recv := pingCounts(ping.Output())
	n := markerCount(wan.Stop())
	t.Logf("restart (SIGTERM, 2 s, start): %d marker pings sent, %d answered through the tunnel, %d seen in clear on the WAN", sent, recv, n)
	if n != 0 {
		t.Errorf("restart: the marker crossed the WAN in clear %d times", n)
	}
	if recv == 0 {
		t.Errorf("restart: no ping answered once the tunnel was back:\n%s", ping.Output())
	}

	if err := a.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.proc.Done()
	l.clearOnWAN(t, "gateway A killed (SIGKILL)", 20)

	// A stopped gateway's block is lifted only by hand.
	out = l.gwA.MustRun(cli, "s2s", "unblock", "--interface", "it0")
	if !strings.Contains(out, "lifted") {
		t.Fatalf("unblock: %s", out)
	}
	wan = l.wanA.B.Capture("icmp")
	markerPings(t, l.siteA, s2sHostB, 5)
	n = markerCount(wan.Stop())
	t.Logf("block lifted by intransit s2s unblock: 5 marker pings, %d seen in clear on the WAN (the capture's control)", n)
	if n < 5 {
		t.Errorf("after unblock the WAN capture saw the marker %d times, want 5: the zero counts above prove nothing", n)
	}
	b.stop()
}
