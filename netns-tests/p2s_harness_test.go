package netnstests

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/internal/testutil/pkitest"
	"intransit/netns-tests/netlab"
	"intransit/pki"
)

// The point-to-site topology:
//
//	site (10.1.0.10) — gw (10.1.0.1 | WAN 192.0.2.1) — router —
//	    laptop N (198.51.10N.2), one link each
//
// The gateway runs intransitd with a p2s section; each laptop runs
// `intransit p2s connect`.
const (
	p2sWan      = "192.0.2.1"
	p2sSiteHost = "10.1.0.10"
	p2sPool4    = "10.9.0.0/24"
	p2sPool6    = "fd00:9::/112"
	p2sDNS      = "10.1.0.53"
)

// p2sLab is the topology, the PKI and the binaries.
type p2sLab struct {
	t       testing.TB
	lab     *netlab.Lab
	site    *netlab.Host
	gwHost  *netlab.Host
	router  *netlab.Host
	wan     *netlab.Link // gateway — router
	daemon  string       // intransitd
	cli     string       // intransit
	pkiDir  string
	pass    string // passphrase file
	caFile  string
	crl     string
	dir     string
	config  string
	gw      *gateway
	laptops int

	chain, key string // the gateway's certificate chain and key
	clientTTL  string // p2s.client_ttl
	leaseIdle  string // p2s.lease_idle; the default when empty
	top        string // more top-level settings, one per line
	pathMTU    int    // path_mtu; the default when 0
	pools      string // p2s.pools; both of p2sPool4 and p2sPool6 when empty
	laptopOnly bool   // no site-to-site listen and no remotes
}

func newP2SLab(t testing.TB) *p2sLab {
	t.Helper()
	netlab.RequireRoot(t)
	netlab.RequireTools(t, "nft", "ping")
	l := &p2sLab{t: t, lab: netlab.New(t), dir: t.TempDir()}
	l.daemon = netlab.GoBuild(t, "intransit/cmd/intransitd", true)
	l.cli = netlab.GoBuild(t, "intransit/cmd/intransit", true)
	l.site, l.gwHost, l.router = l.lab.Host("site"), l.lab.Host("gw"), l.lab.Host("wan")
	ls := l.lab.Link(l.site, l.gwHost)
	ls.A.AddAddr(p2sSiteHost + "/24")
	ls.B.AddAddr("10.1.0.1/24")
	lw := l.lab.Link(l.gwHost, l.router)
	l.wan = lw
	lw.A.AddAddr(p2sWan + "/24")
	lw.B.AddAddr("192.0.2.254/24")
	l.router.EnableForwarding()
	l.gwHost.EnableForwarding()
	l.gwHost.AddRoute("default", "192.0.2.254")
	l.site.AddRoute("default", "10.1.0.1")

	ca := pkitest.NewCA(t, pki.InitOptions{Name: "p2s"})
	l.pkiDir = ca.Dir()
	l.pass = filepath.Join(l.dir, "pki.pass")
	if err := os.WriteFile(l.pass, []byte(pkitest.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// crl.der.pem is where `intransit pki crl --out crl.der` puts the PEM.
	l.caFile, l.crl = filepath.Join(l.dir, "ca.pem"), filepath.Join(l.dir, "crl.der.pem")
	if err := os.WriteFile(l.caFile, ca.Bundle(), 0o644); err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(context.Background(), pki.Request{Profile: pki.ProfileGateway, Name: "gw",
		DNSNames: []string{"gw.p2s.test"}, IPAddresses: []net.IP{net.ParseIP(p2sWan)}}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	files, err := ca.WriteIssued(filepath.Join(l.dir, "issued"), is)
	if err != nil {
		t.Fatal(err)
	}
	l.publishCRL(ca)
	// The gateway holds the PKI from its start; the test goes through it.
	ca.Close()
	l.chain, l.key, l.clientTTL = files.Chain, files.Key, "72h"
	l.config = l.writeConfig()
	return l
}

func (l *p2sLab) publishCRL(ca *pki.CA) {
	l.t.Helper()
	crl, err := ca.CurrentCRL(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	tmp := l.crl + ".tmp"
	if err := os.WriteFile(tmp, pki.PEMCRL(crl.DER), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, l.crl); err != nil {
		l.t.Fatal(err)
	}
}

// revoke revokes a client's certificate by name with `intransit pki
// revoke` alone: the daemon holding the PKI publishes the CRL where the
// gateway reads it.
func (l *p2sLab) revoke(name string) {
	l.t.Helper()
	l.gwHost.MustRun(l.cli, "pki", "revoke", name, "--reason", "keyCompromise", "--dir", l.pkiDir)
}

// setClientTTL rewrites the configuration with another client certificate
// lifetime; call it before start.
func (l *p2sLab) setClientTTL(ttl string) {
	l.clientTTL = ttl
	l.config = l.writeConfig()
}

// setPath rewrites the configuration with a path_mtu and the pools (a
// YAML list body); call it before start.
func (l *p2sLab) setPath(mtu int, pools string) {
	l.pathMTU, l.pools = mtu, pools
	l.config = l.writeConfig()
}

// setLeaseIdle rewrites the configuration with another idle time after
// which a disconnected client's lease is reclaimed; call it before start.
func (l *p2sLab) setLeaseIdle(idle string) {
	l.leaseIdle = idle
	l.config = l.writeConfig()
}

func (l *p2sLab) writeConfig() string {
	l.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\nstatus_socket: %s\n", filepath.Join(l.dir, "state"), filepath.Join(l.dir, "run", "status.sock"))
	fmt.Fprintf(&b, "identity:\n  cert: %s\n  key: %s\n  ca: %s\n  crl: %s\n  crl_refresh: 1s\n", l.chain, l.key, l.caFile, l.crl)
	if !l.laptopOnly {
		fmt.Fprintf(&b, "listen:\n  control: %s:8443\n  udp: %s:51820\nremotes: []\n", p2sWan, p2sWan)
	}
	fmt.Fprintf(&b, "site_prefixes: [10.1.0.0/24]\nkeepalive: 1s\ndead_after: 5s\nmetrics_listen: 127.0.0.1:9586\n")
	b.WriteString(l.top)
	if l.pathMTU != 0 {
		fmt.Fprintf(&b, "path_mtu: %d\n", l.pathMTU)
	}
	fmt.Fprintf(&b, "p2s:\n  listen:\n    control: %s:8444\n    udp: %s:51821\n    quic: %s:443\n    tls: %s:443\n", p2sWan, p2sWan, p2sWan, p2sWan)
	fmt.Fprintf(&b, "  enroll: %s:8445\n  renew: %s:8446\n  admin_socket: %s\n", p2sWan, p2sWan, filepath.Join(l.dir, "run", "p2s.sock"))
	fmt.Fprintf(&b, "  pki: {dir: %s, passphrase_file: %s}\n  client_ttl: %s\n", l.pkiDir, l.pass, l.clientTTL)
	if l.leaseIdle != "" {
		fmt.Fprintf(&b, "  lease_idle: %s\n", l.leaseIdle)
	}
	pools := l.pools
	if pools == "" {
		pools = p2sPool4 + ", " + p2sPool6
	}
	fmt.Fprintf(&b, "  pools: [%s]\n  groups:\n    - name: staff\n      dns: [%s]\n      search: [corp.test]\n", pools, p2sDNS)
	b.WriteString("    - name: admins\n      full_tunnel: true\n      client_to_client: true\n")
	path := filepath.Join(l.dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		l.t.Fatal(err)
	}
	return path
}

// start starts the gateway daemon.
func (l *p2sLab) start() {
	l.t.Helper()
	l.gw = startGateway(l.t, l.gwHost, l.daemon, l.config)
}

// p2sStatus reads the gateway's point-to-site status.
func (l *p2sLab) p2sStatus() *status.P2S {
	l.t.Helper()
	rep := l.gw.status()
	if rep.P2S == nil {
		l.t.Fatalf("gateway status has no p2s section")
	}
	return rep.P2S
}

// waitLeases waits until the gateway holds n address leases.
func (l *p2sLab) waitLeases(timeout time.Duration, n int, what string) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := l.p2sStatus().Leases
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: %d leases after %s, want %d", what, got, timeout, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// gwClient returns the gateway's view of a connected client.
func (l *p2sLab) gwClient(name string) (status.P2SClient, bool) {
	for _, c := range l.p2sStatus().Clients {
		if c.Name == name {
			return c, true
		}
	}
	return status.P2SClient{}, false
}

// invite asks the gateway for a token in group staff through the CLI.
func (l *p2sLab) invite(name, expires string) string {
	l.t.Helper()
	return l.inviteGroup(name, "staff", expires)
}

// inviteGroup asks the gateway for a token in a group through the CLI.
func (l *p2sLab) inviteGroup(name, group, expires string) string {
	l.t.Helper()
	out := l.gwHost.MustRun(l.cli, "p2s", "invite", name, "--group", group, "--expires", expires,
		"--socket", filepath.Join(l.dir, "run", "p2s.sock"), "--output", "json")
	var inv struct{ Token string }
	if err := json.Unmarshal([]byte(out), &inv); err != nil || inv.Token == "" {
		l.t.Fatalf("invite output %q: %v", out, err)
	}
	return inv.Token
}

// addLaptop adds a laptop on a link of its own to the router.
func (l *p2sLab) addLaptop(name string) *laptop {
	l.t.Helper()
	l.laptops++
	return newLaptop(l.t, l.lab, l.router, 100+l.laptops, l.cli, l.dir, name, func() string {
		return "gateway log:\n" + l.gw.proc.Output()
	})
}

// enroll enrolls the laptop at the lab's gateway with the token.
func (lp *laptop) enroll(token string) (string, error) { return lp.enrollTo(p2sWan, token) }
