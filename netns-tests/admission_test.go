package netnstests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
)

// Bounds of the admission tests: the attacker's connections, how long it
// holds them, and what the attacked daemon may use meanwhile.
const (
	floodConns       = 2000
	floodFor         = 40 * time.Second
	maxGoroutines    = 600
	maxOpenFiles     = 600
	maxLinesAMinute  = 100
	floodSettle      = 5 * time.Second
	backWithin       = 15 * time.Second
	metricsAddr      = "127.0.0.1:9586"
	goroutinesMetric = "go_goroutines"
)

// flood is a running attacker.
type flood struct {
	proc  *netlab.Process
	start time.Time
}

// startFlood holds floodConns idle connections from h to addr for
// floodFor, reopening each as it is closed.
func startFlood(t *testing.T, h *netlab.Host, addr string) *flood {
	t.Helper()
	bin := netlab.GoBuild(t, "intransit/netns-tests/flood", false)
	return &flood{proc: h.Start(bin, "--to", addr, "--conns", strconv.Itoa(floodConns), "--for", floodFor.String()), start: time.Now()}
}

// result waits for the attacker to end and returns its summary line.
func (f *flood) result(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), floodFor+30*time.Second)
	defer cancel()
	if err := f.proc.Wait(ctx); err != nil {
		t.Fatalf("flood: %v\n%s", err, f.proc.Output())
	}
	return strings.TrimSpace(f.proc.Output())
}

// figures are what an attacked daemon uses, and its limit on open files
// (the Go runtime raises the soft limit to the hard one at start).
type figures struct {
	goroutines, files int
	fileLimit         string
}

func (f figures) String() string {
	return fmt.Sprintf("%d goroutines, %d open files (limit %s)", f.goroutines, f.files, f.fileLimit)
}

// daemonFigures reads the daemon's goroutines from its metrics endpoint and
// its open files from /proc.
func daemonFigures(t *testing.T, h *netlab.Host, proc *netlab.Process) figures {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Run(ctx, "curl", "-sf", "http://"+metricsAddr+"/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	var f figures
	m := regexp.MustCompile(`(?m)^` + goroutinesMetric + ` (\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no %s in the metrics:\n%s", goroutinesMetric, out)
	}
	f.goroutines, _ = strconv.Atoi(m[1])
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(proc.Pid()), "fd"))
	if err != nil {
		t.Fatal(err)
	}
	f.files = len(fds)
	limits, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(proc.Pid()), "limits"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f.fileLimit = strings.Join(strings.Fields(line)[3:4], "")
		}
	}
	return f
}

// checkFigures fails the test when the daemon used more than the bounds.
func checkFigures(t *testing.T, what string, f figures) {
	t.Helper()
	t.Logf("%s: %s", what, f)
	if f.goroutines > maxGoroutines || f.files > maxOpenFiles {
		t.Errorf("%s: %s, want at most %d goroutines and %d open files", what, f, maxGoroutines, maxOpenFiles)
	}
}

// refusalLines counts a daemon's log lines about refusals by message and
// reason.
func refusalLines(log string) map[string]int {
	by := map[string]int{}
	msg, reason := regexp.MustCompile(`msg="([^"]*)"`), regexp.MustCompile(` reason=(\S+)`)
	for _, line := range strings.Split(log, "\n") {
		m, r := msg.FindStringSubmatch(line), reason.FindStringSubmatch(line)
		if m == nil || r == nil || !strings.Contains(m[1], "refused") {
			continue
		}
		by[m[1]+" reason="+r[1]]++
	}
	return by
}

// checkLogRate fails the test when a refusal reason was logged more than
// maxLinesAMinute times a minute over a log that covers d.
func checkLogRate(t *testing.T, log string, d time.Duration) {
	t.Helper()
	by := refusalLines(log)
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		perMinute := float64(by[k]) / d.Minutes()
		t.Logf("log: %d lines of %s in %s (%.0f a minute)", by[k], k, d.Round(time.Second), perMinute)
		if perMinute >= maxLinesAMinute {
			t.Errorf("%s logged %.0f times a minute, want fewer than %d", k, perMinute, maxLinesAMinute)
		}
	}
}

// TestS2SControlFlood: an attacker holds 2,000 idle connections to gateway
// B's control port (reopened as B closes them) while B is killed and
// started again: the tunnel is back within 15 s, B's goroutines and open
// files stay bounded, and each refusal reason is logged fewer than 100
// times a minute.
func TestS2SControlFlood(t *testing.T) {
	t.Parallel()
	netlab.RequireTools(t, "curl")
	l := newS2SLab(t)
	l.cfgB.metrics = metricsAddr
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 3)
	attacker, _ := l.addWANHost(t, "attacker")
	fl := startFlood(t, attacker, s2sWanB+":8443")
	time.Sleep(floodSettle)
	checkFigures(t, "gw-b under the flood", daemonFigures(t, l.gwB, b.proc))

	if err := b.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.proc.Done()
	restarted := time.Now()
	b.start()
	if _, ok := pingUntil(t, l.siteA, s2sHostB, backWithin-time.Since(restarted)); !ok {
		t.Fatalf("no traffic within %s of the restart under the flood\ngw-a:\n%s\ngw-b:\n%s", backWithin, a.proc.Output(), b.proc.Output())
	}
	t.Logf("traffic resumed %s after gateway B was restarted under a flood of %d connections", (time.Since(restarted)).Round(100*time.Millisecond), floodConns)
	time.Sleep(floodSettle)
	checkFigures(t, "restarted gw-b under the flood", daemonFigures(t, l.gwB, b.proc))
	t.Logf("flood: %s", fl.result(t))
	rep := b.status()
	t.Logf("gw-b refusals kept: %d; last: %+v", len(rep.Refusals), rep.Refusals[len(rep.Refusals)-1])
	checkLogRate(t, b.proc.Output(), time.Since(restarted))
	mustPing(t, l.siteA, s2sHostB, 3)
	a.stop()
	b.stop()
}

// TestP2SControlFlood: an attacker holds 2,000 idle connections to the
// point-to-site control port, and 2,000 more to the enrollment port, while
// a laptop's client is killed and started again: the laptop is back within
// 15 s, another laptop enrolls, the gateway's goroutines and open files
// stay bounded, and each refusal reason is logged fewer than 100 times a
// minute.
func TestP2SControlFlood(t *testing.T) {
	t.Parallel()
	netlab.RequireTools(t, "curl")
	l := newP2SLab(t)
	l.start()
	lp := l.addLaptop("alice")
	if out, err := lp.enroll(l.invite("alice", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	lp.connect()
	lp.wait(30*time.Second, "connected", connected)
	if !lp.ping(p2sSiteHost) {
		t.Fatalf("alice cannot reach the site\n%s", lp.proc.Output())
	}
	attacker := l.addLaptop("attacker")
	fl := startFlood(t, attacker.host, p2sWan+":8444")
	enrollFlood := startFlood(t, attacker.host, p2sWan+":8445")
	time.Sleep(floodSettle)
	checkFigures(t, "gateway under the flood", daemonFigures(t, l.gwHost, l.gw.proc))

	if err := lp.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-lp.proc.Done()
	restarted := time.Now()
	lp.connect()
	lp.wait(backWithin, "connected again", func(st *client.Status) bool { return connected(st) && st.Sessions > 0 })
	if _, ok := pingUntil(t, lp.host, p2sSiteHost, backWithin-time.Since(restarted)); !ok {
		t.Fatalf("alice has no traffic within %s of reconnecting under the flood\n%s\ngateway:\n%s", backWithin, lp.proc.Output(), l.gw.proc.Output())
	}
	t.Logf("alice's traffic resumed %s after her client restarted under a flood of %d connections", time.Since(restarted).Round(100*time.Millisecond), floodConns)
	checkFigures(t, "gateway under the flood, alice back", daemonFigures(t, l.gwHost, l.gw.proc))
	bob := l.addLaptop("bob")
	token := l.invite("bob", "1h")
	enrolling := time.Now()
	if out, err := bob.enroll(token); err != nil {
		t.Fatalf("bob cannot enroll under the flood: %v\n%s", err, out)
	}
	t.Logf("bob enrolled in %s under a flood of %d connections to the enrollment port", time.Since(enrolling).Round(100*time.Millisecond), floodConns)
	checkFigures(t, "gateway under both floods, bob enrolled", daemonFigures(t, l.gwHost, l.gw.proc))
	t.Logf("flood of the control port: %s", fl.result(t))
	t.Logf("flood of the enrollment port: %s", enrollFlood.result(t))
	checkLogRate(t, l.gw.proc.Output(), time.Since(fl.start))
	lp.proc.Stop(10 * time.Second)
	l.gw.stop()
}

// TestP2SKeyHijack: mallory, an enrolled laptop, connects with alice's
// WireGuard key while alice is connected: the gateway refuses mallory with
// key_in_use (log, status and metrics) and alice does not lose a ping.
func TestP2SKeyHijack(t *testing.T) {
	t.Parallel()
	netlab.RequireTools(t, "curl")
	l := newP2SLab(t)
	l.start()
	alice, mallory := l.addLaptop("alice"), l.addLaptop("mallory")
	for _, lp := range []*laptop{alice, mallory} {
		if out, err := lp.enroll(l.invite(lp.name, "1h")); err != nil {
			t.Fatalf("%s: enroll: %v\n%s", lp.name, err, out)
		}
	}
	key, err := os.ReadFile(filepath.Join(alice.dir, client.DefaultProfile, client.WireGuardFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mallory.dir, client.DefaultProfile, client.WireGuardFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	alice.connect()
	alice.wait(30*time.Second, "connected", connected)
	if !alice.ping(p2sSiteHost) {
		t.Fatalf("alice cannot reach the site\n%s", alice.proc.Output())
	}
	pings := 50
	ping := backgroundPing(alice.host, p2sSiteHost, pings, "0.2")
	mallory.connect()
	deadline := time.Now().Add(15 * time.Second)
	for !hasRefusal(l, "mallory", "key_in_use") {
		if time.Now().After(deadline) {
			t.Fatalf("no key_in_use refusal of mallory within 15s\nmallory:\n%s\ngateway:\n%s", mallory.proc.Output(), l.gw.proc.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	noLoss(t, ping, pings, "alice during the hijack attempt")
	if c, ok := l.gwClient("alice"); !ok || c.PublicKey == "" {
		t.Errorf("alice is no longer connected at the gateway")
	}
	if _, ok := l.gwClient("mallory"); ok {
		t.Errorf("mallory is connected with alice's key")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.gwHost.Run(ctx, "curl", "-sf", "http://"+metricsAddr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `intransit_p2s_refusals_total{reason="key_in_use"}`) {
		t.Errorf("no key_in_use refusal in the metrics")
	}
	if !strings.Contains(l.gw.proc.Output(), "reason=key_in_use") {
		t.Errorf("no key_in_use refusal in the gateway's log")
	}
	mallory.proc.Stop(10 * time.Second)
	alice.proc.Stop(10 * time.Second)
	l.gw.stop()
}

// hasRefusal reports whether the gateway's status lists a refusal of the
// named client's identity for reason.
func hasRefusal(l *p2sLab, name, reason string) bool {
	for _, r := range l.p2sStatus().Refusals {
		if r.Reason == reason && strings.HasSuffix(r.Identity, "/client/"+name) {
			return true
		}
	}
	return false
}

// TestS2SKeyHijack: a third gateway, configured on A as remote site-c,
// presents gateway B's WireGuard key: A refuses it with key_in_use (status,
// log and the remote's state on C) and the tunnel to B loses no ping.
func TestS2SKeyHijack(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	gwC, wanC := l.addWANHost(t, "gwc")
	chainC, keyC, _ := l.pki.issue("gw-c")
	l.cfgA.remotes = append(l.cfgA.remotes, gwRemote{name: "site-c", identity: l.pki.identity("gw-c"), allowed: "10.3.0.0/24"})
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 3)

	dirC := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dirC, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(l.dirB, "state", "wireguard.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirC, "state", "wireguard.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	pings := 50
	ping := backgroundPing(l.siteA, s2sHostB, pings, "0.2")
	cfgC := gwConfig{name: "gw-c", wan: wanC, site: "10.3.0.0/24", chain: chainC, key: keyC, listen: defaultListen(wanC),
		remotes: []gwRemote{{name: "site-a", identity: l.pki.identity("gw-a"), control: s2sWanA + ":8443", allowed: s2sSiteA}}}
	c := startGateway(t, gwC, l.bin, cfgC.write(t, l.pki, dirC))
	pc := c.waitPeer("site-a", 20*time.Second, "refused", func(p status.Peer) bool { return p.State == status.StateRefused })
	if pc.Reason != "key_in_use" {
		t.Errorf("gw-c sees reason %q (%s), want key_in_use", pc.Reason, pc.Detail)
	}
	if strings.Contains(pc.Detail, "site-b") {
		t.Errorf("gw-c is told who holds the key: %s", pc.Detail)
	}
	t.Logf("gw-c sees: %s: %s", pc.Reason, pc.Detail)
	noLoss(t, ping, pings, "site A to site B during the hijack attempt")
	refused := false
	for _, r := range a.status().Refusals {
		refused = refused || (r.Reason == "key_in_use" && r.Identity == l.pki.identity("gw-c"))
	}
	if !refused {
		t.Errorf("gw-a's status has no key_in_use refusal of gw-c: %+v", a.status().Refusals)
	}
	if !strings.Contains(a.proc.Output(), "reason=key_in_use") {
		t.Errorf("gw-a's log has no key_in_use refusal")
	}
	if p := a.peer("site-b"); p.State != status.StateUp {
		t.Errorf("site-b is %s after the hijack attempt (%s: %s)", p.State, p.Reason, p.Detail)
	}
	c.stop()
	a.stop()
	b.stop()
}

// noLoss waits for a background ping of count pings and fails the test
// unless every one was answered.
func noLoss(t *testing.T, ping *netlab.Process, count int, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = ping.Wait(ctx)
	sent, recv := pingCounts(ping.Output())
	t.Logf("%s: %d pings sent, %d answered", what, sent, recv)
	if sent != count || recv != count {
		t.Errorf("%s: pings lost: %d sent, %d answered\n%s", what, sent, recv, ping.Output())
	}
}
