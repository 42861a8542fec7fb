package netnstests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
)

// BenchmarkFailover measures how long traffic stops when the WAN fails
// (issue 11), for intransit site-to-site and point-to-site and, in the
// same site-to-site topology, for stock WireGuard brought up by wg-quick
// (userspace wireguard-go: this kernel has no WireGuard) and for OpenVPN
// (ping-restart, a udp remote then a tcp remote). Run it through
// bench/failover.sh, which repeats it and prints medians; it is no part of
// the default test run. Each sub-benchmark is one scenario on a fresh
// topology and reports, with b.ReportMetric:
//
//	back-s        seconds from the WAN failure (a UDP block, or the far
//	              gateway killed and started again) until a ping passes
//	never-back-s  instead of back-s: no ping passed within that many seconds
//	udp-s         seconds from lifting the block until the tunnel is on
//	              udp again (intransit, OpenVPN), or until a ping passes
//	              (wg-quick, which never left udp)
//	never-udp-s   instead of udp-s: not within that many seconds
//
// Pings are one at a time with a 1 s timeout, so figures are good to about
// a second. Every wait is bounded by failoverWithin or returnWithin.
func BenchmarkFailover(b *testing.B) {
	b.Run("intransit", func(b *testing.B) {
		b.Run("s2s", func(b *testing.B) { failoverScenarios(b, intransitS2SRig) })
		b.Run("p2s", func(b *testing.B) { failoverScenarios(b, intransitP2SRig) })
	})
	b.Run("wg-quick", func(b *testing.B) {
		b.Run("s2s", func(b *testing.B) { failoverScenarios(b, wgQuickRig) })
	})
	b.Run("openvpn", func(b *testing.B) {
		b.Run("s2s", func(b *testing.B) { failoverScenarios(b, openVPNRig) })
	})
}

// Bounds of a failover scenario: how long traffic may take to come back
// after a failure, and to return to udp after the block is lifted.
const (
	failoverWithin = 40 * time.Second
	returnWithin   = 90 * time.Second
)

// failoverRig is one tunnel system, up and carrying traffic, in a fresh
// topology.
type failoverRig struct {
	router   *netlab.Host
	from     *netlab.Host // pings from here
	dst      string       // to this address, through the tunnel
	port     int          // the UDP port of the tunnel on the WAN
	outward  string       // nftables match of the tunnel's UDP from the near side to the far one
	inward   string       // and from the far side to the near one
	onUDP    func() bool  // whether the tunnel is on udp again; nil: a passing ping says so
	restart  func()       // kills the far gateway and starts it again
	teardown func()       // stops the daemons (the lab removes the rest)
}

// failoverScenarios runs every scenario on a fresh rig made by newRig.
func failoverScenarios(b *testing.B, newRig func(b *testing.B) *failoverRig) {
	for _, sc := range []string{"block-both", "block-out", "block-in", "restart"} {
		b.Run(sc, func(b *testing.B) {
			for range b.N {
				r := newRig(b)
				if sc == "restart" {
					failoverRestart(b, r)
				} else {
					failoverBlock(b, r, sc)
				}
				r.teardown()
			}
		})
	}
}

// failoverBlock blocks the tunnel's UDP on the router (both ways, or one
// way), measures until traffic passes, lifts the block and measures until
// the tunnel is back on udp.
func failoverBlock(b *testing.B, r *failoverRig, scenario string) {
	var rule *netlab.Rule
	switch scenario {
	case "block-both":
		rule = r.router.Block("udp", r.port)
	case "block-out":
		rule = r.router.Drop(r.outward)
	case "block-in":
		rule = r.router.Drop(r.inward)
	}
	if d, ok := pingUntil(b, r.from, r.dst, failoverWithin); ok {
		b.ReportMetric(d.Seconds(), "back-s")
	} else {
		b.ReportMetric(failoverWithin.Seconds(), "never-back-s")
	}
	rule.Remove()
	unblocked := time.Now()
	if r.onUDP == nil {
		if d, ok := pingUntil(b, r.from, r.dst, returnWithin); ok {
			b.ReportMetric(d.Seconds(), "udp-s")
		} else {
			b.ReportMetric(returnWithin.Seconds(), "never-udp-s")
		}
		return
	}
	for !r.onUDP() {
		if time.Since(unblocked) > returnWithin {
			b.ReportMetric(returnWithin.Seconds(), "never-udp-s")
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.ReportMetric(time.Since(unblocked).Seconds(), "udp-s")
}

// failoverRestart restarts the far gateway and measures until traffic
// passes.
func failoverRestart(b *testing.B, r *failoverRig) {
	restarted := time.Now()
	r.restart()
	if _, ok := pingUntil(b, r.from, r.dst, failoverWithin-time.Since(restarted)); ok {
		b.ReportMetric(time.Since(restarted).Seconds(), "back-s")
	} else {
		b.ReportMetric(failoverWithin.Seconds(), "never-back-s")
	}
}

// mustFlow fails the benchmark unless a ping passes within 30 s.
func mustFlow(b *testing.B, h *netlab.Host, dst, what string) {
	b.Helper()
	if _, ok := pingUntil(b, h, dst, 30*time.Second); !ok {
		b.Fatalf("%s: no traffic from %s to %s", what, h.Name(), dst)
	}
}

// intransitS2SRig: the two gateways of the s2s lab with a tunnel up on udp;
// the far gateway is B.
func intransitS2SRig(b *testing.B) *failoverRig {
	l := newS2SLab(b)
	a, g := l.start(b)
	a.waitPeer("site-b", 20*time.Second, "up on udp", onUDP)
	g.waitUp("site-a", 20*time.Second)
	mustFlow(b, l.siteA, s2sHostB, "intransit s2s")
	return &failoverRig{
		router: l.router, from: l.siteA, dst: s2sHostB, port: 51820,
		outward: "ip saddr " + s2sWanA + " ip daddr " + s2sWanB + " udp dport 51820",
		inward:  "ip saddr " + s2sWanB + " ip daddr " + s2sWanA + " udp dport 51820",
		onUDP: func() bool {
			p, ok := a.findPeer("site-b")
			return ok && onUDP(p)
		},
		restart: func() {
			if err := g.proc.Signal(syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			<-g.proc.Done()
			g.start()
		},
		teardown: func() { a.stop(); g.stop() },
	}
}

// intransitP2SRig: a laptop connected on udp to the p2s lab's gateway,
// which is the far side.
func intransitP2SRig(b *testing.B) *failoverRig {
	const laptopWan = "198.51.101.2" // the first laptop of a lab
	l, lp := newConnectedLaptop(b)
	mustFlow(b, lp.host, p2sSiteHost, "intransit p2s")
	return &failoverRig{
		router: l.router, from: lp.host, dst: p2sSiteHost, port: 51821,
		outward: "ip saddr " + laptopWan + " ip daddr " + p2sWan + " udp dport 51821",
		inward:  "ip saddr " + p2sWan + " ip daddr " + laptopWan + " udp sport 51821",
		onUDP: func() bool {
			st := lp.status()
			return st != nil && laptopOnUDP(st)
		},
		restart: func() {
			if err := l.gw.proc.Signal(syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			<-l.gw.proc.Done()
			l.gw.start()
		},
		teardown: func() {
			if err := lp.proc.Stop(15 * time.Second); err != nil {
				b.Errorf("intransit p2s connect: %v", err)
			}
			l.gw.stop()
		},
	}
}

// refIface numbers the interfaces of the reference systems: their UAPI
// sockets live in /var/run/wireguard, which all namespaces share.
var refIface atomic.Int64

// refName is a fresh interface name with the given prefix.
func refName(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, os.Getpid()%100000, refIface.Add(1))
}

// wgKeyPair makes a WireGuard key pair with wg(8).
func wgKeyPair(b *testing.B) (priv, pub string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, err := exec.CommandContext(ctx, "wg", "genkey").Output()
	if err != nil {
		b.Fatalf("wg genkey: %v", err)
	}
	cmd := exec.CommandContext(ctx, "wg", "pubkey")
	cmd.Stdin = strings.NewReader(string(k))
	p, err := cmd.Output()
	if err != nil {
		b.Fatalf("wg pubkey: %v", err)
	}
	return strings.TrimSpace(string(k)), strings.TrimSpace(string(p))
}

// wgQuick is one side of a wg-quick tunnel: its configuration file, whose
// name is the interface's.
type wgQuick struct {
	host *netlab.Host
	bin  string // wireguard-go
	conf string
}

func (w *wgQuick) run(verb string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := w.host.Run(ctx, "env", "WG_QUICK_USERSPACE_IMPLEMENTATION="+w.bin, "wg-quick", verb, w.conf)
	if err != nil {
		return fmt.Errorf("wg-quick %s %s on %s: %w\n%s", verb, w.conf, w.host.Name(), err, out)
	}
	return nil
}

// newWGQuick writes a configuration and brings the interface up; the
// interface goes down at the end of the benchmark.
func newWGQuick(b *testing.B, h *netlab.Host, bin, priv, addr, peerPub, endpoint, allowed string) *wgQuick {
	b.Helper()
	name := refName("wq")
	conf := filepath.Join(b.TempDir(), name+".conf")
	body := fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s\nListenPort = 51820\n\n[Peer]\nPublicKey = %s\nEndpoint = %s\nAllowedIPs = %s\nPersistentKeepalive = 25\n",
		priv, addr, peerPub, endpoint, allowed)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	w := &wgQuick{host: h, bin: bin, conf: conf}
	if err := w.run("up"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = w.run("down")
		_ = os.Remove("/var/run/wireguard/" + name + ".sock")
	})
	return w
}

// wgQuickRig: stock WireGuard between the s2s lab's gateways, each brought
// up by wg-quick with the stock wireguard-go; the far gateway is B, and its
// restart is wg-quick down and up.
func wgQuickRig(b *testing.B) *failoverRig {
	netlab.RequireTools(b, "wg", "wg-quick")
	l := newS2SLab(b)
	bin := netlab.GoBuild(b, "golang.zx2c4.com/wireguard", false)
	privA, pubA := wgKeyPair(b)
	privB, pubB := wgKeyPair(b)
	newWGQuick(b, l.gwA, bin, privA, "10.98.0.1/30", pubB, s2sWanB+":51820", s2sSiteB+", 10.98.0.2/32")
	wb := newWGQuick(b, l.gwB, bin, privB, "10.98.0.2/30", pubA, s2sWanA+":51820", s2sSiteA+", 10.98.0.1/32")
	mustFlow(b, l.siteA, s2sHostB, "wg-quick")
	return &failoverRig{
		router: l.router, from: l.siteA, dst: s2sHostB, port: 51820,
		outward: "ip saddr " + s2sWanA + " ip daddr " + s2sWanB + " udp dport 51820",
		inward:  "ip saddr " + s2sWanB + " ip daddr " + s2sWanA + " udp dport 51820",
		restart: func() {
			if err := wb.run("down"); err != nil {
				b.Fatal(err)
			}
			if err := wb.run("up"); err != nil {
				b.Fatal(err)
			}
		},
		teardown: func() {},
	}
}

// OpenVPN in the s2s lab: gateway A is a TLS client with a udp remote then
// a tcp remote; gateway B runs one TLS server for each (OpenVPN serves one
// protocol per process), each with tunnel addresses of its own.
// Point-to-point mode, no pull. OpenVPN adds a --route once connected and
// removes it with the tunnel on a restart; gateway B's udp server routes
// site A at metric 1, its tcp server at metric 2, so that B answers through
// whichever server A is connected to.
const (
	ovpnPort          = 1194
	ovpnPing          = "1"
	ovpnPingRestart   = "5"
	ovpnUDPLinkLine   = "UDPv4 link remote"
	ovpnTCPLinkLine   = "TCPv4_CLIENT link remote"
	ovpnConnectedLine = "Initialization Sequence Completed"
	ovpnAddrA         = "10.99.0.1" // gateway A's end of the tunnel
	ovpnAddrB         = "10.99.0.2" // gateway B's
	ovpnAddrATCP      = "10.99.1.1" // the same for gateway B's tcp server
	ovpnAddrBTCP      = "10.99.1.2"
)

// openVPN is one OpenVPN process and the arguments it was started with.
type openVPN struct {
	host *netlab.Host
	args []string
	proc *netlab.Process
}

func (o *openVPN) start() { o.proc = o.host.Start("openvpn", o.args...) }

// restart kills the process and starts it again.
func (o *openVPN) restart(b *testing.B) {
	if err := o.proc.Signal(syscall.SIGKILL); err != nil {
		b.Fatal(err)
	}
	<-o.proc.Done()
	o.start()
}

// ovpnOnUDP reports whether an OpenVPN client's latest completed
// connection is over udp, from its log.
func ovpnOnUDP(out string) bool {
	done := strings.LastIndex(out, ovpnConnectedLine)
	if done < 0 {
		return false
	}
	before := out[:done]
	return strings.LastIndex(before, ovpnUDPLinkLine) > strings.LastIndex(before, ovpnTCPLinkLine)
}

// ovpnArgs are the arguments common to every OpenVPN process of the rig:
// its tunnel addresses, and a route to the far site (a /24) at metric.
func ovpnArgs(b *testing.B, p *s2sPKI, name, local, far, farSite, metric string) []string {
	b.Helper()
	chain, key, _ := p.issue(name)
	return []string{"--dev", refName("ov"), "--dev-type", "tun", "--ifconfig", local, far,
		"--ca", p.caFile, "--cert", chain, "--key", key, "--dh", "none",
		"--ping", ovpnPing, "--ping-restart", ovpnPingRestart,
		"--route", strings.TrimSuffix(farSite, "/24"), "255.255.255.0", far, metric, "--verb", "3"}
}

// openVPNRig: OpenVPN between the s2s lab's gateways, connected over udp;
// the far gateway is B (both its servers restart).
func openVPNRig(b *testing.B) *failoverRig {
	netlab.RequireTools(b, "openvpn")
	l := newS2SLab(b)
	port := fmt.Sprint(ovpnPort)
	servers := []*openVPN{
		{host: l.gwB, args: append(ovpnArgs(b, l.pki, "ovpn-b-udp", ovpnAddrB, ovpnAddrA, s2sSiteA, "1"),
			"--tls-server", "--proto", "udp4", "--local", s2sWanB, "--lport", port, "--float")},
		{host: l.gwB, args: append(ovpnArgs(b, l.pki, "ovpn-b-tcp", ovpnAddrBTCP, ovpnAddrATCP, s2sSiteA, "2"),
			"--tls-server", "--proto", "tcp4-server", "--local", s2sWanB, "--lport", port)},
	}
	for _, s := range servers {
		s.start()
	}
	client := &openVPN{host: l.gwA, args: append(ovpnArgs(b, l.pki, "ovpn-a", ovpnAddrA, ovpnAddrB, s2sSiteB, "1"),
		"--tls-client", "--nobind", "--remote", s2sWanB, port, "udp4", "--remote", s2sWanB, port, "tcp4-client",
		"--connect-retry", "1", "1", "--connect-timeout", "5")}
	client.start()
	deadline := time.Now().Add(30 * time.Second)
	for !ovpnOnUDP(client.proc.Output()) {
		if time.Now().After(deadline) {
			b.Fatalf("openvpn: not connected over udp within 30 s\nclient:\n%s\nudp server:\n%s", client.proc.Output(), servers[0].proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustFlow(b, l.siteA, s2sHostB, "openvpn")
	return &failoverRig{
		router: l.router, from: l.siteA, dst: s2sHostB, port: ovpnPort,
		outward: "ip saddr " + s2sWanA + " ip daddr " + s2sWanB + " udp dport " + port,
		inward:  "ip saddr " + s2sWanB + " ip daddr " + s2sWanA + " udp sport " + port,
		onUDP:   func() bool { return ovpnOnUDP(client.proc.Output()) },
		restart: func() {
			for _, s := range servers {
				s.restart(b)
			}
		},
		teardown: func() {
			for _, o := range append(servers, client) {
				_ = o.proc.Stop(5 * time.Second)
			}
		},
	}
}

// The benchmark reads OpenVPN's transport from its log (lines as OpenVPN
// 2.6 writes them at --verb 3).
func TestOpenVPNOnUDPFromLog(t *testing.T) {
	udp := "UDPv4 link remote: [AF_INET]198.51.100.2:1194\nInitialization Sequence Completed\n"
	tcp := "SIGUSR1[soft,ping-restart] received, process restarting\nTCPv4_CLIENT link remote: [AF_INET]198.51.100.2:1194\nInitialization Sequence Completed\n"
	for _, tc := range []struct {
		log  string
		want bool
	}{
		{"", false},
		{"UDPv4 link remote: [AF_INET]198.51.100.2:1194\n", false},
		{udp, true},
		{udp + tcp, false},
		{udp + tcp + "UDPv4 link remote: [AF_INET]198.51.100.2:1194\n", false},
		{tcp + udp, true},
	} {
		if got := ovpnOnUDP(tc.log); got != tc.want {
			t.Errorf("ovpnOnUDP(%q) = %v, want %v", tc.log, got, tc.want)
		}
	}
}
