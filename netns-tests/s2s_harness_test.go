package netnstests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/internal/testutil/pkitest"
	"intransit/netns-tests/netlab"
	"intransit/pki"
	"intransit/pki/store"
)

// The site-to-site topology:
//
//	siteA (10.1.0.10) — gwA (10.1.0.1 | WAN 192.0.2.1)
//	    — router "wan" (192.0.2.254 | 198.51.100.254) —
//	gwB (WAN 198.51.100.2 | 10.2.0.1) — siteB (10.2.0.10)
//
// More gateways join the router with addWANHost.
const (
	s2sWanA, s2sWanB   = "192.0.2.1", "198.51.100.2"
	s2sHostA, s2sHostB = "10.1.0.10", "10.2.0.10"
	s2sSiteA, s2sSiteB = "10.1.0.0/24", "10.2.0.0/24"
	// The sites' IPv6 networks, carried when a test configures them.
	s2sHostA6, s2sHostB6 = "fd01::10", "fd02::10"
	s2sSiteA6, s2sSiteB6 = "fd01::/64", "fd02::/64"
)

// s2sPKI is a fresh PKI for one test.
type s2sPKI struct {
	t      testing.TB
	ca     *pki.CA
	dir    string
	caFile string
	crl    string
}

func newS2SPKI(t testing.TB) *s2sPKI { return newNamedS2SPKI(t, "s2s") }

// newNamedS2SPKI is a fresh PKI whose CA has the given name.
func newNamedS2SPKI(t testing.TB, name string) *s2sPKI {
	t.Helper()
	dir := t.TempDir()
	ca := pkitest.NewCA(t, pki.InitOptions{Dir: filepath.Join(dir, "pki"), Name: name})
	p := &s2sPKI{t: t, ca: ca, dir: dir, caFile: filepath.Join(dir, "ca.pem"), crl: filepath.Join(dir, "crl.pem")}
	if err := os.WriteFile(p.caFile, ca.Bundle(), 0o644); err != nil {
		t.Fatal(err)
	}
	p.publishCRL()
	return p
}

// publishCRL writes the current CRL where the gateways read it.
func (p *s2sPKI) publishCRL() {
	p.t.Helper()
	crl, err := p.ca.CurrentCRL(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	tmp := p.crl + ".tmp"
	if err := os.WriteFile(tmp, pki.PEMCRL(crl.DER), 0o644); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, p.crl); err != nil {
		p.t.Fatal(err)
	}
}

// issue issues a gateway certificate and returns its chain and key files.
func (p *s2sPKI) issue(name string) (chain, key string, is *pki.Issued) {
	p.t.Helper()
	return p.issueTTL(name, 0)
}

// issueTTL issues a gateway certificate valid for ttl (the profile's
// default when 0).
func (p *s2sPKI) issueTTL(name string, ttl time.Duration) (chain, key string, is *pki.Issued) {
	p.t.Helper()
	req := pki.Request{Profile: pki.ProfileGateway, Name: name, DNSNames: []string{name + ".s2s.test"}, TTL: ttl}
	is, err := p.ca.Issue(context.Background(), req, pki.ECDSAP256)
	if err != nil {
		p.t.Fatal(err)
	}
	// A directory of its own: the same name may be issued twice.
	files, err := p.ca.WriteIssued(p.t.TempDir(), is)
	if err != nil {
		p.t.Fatal(err)
	}
	return files.Chain, files.Key, is
}

// identity is the URI identity of a gateway name.
func (p *s2sPKI) identity(name string) string {
	return p.ca.Identity(pki.ProfileGateway, name).String()
}

// revoke revokes a certificate and publishes the new CRL.
func (p *s2sPKI) revoke(is *pki.Issued) {
	p.t.Helper()
	if _, err := p.ca.Revoke(context.Background(), is.Certificate.SerialNumber, store.ReasonKeyCompromise); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.ca.NewCRL(context.Background()); err != nil {
		p.t.Fatal(err)
	}
	p.publishCRL()
}

// gwRemote is a remote in a test configuration.
type gwRemote struct {
	name, identity, control, transports, allowed string
}

// gwConfig is a test gateway configuration.
type gwConfig struct {
	name, wan, site string
	chain, key      string
	listen          string // listen section body
	rotation        string
	metrics         string // metrics_listen, empty for none
	pathMTU         int    // path_mtu, 0 for the default
	remotes         []gwRemote
}

// defaultListen serves every transport on the usual ports.
func defaultListen(wan string) string {
	return fmt.Sprintf("  control: %s:8443\n  udp: %s:51820\n  quic: %s:443\n  tls: %s:443\n", wan, wan, wan, wan)
}

// write renders the configuration into dir/<name>.yaml.
func (c gwConfig) write(t testing.TB, p *s2sPKI, dir string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\nstatus_socket: %s\n", filepath.Join(dir, "state"), filepath.Join(dir, "run", "status.sock"))
	fmt.Fprintf(&b, "identity:\n  cert: %s\n  key: %s\n  ca: %s\n  crl: %s\n  crl_refresh: 1s\n", c.chain, c.key, p.caFile, p.crl)
	fmt.Fprintf(&b, "listen:\n%s", c.listen)
	fmt.Fprintf(&b, "site_prefixes: [%s]\n", c.site)
	if c.metrics != "" {
		fmt.Fprintf(&b, "metrics_listen: %s\n", c.metrics)
	}
	if c.rotation != "" {
		fmt.Fprintf(&b, "psk_rotation: %s\n", c.rotation)
	}
	if c.pathMTU != 0 {
		fmt.Fprintf(&b, "path_mtu: %d\n", c.pathMTU)
	}
	fmt.Fprintf(&b, "keepalive: 1s\ndead_after: 5s\nremotes:\n")
	if len(c.remotes) == 0 {
		b.WriteString("  []\n")
	}
	for _, r := range c.remotes {
		fmt.Fprintf(&b, "  - name: %s\n    identity: %s\n    allowed_prefixes: [%s]\n", r.name, r.identity, r.allowed)
		if r.control != "" {
			fmt.Fprintf(&b, "    control: [%s]\n", r.control)
		}
		if r.transports != "" {
			fmt.Fprintf(&b, "    transports: [%s]\n", r.transports)
		}
	}
	path := filepath.Join(dir, c.name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// gateway is a running intransitd in a host.
type gateway struct {
	t      testing.TB
	host   *netlab.Host
	bin    string
	config string
	socket string
	env    []string // VAR=value settings for the daemon's environment
	proc   *netlab.Process
}

// startGateway starts intransitd with a written configuration and waits
// for its status socket.
func startGateway(t testing.TB, h *netlab.Host, bin, config string, env ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, host: h, bin: bin, config: config, env: env, socket: filepath.Join(filepath.Dir(config), "run", "status.sock")}
	g.start()
	return g
}

func (g *gateway) start() {
	g.t.Helper()
	if len(g.env) > 0 {
		g.proc = g.host.Start("env", append(append(append([]string(nil), g.env...), g.bin), "--config", g.config)...)
	} else {
		g.proc = g.host.Start(g.bin, "--config", g.config)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := g.tryStatus(); err == nil {
			return
		}
		select {
		case <-g.proc.Done():
			g.t.Fatalf("intransitd on %s exited during start:\n%s", g.host.Name(), g.proc.Output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("intransitd on %s not ready after 30s:\n%s", g.host.Name(), g.proc.Output())
		}
	}
}

func (g *gateway) tryStatus() (*status.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return status.Get(ctx, g.socket)
}

// status reads the gateway's status, failing the test on error.
func (g *gateway) status() *status.Report {
	g.t.Helper()
	r, err := g.tryStatus()
	if err != nil {
		g.t.Fatalf("status of %s: %v\n%s", g.host.Name(), err, g.proc.Output())
	}
	return r
}

// findPeer returns the status of the named remote, if the gateway has it.
func (g *gateway) findPeer(name string) (status.Peer, bool) {
	g.t.Helper()
	for _, p := range g.status().Peers {
		if p.Name == name {
			return p, true
		}
	}
	return status.Peer{}, false
}

// peer returns the status of the named remote.
func (g *gateway) peer(name string) status.Peer {
	g.t.Helper()
	p, ok := g.findPeer(name)
	if !ok {
		g.t.Fatalf("%s has no remote %q", g.host.Name(), name)
	}
	return p
}

// waitPeer waits until cond holds for the named remote, for at most
// timeout, and returns its status.
func (g *gateway) waitPeer(name string, timeout time.Duration, what string, cond func(status.Peer) bool) status.Peer {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, ok := g.findPeer(name)
		if ok && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s: remote %s not %s within %s: %+v\nlog:\n%s", g.host.Name(), name, what, timeout, p, g.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitUp waits for the named remote's tunnel to be up.
func (g *gateway) waitUp(name string, timeout time.Duration) status.Peer {
	g.t.Helper()
	return g.waitPeer(name, timeout, "up", func(p status.Peer) bool { return p.State == status.StateUp })
}

// sessionEnded: the remote's session is over (not up, and not up with a
// silent data plane either).
func sessionEnded(p status.Peer) bool {
	return p.State != status.StateUp && p.State != status.StateDegraded
}

// stop ends the daemon with SIGTERM and fails the test if it failed.
func (g *gateway) stop() {
	g.t.Helper()
	if err := g.proc.Stop(15 * time.Second); err != nil {
		g.t.Errorf("intransitd on %s: %v\n%s", g.host.Name(), err, g.proc.Output())
	}
}

// s2sLab is the two-site topology with its PKI and both gateways' files.
type s2sLab struct {
	lab              *netlab.Lab
	pki              *s2sPKI
	bin              string
	siteA, siteB     *netlab.Host
	gwA, gwB         *netlab.Host
	router           *netlab.Host
	wanA, wanB       *netlab.Link // gwA—router and router—gwB
	siteLinkA        *netlab.Link // siteA—gwA
	wanHosts         int
	cfgA, cfgB       gwConfig
	dirA, dirB       string
	issuedA, issuedB *pki.Issued
}

// newS2SLab builds the topology (hosts, links, addresses, routes and
// forwarding) and the PKI; no daemon runs yet.
func newS2SLab(t testing.TB) *s2sLab {
	t.Helper()
	netlab.RequireRoot(t)
	netlab.RequireTools(t, "nft", "ping")
	l := &s2sLab{lab: netlab.New(t)}
	l.bin = netlab.GoBuild(t, "intransit/cmd/intransitd", true)
	l.pki = newS2SPKI(t)
	l.siteA, l.gwA, l.gwB, l.siteB = l.lab.Host("sitea"), l.lab.Host("gwa"), l.lab.Host("gwb"), l.lab.Host("siteb")
	l.router = l.lab.Host("wan")
	la := l.lab.Link(l.siteA, l.gwA)
	l.siteLinkA = la
	la.A.AddAddr(s2sHostA + "/24")
	la.B.AddAddr("10.1.0.1/24")
	l.wanA = l.lab.Link(l.gwA, l.router)
	l.wanA.A.AddAddr(s2sWanA + "/24")
	l.wanA.B.AddAddr("192.0.2.254/24")
	l.wanB = l.lab.Link(l.router, l.gwB)
	l.wanB.A.AddAddr("198.51.100.254/24")
	l.wanB.B.AddAddr(s2sWanB + "/24")
	l.router.EnableForwarding()
	l.gwA.AddRoute("default", "192.0.2.254")
	l.gwB.AddRoute("default", "198.51.100.254")
	lb := l.lab.Link(l.gwB, l.siteB)
	lb.A.AddAddr("10.2.0.1/24")
	lb.B.AddAddr(s2sHostB + "/24")
	la.A.AddAddr(s2sHostA6 + "/64")
	la.B.AddAddr("fd01::1/64")
	lb.A.AddAddr("fd02::1/64")
	lb.B.AddAddr(s2sHostB6 + "/64")
	l.siteA.AddRoute("default", "10.1.0.1")
	l.siteB.AddRoute("default", "10.2.0.1")
	l.siteA.AddRoute("::/0", "fd01::1")
	l.siteB.AddRoute("::/0", "fd02::1")
	l.gwA.EnableForwarding()
	l.gwB.EnableForwarding()
	var chainA, keyA, chainB, keyB string
	chainA, keyA, l.issuedA = l.pki.issue("gw-a")
	chainB, keyB, l.issuedB = l.pki.issue("gw-b")
	l.dirA, l.dirB = t.TempDir(), t.TempDir()
	l.cfgA = gwConfig{name: "gw-a", wan: s2sWanA, site: s2sSiteA, chain: chainA, key: keyA, listen: defaultListen(s2sWanA),
		remotes: []gwRemote{{name: "site-b", identity: l.pki.identity("gw-b"), control: s2sWanB + ":8443", allowed: s2sSiteB}}}
	l.cfgB = gwConfig{name: "gw-b", wan: s2sWanB, site: s2sSiteB, chain: chainB, key: keyB, listen: defaultListen(s2sWanB),
		remotes: []gwRemote{{name: "site-a", identity: l.pki.identity("gw-a"), control: s2sWanA + ":8443", allowed: s2sSiteA}}}
	return l
}

// start writes both configurations and starts both daemons.
func (l *s2sLab) start(t testing.TB) (a, b *gateway) {
	t.Helper()
	a = startGateway(t, l.gwA, l.bin, l.cfgA.write(t, l.pki, l.dirA))
	b = startGateway(t, l.gwB, l.bin, l.cfgB.write(t, l.pki, l.dirB))
	return a, b
}

// xfer builds the transfer program.
func (l *s2sLab) xfer(t testing.TB) string {
	t.Helper()
	return netlab.GoBuild(t, "intransit/netns-tests/xfer", true)
}

// addWANHost adds a gateway host on a link of its own to the router and
// returns it with its WAN address.
func (l *s2sLab) addWANHost(t testing.TB, name string) (*netlab.Host, string) {
	t.Helper()
	l.wanHosts++
	h := l.lab.Host(name)
	link := l.lab.Link(l.router, h)
	addr := fmt.Sprintf("203.0.%d.2", 112+l.wanHosts)
	link.A.AddAddr(fmt.Sprintf("203.0.%d.254/24", 112+l.wanHosts))
	link.B.AddAddr(addr + "/24")
	h.EnableForwarding()
	h.AddRoute("default", fmt.Sprintf("203.0.%d.254", 112+l.wanHosts))
	return h, addr
}
