package netnstests

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/status"
)

// TestS2SReload sends SIGHUP to gateway A after adding a site, after
// removing it again and after breaking the file: the added site comes up,
// the removed one goes down with its route, a broken file changes nothing,
// and the tunnel to site B is never interrupted (its session stays the
// first one and a continuous ping loses nothing).
func TestS2SReload(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	gwC, wanC := l.addWANHost(t, "gwc")
	chainC, keyC, _ := l.pki.issue("gw-c")
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	b.waitUp("site-a", 20*time.Second)
	cfgC := gwConfig{name: "gw-c", wan: wanC, site: "10.3.0.0/24", chain: chainC, key: keyC, listen: defaultListen(wanC),
		remotes: []gwRemote{{name: "site-a", identity: l.pki.identity("gw-a"), control: s2sWanA + ":8443", allowed: s2sSiteA}}}
	c := startGateway(t, gwC, l.bin, cfgC.write(t, l.pki, t.TempDir()))
	ping := backgroundPing(l.siteA, s2sHostB, 100, "0.2")

	reload := func(what string) {
		t.Helper()
		if err := a.proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Add site C.
	withC := l.cfgA
	withC.remotes = append(append([]gwRemote(nil), l.cfgA.remotes...), gwRemote{name: "site-c", identity: l.pki.identity("gw-c"), control: wanC + ":8443", allowed: "10.3.0.0/24"})
	withC.write(t, l.pki, l.dirA)
	reload("add site-c")
	a.waitUp("site-c", 20*time.Second)
	c.waitUp("site-a", 20*time.Second)
	if out := l.gwA.MustRun("ip", "route", "show", "10.3.0.0/24"); !strings.Contains(out, "it0") {
		t.Errorf("no route to site C through the tunnel: %q", out)
	}

	// Remove it again.
	l.cfgA.write(t, l.pki, l.dirA)
	reload("remove site-c")
	deadline := time.Now().Add(10 * time.Second)
	for {
		gone := true
		for _, p := range a.status().Peers {
			if p.Name == "site-c" {
				gone = false
			}
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("site-c still in gw-a's status after its removal:\n%s", a.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	pc := c.waitPeer("site-a", 10*time.Second, "down", sessionEnded)
	t.Logf("gw-c after removal: %s %s: %s", pc.State, pc.Reason, pc.Detail)
	if !strings.Contains(pc.Reason+pc.Detail, "removed") {
		t.Errorf("gw-c was not told it was removed: %+v", pc)
	}
	if out := l.gwA.MustRun("ip", "route", "show", "10.3.0.0/24"); strings.TrimSpace(out) != "" {
		t.Errorf("route to site C left behind: %q", out)
	}

	// A broken file changes nothing.
	loaded := a.status().Gateway.ConfigLoaded
	if err := os.WriteFile(a.config, []byte("remotes:\n  - name: site-b\n    allowed_prefixes: [10.1.0.0/16]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload("broken config")
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(a.proc.Output(), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no refused reload in the log:\n%s", a.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep := a.status()
	if !rep.Gateway.ConfigLoaded.Equal(loaded) {
		t.Errorf("a broken config was applied (loaded %v -> %v)", loaded, rep.Gateway.ConfigLoaded)
	}
	<-ping.Done()
	sent, recv := pingCounts(ping.Output())
	if sent != 100 || recv != sent {
		t.Errorf("ping to site B during the reloads: %d sent, %d received:\n%s", sent, recv, ping.Output())
	}
	if p := a.peer("site-b"); p.State != status.StateUp || p.Sessions != 1 {
		t.Errorf("site-b after the reloads: %s with %d sessions, want up on its first session", p.State, p.Sessions)
	}

	// Changing site-b (its transport order) restarts its tunnel alone,
	// and it comes back on the new transport.
	changed := l.cfgA
	changed.remotes = []gwRemote{l.cfgA.remotes[0]}
	changed.remotes[0].transports = "tls, udp"
	changed.write(t, l.pki, l.dirA)
	reload("change site-b")
	p := a.waitPeer("site-b", 20*time.Second, "up on tls", func(p status.Peer) bool {
		return p.State == status.StateUp && p.Transport == "tls"
	})
	if _, ok := pingUntil(t, l.siteA, s2sHostB, 10*time.Second); !ok {
		t.Errorf("no traffic after site-b was reconfigured: %+v\n%s", p, a.proc.Output())
	}
	if out := l.gwA.MustRun("ip", "route", "show", s2sSiteB); !strings.Contains(out, "it0") {
		t.Errorf("route to site B missing after the change: %q", out)
	}
	for _, g := range []*gateway{a, b, c} {
		g.stop()
	}
}
