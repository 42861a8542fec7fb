package netnstests

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestP2SLaptopOnlyGateway: a gateway for laptops alone (a p2s section,
// no remotes, no site-to-site listen) passes --check, starts without the
// site-to-site side (no it0 interface, nothing on TCP 8443 or UDP 51820),
// and a laptop enrolls, connects and reaches the site behind it; a reload
// is applied.
func TestP2SLaptopOnlyGateway(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	l.laptopOnly = true
	l.config = l.writeConfig()
	if out, err := l.gwHost.Run(t.Context(), l.daemon, "--config", l.config, "--check"); err != nil {
		t.Fatalf("--check: %v\n%s", err, out)
	}
	l.start()
	if out, err := l.gwHost.Run(t.Context(), "ip", "link", "show", "it0"); err == nil {
		t.Errorf("the site-to-site interface it0 exists on a gateway for laptops only:\n%s", out)
	}
	socks := l.gwHost.MustRun("ss", "-Hltnu")
	for _, port := range []string{":8443 ", ":51820 "} {
		if strings.Contains(socks, port) {
			t.Errorf("a site-to-site port%sis open on a gateway for laptops only:\n%s", port, socks)
		}
	}
	if !strings.Contains(socks, ":8444 ") {
		t.Errorf("the p2s control port 8444 is not open:\n%s", socks)
	}
	rep := l.gw.status()
	if rep.Gateway.Identity == "" || len(rep.Peers) != 0 || rep.P2S == nil {
		t.Errorf("status: identity %q, %d peers, p2s %v", rep.Gateway.Identity, len(rep.Peers), rep.P2S)
	}

	lp := l.addLaptop("alice")
	if out, err := lp.enroll(l.invite("alice", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s\n%s", err, out, l.gw.proc.Output())
	}
	start := time.Now()
	lp.connect()
	lp.wait(45*time.Second, "connected", connected)
	t.Logf("laptop connected %.1fs after connect", time.Since(start).Seconds())
	if !lp.ping(p2sSiteHost) {
		t.Fatalf("the laptop cannot reach the site host %s\n%s", p2sSiteHost, lp.proc.Output())
	}
	st := lp.status()
	if st == nil || !strings.HasPrefix(strings.Join(st.Routes, " "), "10.1.0.0/24") {
		t.Errorf("the laptop's routes are not site_prefixes: %+v", st)
	}

	// A reload (the log level changed) is applied without the
	// site-to-site gateway, and the laptop keeps the site.
	l.top = "log_level: debug\n"
	l.writeConfig()
	if err := l.gw.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.gw.status().Gateway.LastReload.At.IsZero() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if r := l.gw.status().Gateway.LastReload; r.At.IsZero() || r.Refused != "" {
		t.Errorf("reload not applied: %+v\n%s", r, l.gw.proc.Output())
	}
	if !lp.ping(p2sSiteHost) {
		t.Errorf("the laptop lost the site after a reload\n%s", l.gw.proc.Output())
	}
}
