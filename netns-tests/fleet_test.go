package netnstests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/testutil/pkitest"
	"intransit/netns-tests/netlab"
	"intransit/pki"
)

// The fleet: two gateways serving one site and the same laptops, their
// state in a 3-member etcd cluster that the test starts.
//
//	etcd-0..2 (10.77.0.11-13) ─┐
//	                        store switch ── gw1 (10.77.0.1), gw2 (10.77.0.2)
//	site (10.1.0.10) ───────── site switch ── gw1 (10.1.0.1), gw2 (10.1.0.2)
//	gw1 (192.0.2.1) ─┐
//	gw2 (192.0.2.2) ─┴ wan switch ── router (192.0.2.254) ── laptop N (198.51.20N.2)
//
// Every gateway runs intransitd with `store: etcd` and holds the CA (its
// own copy of the PKI directory; the records are in etcd, created by
// `intransit pki init --store-config`). The members serve TLS with client
// certificates from a second, file-based CA (etcd's own). Both gateways
// lease from one pool through etcd. The site host has no route back to the
// pool: whatever tells the site LAN which gateway holds a laptop adds it; a
// laptop reaches its own gateway's site address (g.siteAddr) without one.
//
// Use: f := newFleet(t, fleetOptions{}); f.startGateways(); lp :=
// f.addLaptop("l1"); lp.mustEnroll(f.gws[0]); lp.connect(); lp.wait(...,
// connected). f.etcd[i].kill()/restart(), f.etcdLeader(), g.partition()
// (returns the heal), f.pki/f.p2sAdmin(host, args...) (CLI against etcd),
// f.invite(host, name).
const (
	fleetEtcdName = "etcd.fleet.test" // the members' certificate name
	fleetPrefix   = "/fleet/"
	fleetSiteHost = "10.1.0.10"
	fleetPool4    = "10.9.0.0/24"
	fleetPool6    = "fd00:9::/112"
)

// fleet is the running topology. Build it with newFleet; its gateways run
// once startGateways returns. Its helpers fail the test that built it: call
// them from that test's goroutine, not from subtests (t.Run) or other
// goroutines.
type fleet struct {
	t   testing.TB
	lab *netlab.Lab
	dir string
	// daemon and cli are the intransitd and intransit binaries.
	daemon, cli string
	// etcd are the members; endpoints their client URLs.
	etcd      []*fleetMember
	endpoints []string
	// storeFile holds the store section alone with an admin's etcd client
	// certificate: `intransit pki|p2s ... --store-config` from any host.
	storeFile string
	// pkiDir is the admin's copy of the PKI directory (no daemon holds
	// it: commands on it go to etcd); keyFile its master key.
	pkiDir, keyFile string
	caFile          string // the PKI's bundle
	etcdCA          string // the members' CA
	site, router    *netlab.Host
	store           *netlab.Switch
	// gws are the two gateways, gws[0] is "gw1".
	gws     []*fleetGateway
	laptops int
}

// fleetMember is one etcd member in a host of its own.
type fleetMember struct {
	f    *fleet
	name string
	host *netlab.Host
	ip   string
	args []string
	proc *netlab.Process
}

// fleetGateway is one gateway host and its daemon.
type fleetGateway struct {
	f    *fleet
	name string // gw1, gw2
	host *netlab.Host
	// wan, siteAddr and storeAddr are its addresses on the three networks;
	// storeIface its interface toward etcd (partition cuts it).
	wan, siteAddr, storeAddr string
	storeIface               *netlab.Iface
	dir                      string
	config                   string
	// extra is more configuration appended at the top level (before
	// start; rewriteConfig applies it).
	extra string
	gw    *gateway
}

// fleetOptions shape newFleet.
type fleetOptions struct {
	// Extra returns more top-level configuration for gateway i (0 or 1),
	// or nil.
	Extra func(i int) string
}

// newFleet builds the topology, starts the etcd cluster, creates the PKI
// on it, issues the gateways' certificates and writes their
// configurations. The gateways are not started: call startGateways.
func newFleet(t testing.TB, opts fleetOptions) *fleet {
	t.Helper()
	netlab.RequireRoot(t)
	netlab.RequireTools(t, "nft", "ping", "curl")
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("etcd is not installed (apt-get install etcd-server); CI requires it")
		}
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	f := &fleet{t: t, lab: netlab.New(t), dir: t.TempDir()}
	f.daemon = netlab.GoBuild(t, "intransit/cmd/intransitd", true)
	f.cli = netlab.GoBuild(t, "intransit/cmd/intransit", true)

	f.store = f.lab.Switch("store")
	siteSw, wanSw := f.lab.Switch("sitelan"), f.lab.Switch("wanlan")
	f.site, f.router = f.lab.Host("site"), f.lab.Host("router")
	siteSw.Attach(f.site).AddAddr(fleetSiteHost + "/24")
	wanSw.Attach(f.router).AddAddr("192.0.2.254/24")
	f.router.EnableForwarding()
	for i := range 2 {
		g := &fleetGateway{f: f, name: fmt.Sprintf("gw%d", i+1), dir: filepath.Join(f.dir, fmt.Sprintf("gw%d", i+1))}
		g.host = f.lab.Host(g.name)
		g.wan, g.siteAddr, g.storeAddr = fmt.Sprintf("192.0.2.%d", i+1), fmt.Sprintf("10.1.0.%d", i+1), fmt.Sprintf("10.77.0.%d", i+1)
		g.storeIface = f.store.Attach(g.host)
		g.storeIface.AddAddr(g.storeAddr + "/24")
		siteSw.Attach(g.host).AddAddr(g.siteAddr + "/24")
		wanSw.Attach(g.host).AddAddr(g.wan + "/24")
		g.host.EnableForwarding()
		g.host.AddRoute("default", "192.0.2.254")
		if opts.Extra != nil {
			g.extra = opts.Extra(i)
		}
		if err := os.MkdirAll(filepath.Join(g.dir, "run"), 0o700); err != nil {
			t.Fatal(err)
		}
		f.gws = append(f.gws, g)
	}

	// The members' TLS: a file CA of their own, a server certificate per
	// member, a client certificate per gateway and one for the admin.
	eca := pkitest.NewCA(t, pki.InitOptions{Name: "etcdca"})
	tlsDir := filepath.Join(f.dir, "etcd-tls")
	f.etcdCA = filepath.Join(tlsDir, "ca.pem")
	issue := func(profile, name string, ips []net.IP) (string, string) {
		is, err := eca.Issue(context.Background(), pki.Request{Profile: profile, Name: name, DNSNames: []string{name + ".fleet.test"}, IPAddresses: ips}, pki.ECDSAP256)
		if err != nil {
			t.Fatalf("fleet: issue %s: %v", name, err)
		}
		files, err := eca.WriteIssued(tlsDir, is)
		if err != nil {
			t.Fatal(err)
		}
		return files.Chain, files.Key
	}
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.etcdCA, eca.Bundle(), 0o644); err != nil {
		t.Fatal(err)
	}
	var ips []net.IP
	for i := range 3 {
		ips = append(ips, net.ParseIP(fmt.Sprintf("10.77.0.%d", 11+i)))
	}
	// The gateway profile (serverAuth and clientAuth): etcd's gRPC gateway
	// (/v3/maintenance/status) dials its own member with this certificate.
	srvCert, srvKey := issue(pki.ProfileGateway, "etcd", ips)
	var initial []string
	for i := range 3 {
		m := &fleetMember{f: f, name: fmt.Sprintf("etcd-%d", i), ip: fmt.Sprintf("10.77.0.%d", 11+i)}
		m.host = f.lab.Host(m.name)
		f.store.Attach(m.host).AddAddr(m.ip + "/24")
		initial = append(initial, m.name+"=http://"+m.ip+":2380")
		f.endpoints = append(f.endpoints, "https://"+m.ip+":2379")
		f.etcd = append(f.etcd, m)
	}
	token := filepath.Base(f.dir)
	for _, m := range f.etcd {
		m.args = []string{etcdBin,
			"--name", m.name, "--data-dir", filepath.Join(f.dir, m.name),
			"--listen-client-urls", "https://" + m.ip + ":2379", "--advertise-client-urls", "https://" + m.ip + ":2379",
			"--listen-peer-urls", "http://" + m.ip + ":2380", "--initial-advertise-peer-urls", "http://" + m.ip + ":2380",
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new", "--initial-cluster-token", token,
			"--cert-file", srvCert, "--key-file", srvKey, "--trusted-ca-file", f.etcdCA, "--client-cert-auth",
			"--logger", "zap", "--log-level", "warn", "--heartbeat-interval", "50", "--election-timeout", "500",
		}
		m.start()
	}
	adminCert, adminKey := issue(pki.ProfileGateway, "admin", nil)
	f.storeFile = f.writeStore(filepath.Join(f.dir, "admin-store.yaml"), adminCert, adminKey)
	for _, g := range f.gws {
		c, k := issue(pki.ProfileGateway, "etcd-"+g.name, nil)
		f.writeStore(filepath.Join(g.dir, "store.yaml"), c, k)
	}
	f.waitEtcd(30 * time.Second)

	// The intransit PKI, its records in etcd, created from gw1's host.
	f.pkiDir, f.keyFile = filepath.Join(f.dir, "pki"), filepath.Join(f.dir, "pki.key")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.pki(f.gws[0].host, "init", "--name", "fleet")
	f.caFile = filepath.Join(f.pkiDir, pki.BundleFile)
	for _, g := range f.gws {
		f.pki(g.host, "issue", g.name, "--profile", "gateway", "--san", g.wan, "--san", g.name+".fleet.test", "--out", filepath.Join(g.dir, "id"))
		f.pki(g.host, "crl", "--out", filepath.Join(g.dir, "crl.der"))
		// Each gateway holds the CA from its own copy of the directory.
		copyDir(t, f.pkiDir, filepath.Join(g.dir, "pki"))
		g.rewriteConfig()
	}
	return f
}

// copyDir copies the regular files of src into a new directory dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func (m *fleetMember) start() {
	m.proc = m.host.Start(m.args[0], m.args[1:]...)
}

// kill kills the member with SIGKILL and waits until it is gone.
func (m *fleetMember) kill() {
	m.f.t.Helper()
	if err := m.proc.Signal(syscall.SIGKILL); err != nil {
		m.f.t.Fatal(err)
	}
	<-m.proc.Done()
}

// restart starts a killed member again on its data and waits until the
// cluster answers through it.
func (m *fleetMember) restart() {
	m.f.t.Helper()
	m.start()
	m.f.waitEtcd(30 * time.Second)
}

// running reports whether the member's process is alive.
func (m *fleetMember) running() bool {
	select {
	case <-m.proc.Done():
		return false
	default:
		return true
	}
}

// writeStore writes a file with the store section for a client
// certificate and returns its path.
func (f *fleet) writeStore(path, cert, key string) string {
	f.t.Helper()
	body := f.storeSection(cert, key)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// storeSection is the store section for a client certificate.
func (f *fleet) storeSection(cert, key string) string {
	return fmt.Sprintf("store:\n  backend: etcd\n  etcd:\n    endpoints: [%s]\n    ca: %s\n    cert: %s\n    key: %s\n    server_name: %s\n    prefix: %s\n    dial_timeout: 2s\n",
		strings.Join(f.endpoints, ", "), f.etcdCA, cert, key, fleetEtcdName, fleetPrefix)
}

// waitEtcd waits until every running member reports healthy, asked from
// the store switch's side (gw1's host) with the admin's certificate.
func (f *fleet) waitEtcd(timeout time.Duration) {
	f.t.Helper()
	cert := filepath.Join(f.dir, "etcd-tls", "admin-chain.pem")
	key := filepath.Join(f.dir, "etcd-tls", "admin.key")
	deadline := time.Now().Add(timeout)
	for _, m := range f.etcd {
		if !m.running() {
			continue
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			out, err := f.gws[0].host.Run(ctx, "curl", "-sS", "--max-time", "1", "--cacert", f.etcdCA, "--cert", cert, "--key", key,
				"--resolve", fleetEtcdName+":2379:"+m.ip, "https://"+fleetEtcdName+":2379/health")
			cancel()
			if err == nil && strings.Contains(string(out), `"health":"true"`) {
				break
			}
			if time.Now().After(deadline) || !m.running() {
				f.t.Fatalf("fleet: etcd member %s not healthy within %s: %v %s\n%s", m.name, timeout, err, out, tail(m.proc.Output(), 3000))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// pki runs `intransit pki` on host h against the admin's PKI directory and
// etcd, failing the test on error; it returns the output.
func (f *fleet) pki(h *netlab.Host, args ...string) string {
	f.t.Helper()
	out, err := f.pkiRun(h, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// pkiRun is pki returning the error.
func (f *fleet) pkiRun(h *netlab.Host, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"pki", args[0], "--dir", f.pkiDir, "--key-file", f.keyFile, "--store-config", f.storeFile}, args[1:]...)
	out, err := h.Run(ctx, f.cli, full...)
	if err != nil {
		return string(out), fmt.Errorf("on %s: intransit %s: %w: %s", h.Name(), strings.Join(full, " "), err, out)
	}
	return string(out), nil
}

// p2sAdmin runs `intransit p2s` on host h against etcd alone
// (--store-config), failing the test on error; it returns the output.
func (f *fleet) p2sAdmin(h *netlab.Host, args ...string) string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"p2s"}, append(args, "--store-config", f.storeFile)...)
	out, err := h.Run(ctx, f.cli, full...)
	if err != nil {
		f.t.Fatalf("on %s: intransit %s: %v: %s", h.Name(), strings.Join(full, " "), err, out)
	}
	return string(out)
}

// writeFile writes content into the gateway's directory.
func (g *fleetGateway) writeFile(name, content string) string {
	g.f.t.Helper()
	p := filepath.Join(g.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		g.f.t.Fatal(err)
	}
	return p
}

// rewriteConfig writes the gateway's configuration (with g.extra); a
// running daemon sees it at its next start or SIGHUP.
func (g *fleetGateway) rewriteConfig() {
	g.f.t.Helper()
	f := g.f
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: %s\nstatus_socket: %s\n", filepath.Join(g.dir, "state"), filepath.Join(g.dir, "run", "status.sock"))
	fmt.Fprintf(&b, "identity:\n  cert: %s\n  key: %s\n  ca: %s\n  crl: %s\n  crl_refresh: 1s\n",
		filepath.Join(g.dir, "id", g.name+"-chain.pem"), filepath.Join(g.dir, "id", g.name+".key"), f.caFile, filepath.Join(g.dir, "crl.der.pem"))
	fmt.Fprintf(&b, "listen:\n  control: %s:8443\n  udp: %s:51820\n", g.wan, g.wan)
	b.WriteString("site_prefixes: [10.1.0.0/24]\nkeepalive: 1s\ndead_after: 5s\nremotes: []\n")
	storeBody, err := os.ReadFile(filepath.Join(g.dir, "store.yaml"))
	if err != nil {
		f.t.Fatal(err)
	}
	b.Write(storeBody)
	b.WriteString(g.extra)
	fmt.Fprintf(&b, "p2s:\n  listen:\n    control: %s:8444\n    udp: %s:51821\n    quic: %s:443\n    tls: %s:443\n", g.wan, g.wan, g.wan, g.wan)
	fmt.Fprintf(&b, "  enroll: %s:8445\n  renew: %s:8446\n  admin_socket: %s\n", g.wan, g.wan, filepath.Join(g.dir, "run", "p2s.sock"))
	fmt.Fprintf(&b, "  pki: {dir: %s, key_file: %s}\n  client_ttl: 72h\n", filepath.Join(g.dir, "pki"), f.keyFile)
	fmt.Fprintf(&b, "  pools: [%s, %s]\n  groups:\n    - name: staff\n", fleetPool4, fleetPool6)
	g.config = g.writeFile(g.name+".yaml", b.String())
}

// startGateways starts both daemons (in parallel) and waits until both
// answer on their status sockets.
func (f *fleet) startGateways() {
	f.t.Helper()
	for _, g := range f.gws {
		g.start()
	}
}

// start starts the gateway's daemon and waits for its status socket.
func (g *fleetGateway) start() {
	g.f.t.Helper()
	g.gw = startGateway(g.f.t, g.host, g.f.daemon, g.config)
}

// partition cuts the gateway from etcd: nftables drops everything in
// and out of its interface toward the store switch. It returns the heal.
func (g *fleetGateway) partition() (heal func()) {
	g.f.t.Helper()
	in := g.host.Drop(fmt.Sprintf("iifname %q", g.storeIface.Name()))
	out := g.host.Drop(fmt.Sprintf("oifname %q", g.storeIface.Name()))
	return func() { in.Remove(); out.Remove() }
}

// invite makes an enrollment token for name in group staff with the CLI
// on host h (any host that reaches etcd) and returns it.
func (f *fleet) invite(h *netlab.Host, name string) string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.Run(ctx, f.cli, "p2s", "invite", name, "--group", "staff", "--expires", "1h",
		"--store-config", f.storeFile, "--pki-dir", f.pkiDir, "--output", "json")
	if err != nil {
		f.t.Fatalf("on %s: p2s invite %s: %v: %s", h.Name(), name, err, out)
	}
	var inv struct{ Token string }
	if err := json.Unmarshal(out, &inv); err != nil || inv.Token == "" {
		f.t.Fatalf("invite output %q: %v", out, err)
	}
	return inv.Token
}

// fleetLaptop is one laptop host behind the router, enrolled at a
// gateway of the fleet that the test chooses.
type fleetLaptop struct {
	*laptop
	f *fleet
}

// addLaptop adds a laptop on a link of its own to the router.
func (f *fleet) addLaptop(name string) *fleetLaptop {
	f.t.Helper()
	f.laptops++
	return &fleetLaptop{laptop: newLaptop(f.t, f.lab, f.router, 200+f.laptops, f.cli, f.dir, name, f.gatewayLogs), f: f}
}

// enrollAt enrolls the laptop at gateway g with token and returns the
// command's output and error.
func (lp *fleetLaptop) enrollAt(g *fleetGateway, token string) (string, error) {
	return lp.enrollTo(g.wan, token)
}

// mustEnroll enrolls the laptop at g with a fresh token, failing the test
// on error.
func (lp *fleetLaptop) mustEnroll(g *fleetGateway) {
	lp.f.t.Helper()
	if _, err := lp.enrollAt(g, lp.f.invite(g.host, lp.name)); err != nil {
		lp.f.t.Fatal(err)
	}
}

// gatewayLogs is the tail of every running gateway's log.
func (f *fleet) gatewayLogs() string {
	var b strings.Builder
	for _, g := range f.gws {
		if g.gw != nil {
			fmt.Fprintf(&b, "--- %s log:\n%s\n", g.name, tail(g.gw.proc.Output(), 4000))
		}
	}
	return b.String()
}
