package netnstests

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/p2s/client"
)

// waitBlock returns the laptop's fail-closed block of the given name
// once it is in state.
func (lp *laptop) waitBlock(name, state string, timeout time.Duration) status.Block {
	lp.t.Helper()
	var found status.Block
	lp.wait(timeout, name+" block "+state, func(st *client.Status) bool {
		for _, b := range st.Blocks {
			if b.Name == name && b.State == state {
				found = b
				return true
			}
		}
		return false
	})
	return found
}

// clearOnLink sends count marker pings from the laptop to dst while
// capturing on the router's end of the laptop's link; it returns how many
// pings were answered, the marker packets that left the laptop in clear,
// and ping's output.
func (lp *laptop) clearOnLink(t *testing.T, dst string, count int) (recv, clear int, out string) {
	t.Helper()
	capture := lp.link.A.Capture("icmp")
	recv, out = markerPings(t, lp.host, dst, count)
	return recv, markerCount(capture.Stop()), out
}

// TestP2SFailClosedSplitTunnel: a laptop on a split tunnel (group staff,
// the site 10.1.0.0/24). Connected, the marker is seen inside the tunnel
// interface and never on the laptop's link. With the client killed
// (SIGKILL: the tunnel interface and its routes are gone) and then started
// again while the gateway is unreachable (SIGSTOP), marker pings to the
// site are rejected on the laptop and none leaves in clear; p2s status
// shows the block and why. Once the gateway answers again the tunnel
// carries them. The gateway stopped, the site's pings to the laptop's
// address do not cross its WAN link in clear either. A clean disconnect
// lifts the laptop's block, and the same capture then sees the marker
// leave in clear (the capture's control).
func TestP2SFailClosedSplitTunnel(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	l.start()
	lp := l.addLaptop("split")
	if out, err := lp.enroll(l.invite("split", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	lp.connect()
	lp.wait(45*time.Second, "connected", connected)
	blk := lp.waitBlock("split tunnel", status.BlockArmed, 5*time.Second)
	if strings.Join(blk.Prefixes, " ") != "10.1.0.0/24" || blk.Table != "inet intransit_guard_itc0" || strings.Join(blk.Exempt, " ") != p2sWan {
		t.Errorf("split tunnel block while connected: %+v", blk)
	}
	inner := lp.host.Iface(client.DefaultInterface).Capture("icmp")
	recv, clear, out := lp.clearOnLink(t, p2sSiteHost, 5)
	innerHits := markerCount(inner.Stop())
	t.Logf("connected: 5 marker pings, %d answered, marker %d times inside the tunnel interface, %d on the laptop's link", recv, innerHits, clear)
	if recv != 5 || innerHits < 5 || clear != 0 {
		t.Fatalf("control: %d answered (want 5), marker %d times inside (want >= 5), %d on the link (want 0):\n%s", recv, innerHits, clear, out)
	}

	if err := lp.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-lp.proc.Done()
	recv, clear, out = lp.clearOnLink(t, p2sSiteHost, 20)
	t.Logf("client killed (SIGKILL): 20 marker pings, %d answered, %d seen in clear on the laptop's link", recv, clear)
	if recv != 0 || clear != 0 || !strings.Contains(out, "Packet filtered") {
		t.Errorf("client killed: %d answered, %d in clear (want 0, 0, rejected):\n%s", recv, clear, out)
	}

	// Started again, the gateway unreachable: the block is back at once.
	if err := l.gw.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	gwStopped := true
	defer func() {
		if gwStopped {
			_ = l.gw.proc.Signal(syscall.SIGCONT)
		}
	}()
	lp.connect()
	blk = lp.waitBlock("split tunnel", status.BlockBlocking, 10*time.Second)
	t.Logf("gateway unreachable, p2s status block: %s %s: %s", blk.Name, blk.State, blk.Reason)
	recv, clear, out = lp.clearOnLink(t, p2sSiteHost, 20)
	t.Logf("gateway unreachable (SIGSTOP), client connecting: 20 marker pings, %d answered, %d seen in clear on the laptop's link", recv, clear)
	if recv != 0 || clear != 0 {
		t.Errorf("gateway unreachable: %d answered, %d in clear:\n%s", recv, clear, out)
	}
	if blk = lp.waitBlock("split tunnel", status.BlockBlocking, time.Second); blk.Rejected < 20 {
		t.Errorf("the block counted %d rejected packets, want at least the 20 marker pings", blk.Rejected)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	stOut, err := lp.host.Run(ctx, l.cli, "p2s", "status", "--dir", lp.dir)
	cancel()
	if err == nil || !strings.Contains(string(stOut), "split tunnel  blocking  10.1.0.0/24 (but 192.0.2.1)  ") {
		t.Errorf("p2s status while connecting (want exit 1 and the block): %v\n%s", err, stOut)
	}

	if err := l.gw.proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	gwStopped = false
	lp.wait(45*time.Second, "connected again", connected)
	if !lp.ping(p2sSiteHost) {
		t.Fatalf("no traffic after the gateway came back\n%s", lp.proc.Output())
	}

	// The gateway's side: with the gateway stopped, the site's traffic to
	// the laptop's address is rejected on the gateway, not sent in clear.
	addr := lp.status().Addresses[0]
	blocks := l.gw.status().Blocks
	if len(blocks) != 1 || blocks[0].Name != "p2s pools" || blocks[0].State != status.BlockArmed || blocks[0].Interface != "itp0" {
		t.Errorf("gateway blocks: %+v", blocks)
	}
	l.gw.stop()
	capture := l.wan.B.Capture("icmp")
	recv, _ = markerPings(t, l.site, addr, 10)
	clear = markerCount(capture.Stop())
	t.Logf("gateway stopped: 10 marker pings from the site to the laptop's %s, %d answered, %d seen in clear on the gateway's WAN link", addr, recv, clear)
	if recv != 0 || clear != 0 {
		t.Errorf("gateway stopped: %d answered, the marker crossed the WAN in clear %d times", recv, clear)
	}
	l.gw.start()
	lp.wait(45*time.Second, "connected after the gateway restart", connected)

	// A clean disconnect lifts the block: the marker then leaves in clear.
	lp.host.MustRun(l.cli, "p2s", "disconnect", "--dir", lp.dir)
	recv, clear, _ = lp.clearOnLink(t, p2sSiteHost, 5)
	t.Logf("after a clean disconnect (block lifted): 5 marker pings, %d answered, %d seen in clear on the laptop's link (the capture's control)", recv, clear)
	if clear < 5 {
		t.Errorf("after disconnect the capture saw the marker %d times, want 5: the zero counts above prove nothing", clear)
	}
}

// TestP2SLockdown: a laptop on a full tunnel (group admins) started with
// --lockdown while the gateway is unreachable (SIGSTOP): nothing leaves
// the laptop but packets to the gateway (the capture on its link holds no
// other destination) and a ping to its own router is rejected. Once
// connected, the tunnel carries traffic; with the client killed the
// lockdown stays; intransit p2s disconnect lifts it.
func TestP2SLockdown(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	l.start()
	lp := l.addLaptop("locked")
	if out, err := lp.enroll(l.inviteGroup("locked", "admins", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	router := fmt.Sprintf("198.51.%d.254", 100+l.laptops)
	if !lp.ping(router) {
		t.Fatalf("the laptop cannot reach its router %s before anything", router)
	}
	if err := l.gw.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	gwStopped := true
	defer func() {
		if gwStopped {
			_ = l.gw.proc.Signal(syscall.SIGCONT)
		}
	}()
	capture := lp.link.A.Capture()
	lp.connect("--lockdown")
	blk := lp.waitBlock("lockdown", status.BlockBlocking, 10*time.Second)
	t.Logf("lockdown, gateway unreachable: %s %s: %s", blk.Name, blk.State, blk.Reason)
	recv, out := markerPings(t, lp.host, router, 10)
	lp.host.MustRun("ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "127.0.0.1")
	time.Sleep(2 * time.Second) // the client keeps dialing the gateway
	pc := capture.Stop()
	others, toGateway := 0, 0
	gw := netip.MustParseAddr(p2sWan)
	for _, pk := range pc.Packets {
		if pk.Network == "" || pk.Src.Addr() != netip.MustParseAddr(fmt.Sprintf("198.51.%d.2", 100+l.laptops)) {
			continue // ARP, or not from the laptop
		}
		if pk.Dst.Addr() == gw {
			toGateway++
		} else {
			others++
		}
	}
	t.Logf("lockdown, gateway unreachable: 10 pings to the router, %d answered; from the laptop on its link: %d packets to the gateway, %d to anything else", recv, toGateway, others)
	if recv != 0 || others != 0 || !strings.Contains(out, "Packet filtered") {
		t.Errorf("lockdown let traffic out: %d pings answered, %d packets to other destinations:\n%s", recv, others, out)
	}
	if toGateway == 0 {
		t.Errorf("lockdown kept the client's own packets to the gateway in: it cannot connect")
	}

	if err := l.gw.proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	gwStopped = false
	lp.wait(45*time.Second, "connected", connected)
	if !lp.ping(p2sSiteHost) {
		t.Fatalf("locked-down laptop cannot reach the site through the tunnel\n%s", lp.proc.Output())
	}
	lp.waitBlock("lockdown", status.BlockArmed, 5*time.Second)

	if err := lp.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-lp.proc.Done()
	recv, clear, out := lp.clearOnLink(t, router, 10)
	t.Logf("lockdown, client killed: 10 marker pings to the router, %d answered, %d seen on the link", recv, clear)
	if recv != 0 || clear != 0 {
		t.Errorf("lockdown gone with the client: %d answered, %d on the link:\n%s", recv, clear, out)
	}
	out2 := lp.host.MustRun(l.cli, "p2s", "disconnect", "--dir", lp.dir)
	if !lp.ping(router) {
		t.Errorf("p2s disconnect (%s) did not lift the lockdown", strings.TrimSpace(out2))
	}
}
