package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"intransit/internal/status"
	"intransit/pki"
	"intransit/pki/keywrap"
)

// newS2SDemoCommand builds `intransit s2s demo`, which `intransit demo` runs.
func newS2SDemoCommand() *cobra.Command {
	var daemon string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Two sites joined by two gateways in network namespaces (needs root)",
		Long:  s2sDemoHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runS2SDemo(cmd.Context(), cmd.OutOrStdout(), daemon, false)
		},
	}
	cmd.Flags().StringVar(&daemon, "intransitd", "", "intransitd binary (default: next to intransit, on PATH, or built with go from this repository)")
	return cmd
}

const s2sDemoHelp = `Build a real topology in network namespaces:

  site A host 10.1.0.10 — gateway A — WAN router — gateway B — site B host 10.2.0.10
                                         |
                                  laptop 198.51.101.2

with a fresh PKI (one certificate per gateway), start intransitd on both
gateways, then show pings and a TCP transfer (iperf3) between the site hosts.
Gateway B serves laptops too: it invites the laptop (intransit p2s invite, a
one-time token), the laptop enrolls (intransit p2s enroll: its key is made
on the laptop, only a CSR is sent), connects (intransit p2s connect) and
pings site B. Then the status of gateway A and the client table of gateway
B, and captures of the WAN link and the laptop's link in which the marker the
pings carry never appears, while it does on the site link. Everything is
removed at the end, also on failure or Ctrl-C. Needs root and the ip, nft,
ping, tcpdump and iperf3 commands; takes about 10 seconds.`

// demoMarker is carried by the demo's pings; it must never cross the WAN in
// the clear.
const demoMarker = "intransit-demo!!"

// demoNet is the demo's namespaces and processes.
type demoNet struct {
	w      io.Writer
	prefix string
	dir    string
	ns     []string
	procs  []*exec.Cmd
	steps  int
	// keepProcs starts processes in sessions of their own, so that they
	// can outlive the demo; kept says the demo was handed over to
	// intransit demo --down and teardown must leave it running.
	keepProcs, kept bool
}

// step prints the title of the demo's next step, numbered.
func (d *demoNet) step(title string) {
	d.steps++
	fmt.Fprintf(d.w, "== %d. %s\n", d.steps, title)
}

// runS2SDemo runs the site-to-site demo, with a laptop joining gateway B
// point-to-site; with keep it leaves everything running at the end and
// prints the console's URL (see demo_keep.go).
func runS2SDemo(ctx context.Context, w io.Writer, daemonBin string, keep bool) error {
	if os.Geteuid() != 0 {
		return errors.New("the site-to-site demo builds network namespaces, TUN devices and routes: run it as root (or `intransit demo --pki-only` for the PKI quickstart alone)")
	}
	for _, tool := range []string{"ip", "nft", "ping", "tcpdump", "iperf3"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the demo needs %s (apt-get install iproute2 nftables iputils-ping tcpdump iperf3)", tool)
		}
	}
	if keep {
		if err := checkNoKeptDemo(); err != nil {
			return err
		}
	}
	// Ctrl-C or SIGTERM ends the demo through its teardown.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	dir, err := os.MkdirTemp("", "intransit-s2s-demo-")
	if err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	d := &demoNet{w: w, prefix: fmt.Sprintf("itd%d", os.Getpid()%100000), dir: dir, keepProcs: keep}
	defer func() {
		if !d.kept {
			os.RemoveAll(dir)
		}
	}()
	if daemonBin == "" {
		if daemonBin, err = findIntransitd(ctx, dir); err != nil {
			return err
		}
	}
	defer d.teardown()

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program for the laptop: %w", err)
	}
	d.step("a fresh PKI: one CA, a certificate for each gateway")
	files, err := demoPKI(ctx, filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   gw-a %s\n   gw-b %s\n", files.idA, files.idB)

	d.step("namespaces: site A — gateway A — WAN — gateway B — site B, and a laptop on the WAN")
	if err := d.topology(ctx); err != nil {
		return err
	}
	d.step("intransitd on both gateways (TLS 1.3 mTLS control channel, X25519MLKEM768; WireGuard data plane); B also serves laptops")
	sockA, err := d.startGateway(ctx, daemonBin, "gwa", "gw-a", files, "192.0.2.1", "10.1.0.0/24", "site-b", files.idB, "198.51.100.2", "10.2.0.0/24", "")
	if err != nil {
		return err
	}
	sockB, err := d.startGateway(ctx, daemonBin, "gwb", "gw-b", files, "198.51.100.2", "10.2.0.0/24", "site-a", files.idA, "192.0.2.1", "10.1.0.0/24",
		d.p2sSection(files, "198.51.100.2")+demoConsoleSection)
	if err != nil {
		return err
	}
	if err := waitUp(ctx, sockA, "site-b", 20*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, d.logs())
	}
	fmt.Fprintln(w, "   tunnel up")

	d.step("capture the WAN link, the laptop's link and the site A link")
	wanCap, err := d.capture(ctx, "wan", d.ifname("wa"), "wan.pcap")
	if err != nil {
		return err
	}
	laptopCap, err := d.capture(ctx, "wan", d.ifname("wl"), "laptop.pcap")
	if err != nil {
		return err
	}
	siteCap, err := d.capture(ctx, "gwa", d.ifname("ga"), "site.pcap")
	if err != nil {
		return err
	}

	d.step(fmt.Sprintf("ping site B from site A, each packet carrying %q", demoMarker))
	pattern := fmt.Sprintf("%x", demoMarker)
	out, err := d.run(ctx, "sitea", "ping", "-n", "-c", "5", "-i", "0.2", "-W", "3", "-p", pattern, "10.2.0.10")
	if err != nil {
		return fmt.Errorf("ping across the tunnel failed: %w\n%s\n%s", err, out, d.logs())
	}
	fmt.Fprint(w, indent(lastLines(out, 2)))
	out, err = d.run(ctx, "siteb", "ping", "-n", "-c", "3", "-i", "0.2", "-W", "3", "10.1.0.10")
	if err != nil {
		return fmt.Errorf("ping from site B failed: %w\n%s", err, out)
	}
	fmt.Fprint(w, indent(lastLines(out, 2)))

	d.step("TCP transfer site A -> site B (iperf3, 20 MB)")
	server := d.start("siteb", filepath.Join(dir, "iperf3.log"), "iperf3", "-s", "-1", "-B", "10.2.0.10")
	if err := waitForPort(ctx, d, "siteb", "5201"); err != nil {
		return err
	}
	out, err = d.run(ctx, "sitea", "iperf3", "-c", "10.2.0.10", "-n", "20M", "-f", "m")
	if err != nil {
		return fmt.Errorf("iperf3: %w\n%s", err, out)
	}
	fmt.Fprint(w, indent(grepLines(out, "sender|receiver")))
	_ = server.Wait()

	d.step("a laptop joins gateway B (point-to-site) and reaches site B")
	st, err := d.laptopJoins(ctx, self, "198.51.100.2")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   laptop connected over %s, address %s, routes %s\n", st.Transport, strings.Join(st.Addresses, " "), strings.Join(st.Routes, " "))
	out, err = d.run(ctx, "laptop", "ping", "-n", "-c", "5", "-i", "0.2", "-W", "3", "-p", pattern, "10.2.0.10")
	if err != nil {
		return fmt.Errorf("ping from the laptop failed: %w\n%s\n%s", err, out, d.logs())
	}
	fmt.Fprint(w, indent(lastLines(out, 2)))

	d.step("intransit status on gateway A, intransit p2s clients on gateway B")
	rep, err := status.Get(ctx, sockA)
	if err != nil {
		return err
	}
	var table bytes.Buffer
	if err := writeStatus(&table, rep); err != nil {
		return err
	}
	fmt.Fprint(w, indent(table.String()))
	out, err = d.run(ctx, "gwb", self, "p2s", "clients", "--socket", sockB)
	if err != nil {
		return fmt.Errorf("intransit p2s clients: %w\n%s", err, out)
	}
	fmt.Fprint(w, indent("\n"+out))

	d.step("what the captures hold")
	wanData, err := wanCap.stop()
	if err != nil {
		return err
	}
	siteData, err := siteCap.stop()
	if err != nil {
		return err
	}
	laptopData, err := laptopCap.stop()
	if err != nil {
		return err
	}
	wanHits, siteHits := bytes.Count(wanData, []byte(demoMarker)), bytes.Count(siteData, []byte(demoMarker))
	laptopHits := bytes.Count(laptopData, []byte(demoMarker))
	fmt.Fprintf(w, "   site A link: %d bytes captured, the marker appears %d times (plaintext inside the site)\n", len(siteData), siteHits)
	fmt.Fprintf(w, "   WAN link:    %d bytes captured, the marker appears %d times\n", len(wanData), wanHits)
	fmt.Fprintf(w, "   laptop link: %d bytes captured, the marker appears %d times\n", len(laptopData), laptopHits)
	if siteHits == 0 {
		return errors.New("the marker is missing from the site capture: the capture did not work, so the WAN result proves nothing")
	}
	if wanHits > 0 {
		return fmt.Errorf("plaintext on the WAN: the marker appears %d times in %s", wanHits, wanCap.path)
	}
	if laptopHits > 0 {
		return fmt.Errorf("plaintext on the laptop's link: the marker appears %d times in %s", laptopHits, laptopCap.path)
	}
	summary, err := d.run(ctx, "wan", "tcpdump", "-nn", "-q", "-r", wanCap.path)
	if err == nil {
		fmt.Fprint(w, indent(flowSummary(summary)))
	}

	if keep {
		url, err := d.keep(self)
		if err != nil {
			return err
		}
		d.step("the demo keeps running")
		fmt.Fprintf(w, "   the console of gateway B: %s\n   remove everything with: intransit demo --down\n", url)
		return nil
	}
	d.step("tear down")
	d.teardown()
	fmt.Fprintf(w, "   namespaces, links and daemons removed; the demo took %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// demoFiles are the PKI files the gateways use.
type demoFiles struct {
	ca, crl                    string
	chainA, keyA, chainB, keyB string
	idA, idB                   string
	// pkiDir and pass (the master key's passphrase, 0600) let gateway B
	// sign the laptop's certificate.
	pkiDir, pass string
}

// demoPKI creates a PKI and the two gateway certificates.
func demoPKI(ctx context.Context, dir string) (*demoFiles, error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	pass := base64.RawURLEncoding.EncodeToString(raw)
	secret := keywrap.Passphrase([]byte(pass))
	defer secret.Wipe()
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: dir, Name: "demo", Secret: secret})
	if err != nil {
		return nil, pkiError(err)
	}
	defer ca.Close()
	f := &demoFiles{ca: filepath.Join(dir, "bundle.pem"), crl: filepath.Join(dir, "demo.crl"), pkiDir: dir, pass: filepath.Join(filepath.Dir(dir), "pki.pass")}
	if err := os.WriteFile(f.pass, []byte(pass+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.ca, ca.Bundle(), 0o644); err != nil {
		return nil, err
	}
	crl, err := ca.CurrentCRL(ctx)
	if err != nil {
		return nil, pkiError(err)
	}
	if err := os.WriteFile(f.crl, pki.PEMCRL(crl.DER), 0o644); err != nil {
		return nil, err
	}
	for _, g := range []struct {
		name         string
		chain, key   *string
		identity     *string
		dnsName, wan string
	}{{"gw-a", &f.chainA, &f.keyA, &f.idA, "gw-a.demo.internal", "192.0.2.1"}, {"gw-b", &f.chainB, &f.keyB, &f.idB, "gw-b.demo.internal", "198.51.100.2"}} {
		is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: g.name, DNSNames: []string{g.dnsName},
			IPAddresses: []net.IP{net.ParseIP(g.wan)}}, pki.ECDSAP256)
		if err != nil {
			return nil, pkiError(err)
		}
		files, err := ca.WriteIssued(filepath.Join(dir, "issued"), is)
		if err != nil {
			return nil, pkiError(err)
		}
		*g.chain, *g.key, *g.identity = files.Chain, files.Key, ca.Identity(pki.ProfileGateway, g.name).String()
	}
	return f, nil
}

// findIntransitd finds the daemon next to this binary or on PATH, or builds
// it when running from a checkout of the repository.
func findIntransitd(ctx context.Context, dir string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "intransitd")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("intransitd"); err == nil {
		return p, nil
	}
	if data, err := os.ReadFile("go.mod"); err == nil && bytes.HasPrefix(data, []byte("module intransit\n")) {
		out := filepath.Join(dir, "intransitd")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/intransitd")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building intransitd: %w\n%s", err, msg)
		}
		return out, nil
	}
	return "", errors.New("intransitd not found next to intransit or on PATH (go build -o /usr/local/bin/intransitd ./cmd/intransitd), or pass --intransitd")
}

// nsName is the namespace of a demo host.
func (d *demoNet) nsName(host string) string { return d.prefix + "-" + host }

// ifname is a veth name unique to this run (at most 15 bytes).
func (d *demoNet) ifname(tag string) string { return d.prefix + tag }

// sh runs a command in the root namespace.
func (d *demoNet) sh(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// run runs a command inside a host and returns its output.
func (d *demoNet) run(ctx context.Context, host, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", d.nsName(host), name}, args...)...).CombinedOutput()
	return string(out), err
}

// start starts a long-running command inside a host, its output in logFile.
func (d *demoNet) start(host, logFile, name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", d.nsName(host), name}, args...)...)
	if f, err := os.Create(logFile); err == nil {
		cmd.Stdout, cmd.Stderr = f, f
	}
	if d.keepProcs {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err == nil {
		d.procs = append(d.procs, cmd)
	}
	return cmd
}

// topology creates the namespaces, links, addresses and routes.
func (d *demoNet) topology(ctx context.Context) error {
	for _, h := range []string{"sitea", "gwa", "wan", "gwb", "siteb", "laptop"} {
		if err := d.sh(ctx, "ip", "netns", "add", d.nsName(h)); err != nil {
			return err
		}
		d.ns = append(d.ns, d.nsName(h))
		if _, err := d.run(ctx, h, "ip", "link", "set", "lo", "up"); err != nil {
			return fmt.Errorf("lo up in %s: %w", h, err)
		}
	}
	links := []struct{ a, b, ta, tb, addrA, addrB string }{
		{"sitea", "gwa", "sa", "ga", "10.1.0.10/24", "10.1.0.1/24"},
		{"gwa", "wan", "aw", "wa", "192.0.2.1/24", "192.0.2.254/24"},
		{"wan", "gwb", "wb", "bw", "198.51.100.254/24", "198.51.100.2/24"},
		{"gwb", "siteb", "gb", "sb", "10.2.0.1/24", "10.2.0.10/24"},
		{"wan", "laptop", "wl", "lw", "198.51.101.254/24", demoLaptopWAN + "/24"},
	}
	for _, l := range links {
		ia, ib := d.ifname(l.ta), d.ifname(l.tb)
		if err := d.sh(ctx, "ip", "link", "add", ia, "netns", d.nsName(l.a), "type", "veth", "peer", "name", ib, "netns", d.nsName(l.b)); err != nil {
			return err
		}
		for _, end := range []struct{ host, ifc, addr string }{{l.a, ia, l.addrA}, {l.b, ib, l.addrB}} {
			if out, err := d.run(ctx, end.host, "ip", "addr", "add", end.addr, "dev", end.ifc); err != nil {
				return fmt.Errorf("address %s on %s: %w: %s", end.addr, end.host, err, out)
			}
			if out, err := d.run(ctx, end.host, "ip", "link", "set", end.ifc, "up"); err != nil {
				return fmt.Errorf("link up on %s: %w: %s", end.host, err, out)
			}
		}
	}
	cmds := [][]string{
		{"sitea", "ip", "route", "add", "default", "via", "10.1.0.1"},
		{"siteb", "ip", "route", "add", "default", "via", "10.2.0.1"},
		{"gwa", "ip", "route", "add", "default", "via", "192.0.2.254"},
		{"gwb", "ip", "route", "add", "default", "via", "198.51.100.254"},
		{"laptop", "ip", "route", "add", "default", "via", "198.51.101.254"},
		{"gwa", "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"gwb", "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{"wan", "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	}
	for _, c := range cmds {
		if out, err := d.run(ctx, c[0], c[1], c[2:]...); err != nil {
			return fmt.Errorf("%s on %s: %w: %s", strings.Join(c[1:], " "), c[0], err, out)
		}
	}
	return nil
}

// startGateway writes a gateway's configuration and starts intransitd; it
// returns the status socket.
func (d *demoNet) startGateway(_ context.Context, bin, host, name string, f *demoFiles, wan, site, remote, remoteID, remoteWAN, remoteSite, extra string) (string, error) {
	dir := filepath.Join(d.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	chain, key := f.chainA, f.keyA
	if name == "gw-b" {
		chain, key = f.chainB, f.keyB
	}
	sock := filepath.Join(dir, "run", "status.sock")
	cfg := fmt.Sprintf(`state_dir: %s
status_socket: %s
identity: {cert: %s, key: %s, ca: %s, crl: %s}
listen:
  control: %s:8443
  udp: %s:51820
  quic: %s:443
  tls: %s:443
site_prefixes: [%s]
remotes:
  - name: %s
    identity: %s
    control: [%s:8443]
    allowed_prefixes: [%s]
%s`, filepath.Join(dir, "state"), sock, chain, key, f.ca, f.crl, wan, wan, wan, wan, site, remote, remoteID, remoteWAN, remoteSite, extra)
	path := filepath.Join(dir, "intransitd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	d.start(host, filepath.Join(d.dir, name+".log"), bin, "--config", path)
	fmt.Fprintf(d.w, "   %s on %s: %s (log %s)\n", name, wan, path, filepath.Join(d.dir, name+".log"))
	return sock, nil
}

// waitUp waits until the remote is up in the status at sock.
func waitUp(ctx context.Context, sock, remote string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no status yet"
	for time.Now().Before(deadline) {
		if rep, err := status.Get(ctx, sock); err == nil {
			for _, p := range rep.Peers {
				if p.Name == remote {
					if p.State == status.StateUp {
						return nil
					}
					last = fmt.Sprintf("%s %s %s", p.State, p.Reason, p.Detail)
				}
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the tunnel to %s did not come up within %s (%s)", remote, timeout, last)
}

// waitForPort waits until something listens on the TCP port in host.
func waitForPort(ctx context.Context, d *demoNet, host, port string) error {
	for range 100 {
		if out, err := d.run(ctx, host, "ss", "-Hltn", "sport", "= :"+port); err == nil && strings.TrimSpace(out) != "" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on port %s in %s", port, host)
}

// demoCapture is a running tcpdump.
type demoCapture struct {
	cmd  *exec.Cmd
	path string
	log  string
}

// capture starts tcpdump on an interface of a host.
func (d *demoNet) capture(ctx context.Context, host, ifc, file string) (*demoCapture, error) {
	c := &demoCapture{path: filepath.Join(d.dir, file), log: filepath.Join(d.dir, file+".log")}
	c.cmd = d.start(host, c.log, "tcpdump", "-i", ifc, "-U", "-s", "0", "-w", c.path)
	for range 100 {
		if data, _ := os.ReadFile(c.log); bytes.Contains(data, []byte("listening on")) {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("tcpdump on %s did not start", ifc)
}

// stop ends tcpdump and returns the capture file.
func (c *demoCapture) stop() ([]byte, error) {
	time.Sleep(200 * time.Millisecond)
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(os.Interrupt)
	}
	_ = c.cmd.Wait()
	return os.ReadFile(c.path)
}

// logs returns the gateways' logs, for errors.
func (d *demoNet) logs() string {
	var b strings.Builder
	for _, n := range []string{"gw-a", "gw-b"} {
		data, _ := os.ReadFile(filepath.Join(d.dir, n+".log"))
		fmt.Fprintf(&b, "--- %s log:\n%s", n, data)
	}
	return b.String()
}

// teardown stops the processes and deletes the namespaces (which takes
// their links, routes and tunnels with them). It is safe to call twice.
func (d *demoNet) teardown() {
	if d.kept {
		return
	}
	for _, p := range d.procs {
		if p.Process != nil && p.ProcessState == nil {
			_ = p.Process.Signal(os.Interrupt)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range d.procs {
		if p.ProcessState != nil {
			continue
		}
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Until(deadline)):
			_ = p.Process.Kill()
			<-done
		}
	}
	d.procs = nil
	for _, ns := range d.ns {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
	d.ns = nil
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("   " + l + "\n")
	}
	return b.String()
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n") + "\n"
}

func grepLines(s, pattern string) string {
	re := regexp.MustCompile(pattern)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// flowSummary counts the packets of a tcpdump -q listing by protocol and
// port, to show what crossed the WAN.
func flowSummary(listing string) string {
	counts := map[string]int{}
	var order []string
	re := regexp.MustCompile(`IP (\S+) > (\S+): (\w+)`)
	for _, l := range strings.Split(listing, "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		port := func(ep string) int {
			n, _ := strconv.Atoi(ep[strings.LastIndex(ep, ".")+1:])
			return n
		}
		key := fmt.Sprintf("%s/%d", strings.ToLower(m[3]), min(port(m[1]), port(strings.TrimSuffix(m[2], ":"))))
		if counts[key] == 0 {
			order = append(order, key)
		}
		counts[key]++
	}
	var b strings.Builder
	b.WriteString("WAN packets by protocol and service port:\n")
	for _, k := range order {
		fmt.Fprintf(&b, "  %-12s %d\n", k, counts[k])
	}
	return b.String()
}
