package netnstests

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
)

// Failover in the fleet (fleet_test.go): both gateways list each other for
// the laptops (p2s.gateways) and answer ARP on the site LAN for the
// laptops they hold (p2s.announce); the site host routes the pool onto
// its LAN.

// fleetFailover readies the fleet for failover before the gateways start.
func fleetFailover(t testing.TB, f *fleet, gwConfig func(i int, config string) string) {
	t.Helper()
	var wans []string
	for _, g := range f.gws {
		wans = append(wans, g.wan)
	}
	for i, g := range f.gws {
		data, err := os.ReadFile(g.config)
		if err != nil {
			t.Fatal(err)
		}
		// The p2s section is the configuration's last.
		text := string(data) + fmt.Sprintf("  gateways: [%s]\n  announce: %s\n", strings.Join(wans, ", "), ifaceWith(t, g.host, g.siteAddr))
		if gwConfig != nil {
			text = gwConfig(i, text)
		}
		if err := os.WriteFile(g.config, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.site.MustRun("ip", "route", "add", fleetPool4, "dev", ifaceWith(t, f.site, fleetSiteHost))
}

// ifaceWith names the interface of h that holds addr.
func ifaceWith(t testing.TB, h *netlab.Host, addr string) string {
	t.Helper()
	fields := strings.Fields(h.MustRun("ip", "-o", "-4", "addr", "show", "to", addr))
	if len(fields) < 2 {
		t.Fatalf("%s: no interface holds %s", h.Name(), addr)
	}
	name, _, _ := strings.Cut(fields[1], "@")
	return name
}

// macOf is the link address of h's interface iface.
func macOf(t testing.TB, h *netlab.Host, iface string) []byte {
	t.Helper()
	fields := strings.Fields(h.MustRun("ip", "-br", "link", "show", "dev", iface))
	if len(fields) < 3 {
		t.Fatalf("%s: link %s: %q", h.Name(), iface, fields)
	}
	mac, err := hex.DecodeString(strings.ReplaceAll(fields[2], ":", ""))
	if err != nil || len(mac) != 6 {
		t.Fatalf("%s: link address of %s %q: %v", h.Name(), iface, fields[2], err)
	}
	return mac
}

// connectedLaptop enrolls lp at g, connects it, and returns its status once
// connected through g.
func connectedLaptop(t testing.TB, lp *fleetLaptop, g *fleetGateway) *client.Status {
	t.Helper()
	lp.mustEnroll(g)
	prof, err := client.LoadProfile(filepath.Join(lp.dir, client.DefaultProfile))
	if err != nil {
		t.Fatal(err)
	}
	if len(prof.Gateways) != len(lp.f.gws)-1 {
		t.Fatalf("the profile lists %v besides %s; want every other gateway of the fleet", prof.Gateways, prof.Gateway)
	}
	lp.connect()
	return lp.wait(20*time.Second, "connected through "+g.name, func(st *client.Status) bool {
		return st.State == client.StateConnected && st.Gateway == g.wan && len(st.Addresses) > 0
	})
}

// tunnelAddr4 is the laptop's IPv4 tunnel address in st.
func tunnelAddr4(t testing.TB, st *client.Status) string {
	t.Helper()
	for _, a := range st.Addresses {
		if ad, err := netip.ParseAddr(a); err == nil && ad.Is4() {
			return a
		}
	}
	t.Fatalf("no IPv4 tunnel address in %v", st.Addresses)
	return ""
}

// siteReaches reports whether the site host reaches addr with one ping.
func siteReaches(f *fleet, addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := f.site.Run(ctx, "ping", "-c1", "-W1", addr)
	return err == nil
}

// The remote site: one gateway on a link of its own to the WAN router,
// which lists both fleet gateways as its remote "site-a" (their
// certificates both carry the DNS name fleetSiteName).
const (
	fleetSiteName   = "site-a.fleet.test"
	fleetRemoteName = "gwr.fleet.test"
	fleetRemoteWan  = "198.51.250.2"
	fleetRemoteSite = "10.2.0.0/24"
)

// addFleetRemote readies the fleet's gateways to serve a remote site and
// starts that site's gateway, which dials them in order.
func addFleetRemote(t testing.TB, f *fleet) *gateway {
	t.Helper()
	issuer := f.gws[0].host
	for _, g := range f.gws {
		// The site's name beside the gateway's own: the remote lists both
		// gateways as one remote.
		out := filepath.Join(g.dir, "site-id")
		f.pki(issuer, "issue", g.name+"-site", "--profile", "gateway", "--san", g.wan, "--san", g.name+".fleet.test", "--san", fleetSiteName, "--out", out)
		data, err := os.ReadFile(g.config)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer(
			filepath.Join(g.dir, "id", g.name+"-chain.pem"), filepath.Join(out, g.name+"-site-chain.pem"),
			filepath.Join(g.dir, "id", g.name+".key"), filepath.Join(out, g.name+"-site.key"),
			"remotes: []\n", fmt.Sprintf("remotes:\n  - name: site-r\n    identity: %s\n    allowed_prefixes: [%s]\n", fleetRemoteName, fleetRemoteSite),
		).Replace(string(data))
		if err := os.WriteFile(g.config, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := f.lab.Host("gwr")
	link := f.lab.Link(f.router, h)
	link.A.AddAddr("198.51.250.254/24")
	link.B.AddAddr(fleetRemoteWan + "/24")
	h.AddRoute("default", "198.51.250.254")
	h.EnableForwarding()
	dir := filepath.Join(f.dir, "gwr")
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	f.pki(issuer, "issue", "gwr", "--profile", "gateway", "--san", fleetRemoteWan, "--san", fleetRemoteName, "--out", filepath.Join(dir, "id"))
	f.pki(issuer, "crl", "--out", filepath.Join(dir, "crl.der"))
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\nstatus_socket: %s\n", filepath.Join(dir, "state"), filepath.Join(dir, "run", "status.sock"))
	fmt.Fprintf(&b, "identity:\n  cert: %s\n  key: %s\n  ca: %s\n  crl: %s\n  crl_refresh: 1s\n",
		filepath.Join(dir, "id", "gwr-chain.pem"), filepath.Join(dir, "id", "gwr.key"), f.caFile, filepath.Join(dir, "crl.der.pem"))
	fmt.Fprintf(&b, "listen:\n  control: %s:8443\n  udp: %s:51820\n", fleetRemoteWan, fleetRemoteWan)
	fmt.Fprintf(&b, "site_prefixes: [%s]\nkeepalive: 1s\ndead_after: 5s\nremotes:\n", fleetRemoteSite)
	fmt.Fprintf(&b, "  - name: site-a\n    identity: %s\n    allowed_prefixes: [10.1.0.0/24]\n    control: [%s:8443, %s:8443]\n",
		fleetSiteName, f.gws[0].wan, f.gws[1].wan)
	config := filepath.Join(dir, "gwr.yaml")
	if err := os.WriteFile(config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, h, f.daemon, config)
}

// fleetKillTimes are the figures of one kill of the gateway holding
// laptop 1, from the SIGKILL.
type fleetKillTimes struct {
	// laptop: connected through the other gateway; site: the site host's
	// ping to the laptop's tunnel address answered; remote: the remote
	// site's tunnel up through the other gateway.
	laptop, site, remote time.Duration
}

// fleetKill builds the fleet with a remote site and laptop 1 on gw1, kills
// gw1 with SIGKILL, and checks that laptop 1 is back through gw2 within
// 10 s with the same address, that the site host reaches it within 10 s
// and that the remote site's tunnel is back through gw2 within 15 s.
func fleetKill(t testing.TB) fleetKillTimes {
	f := newFleet(t, fleetOptions{})
	fleetFailover(t, f, nil)
	remote := addFleetRemote(t, f)
	f.startGateways()
	remote.waitPeer("site-a", 30*time.Second, "up through gw1", func(p status.Peer) bool {
		return p.State == status.StateUp && strings.Contains(p.Endpoint, f.gws[0].wan)
	})
	lp := f.addLaptop("laptop1")
	before := connectedLaptop(t, lp, f.gws[0])
	addr := tunnelAddr4(t, before)
	if !siteReaches(f, addr) {
		t.Fatalf("the site host does not reach laptop 1 at %s through gw1", addr)
	}

	dead, survivor := f.gws[0], f.gws[1]
	var r fleetKillTimes
	t0 := time.Now()
	if err := dead.gw.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	after := lp.wait(10*time.Second, "back through "+survivor.name, func(st *client.Status) bool {
		return st.State == client.StateConnected && st.Gateway == survivor.wan
	})
	r.laptop = time.Since(t0)
	if !slices.Equal(after.Addresses, before.Addresses) {
		t.Fatalf("laptop 1 came back with %v, had %v", after.Addresses, before.Addresses)
	}
	for !siteReaches(f, addr) {
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("the site host does not reach laptop 1 at %s within 10 s of the kill\n%s", addr, f.gatewayLogs())
		}
	}
	r.site = time.Since(t0)
	remote.waitPeer("site-a", 15*time.Second-time.Since(t0), "back up through gw2", func(p status.Peer) bool {
		return p.State == status.StateUp && strings.Contains(p.Endpoint, survivor.wan)
	})
	r.remote = time.Since(t0)
	return r
}

// TestFleetFailover kills the gateway holding laptop 1 with SIGKILL (see
// fleetKill).
func TestFleetFailover(t *testing.T) {
	t.Parallel()
	r := fleetKill(t)
	t.Logf("gw1 killed: laptop 1 back through gw2 with the same address after %.2f s; the site host reaches it after %.2f s; the remote site's tunnel up through gw2 after %.2f s",
		r.laptop.Seconds(), r.site.Seconds(), r.remote.Seconds())
}

// BenchmarkFleetFailover runs fleetKill once per iteration on a fresh
// fleet and reports its figures in seconds (bench/fleet-failover.sh takes
// the medians).
func BenchmarkFleetFailover(b *testing.B) {
	for range b.N {
		r := fleetKill(b)
		b.ReportMetric(r.laptop.Seconds(), "laptop-s")
		b.ReportMetric(r.site.Seconds(), "site-s")
		b.ReportMetric(r.remote.Seconds(), "remote-s")
	}
}

// TestFleetPartitionHeal cuts the gateway holding laptop 1 off from etcd
// and from the WAN: the laptop moves to the other gateway, while the cut
// gateway still holds its stale session and answers for the laptop on the
// site LAN (its control session would wait 120 s). When its cut from etcd
// heals, the gateway learns from etcd that the laptop is held elsewhere and
// drops the session and the announcement: exactly one gateway answers for
// the laptop.
func TestFleetPartitionHeal(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{})
	fleetFailover(t, f, func(i int, config string) string {
		if i == 0 {
			config = strings.Replace(config, "dead_after: 5s", "dead_after: 120s", 1)
		}
		return config
	})
	f.startGateways()
	lp := f.addLaptop("laptop1")
	before := connectedLaptop(t, lp, f.gws[0])
	addr := tunnelAddr4(t, before)
	cut, other := f.gws[0], f.gws[1]

	healStore := cut.partition()
	wan := ifaceWith(t, cut.host, cut.wan)
	in, out := cut.host.Drop(fmt.Sprintf("iifname %q", wan)), cut.host.Drop(fmt.Sprintf("oifname %q", wan))
	t0 := time.Now()
	lp.wait(15*time.Second, "moved to "+other.name, func(st *client.Status) bool {
		return st.State == client.StateConnected && st.Gateway == other.wan
	})
	t.Logf("gw1 cut off: laptop 1 through gw2 after %.2f s", time.Since(t0).Seconds())
	if !holds(t, cut, "laptop1") {
		t.Fatalf("the cut gateway dropped laptop 1 by itself; the test needs its stale session")
	}

	// The store comes back first, the laptop's side stays cut: only etcd
	// can tell gw1 that its session is stale (a reset from the laptop
	// would end it too).
	healStore()
	t1 := time.Now()
	for holds(t, cut, "laptop1") {
		if time.Since(t1) > 10*time.Second {
			t.Fatalf("gw1 still holds laptop 1 10 s after the heal\n%s", f.gatewayLogs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("partition healed: gw1 dropped its stale session of laptop 1 after %.2f s", time.Since(t1).Seconds())
	if !strings.Contains(cut.gw.proc.Output(), "held by another gateway now") {
		t.Fatalf("gw1 dropped laptop 1, but not because etcd says gw2 holds it:\n%s", tail(cut.gw.proc.Output(), 4000))
	}
	if !holds(t, other, "laptop1") {
		t.Fatalf("gw2 does not hold laptop 1 after the heal")
	}
	in.Remove()
	out.Remove()

	// Who answers for the laptop on the site LAN: ARP from the site host,
	// asked afresh a few times, captured there.
	siteIface := f.site.Iface(ifaceWith(t, f.site, fleetSiteHost))
	capture := siteIface.Capture("arp")
	for range 5 {
		f.site.MustRun("ip", "neigh", "flush", "to", addr)
		if !siteReaches(f, addr) {
			t.Fatalf("the site host does not reach laptop 1 at %s after the heal\n%s", addr, f.gatewayLogs())
		}
	}
	pc := capture.Stop()
	ip := netip.MustParseAddr(addr).As4()
	answer := func(g *fleetGateway) []byte {
		return append(macOf(t, g.host, ifaceWith(t, g.host, g.siteAddr)), ip[:]...)
	}
	if !pc.Contains(answer(other)) {
		t.Fatalf("gw2 never answered for laptop 1 on the site LAN")
	}
	if pc.Contains(answer(cut)) {
		t.Fatalf("gw1 still answers for laptop 1 on the site LAN after the heal: two gateways announce it")
	}
}

// holds reports whether gateway g has a session of the client.
func holds(t testing.TB, g *fleetGateway, name string) bool {
	t.Helper()
	rep, err := g.gw.tryStatus()
	if err != nil || rep.P2S == nil {
		t.Fatalf("%s status: %v", g.name, err)
	}
	return slices.ContainsFunc(rep.P2S.Clients, func(c status.P2SClient) bool { return c.Name == name })
}
