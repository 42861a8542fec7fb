package netnstests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
)

// TestP2S: three laptops enroll with one gateway and connect; each gets a
// distinct address, reaches the site host behind the gateway, gets the
// group's DNS in its resolv.conf, and cannot reach the other laptops. Then
// the transports: a laptop whose WireGuard UDP port is blocked moves to
// QUIC, one with UDP 443 blocked as well to TLS, each within 10 s and
// visible in both status outputs. Then one laptop's certificate is revoked:
// it is cut within 5 s and cannot come back while the others keep working.
// Then the gateway restarts: every laptop is back with the same address
// within 15 s. Then UDP is unblocked and both laptops return to it by
// themselves. Finally disconnect restores resolv.conf byte for byte, also
// after a client was killed with SIGKILL.
func TestP2S(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	l.start()
	names := []string{"alice", "bob", "carol"}
	var lps []*laptop
	for _, n := range names {
		lp := l.addLaptop(n)
		out, err := lp.enroll(l.invite(n, "1h"))
		if err != nil {
			t.Fatalf("%s: enroll: %v\n%s", n, err, l.gw.proc.Output())
		}
		t.Logf("%s: %s", n, strings.TrimSpace(out))
		lp.connect()
		lps = append(lps, lp)
	}
	origResolv := map[string][]byte{}
	addrs := map[string]string{}
	for _, lp := range lps {
		// On a loaded machine the first handshake may miss the 4 s given
		// to udp; the client then comes back to it at its first probe.
		st := lp.wait(45*time.Second, "connected on udp", func(st *client.Status) bool { return connected(st) && st.Transport == "udp" })
		if len(st.Addresses) != 2 {
			t.Fatalf("%s: addresses %v, want one IPv4 and one IPv6", lp.name, st.Addresses)
		}
		for n, a := range addrs {
			if a == st.Addresses[0] {
				t.Errorf("%s and %s share address %s", lp.name, n, a)
			}
		}
		addrs[lp.name] = st.Addresses[0]
		if !strings.HasPrefix(st.Addresses[0], "10.9.0.") || !strings.HasPrefix(st.Addresses[1], "fd00:9::") {
			t.Errorf("%s: addresses %v outside the pools", lp.name, st.Addresses)
		}
		if !lp.ping(p2sSiteHost) {
			t.Errorf("%s cannot reach the site host %s\n%s", lp.name, p2sSiteHost, lp.proc.Output())
		}
	}
	for _, lp := range lps {
		now, err := os.ReadFile(lp.resolv)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(now), "nameserver "+p2sDNS) || !strings.Contains(string(now), "search corp.test") {
			t.Errorf("%s: resolv.conf while connected:\n%s", lp.name, now)
		}
		backup, err := os.ReadFile(lp.resolv + ".intransit-backup")
		if err != nil {
			t.Fatalf("%s: original resolv.conf not kept: %v", lp.name, err)
		}
		origResolv[lp.name] = backup
	}
	// Isolation: no laptop reaches another's tunnel address.
	if lps[0].reaches(addrs["bob"]) {
		t.Errorf("alice reaches bob's tunnel address %s: clients are not isolated", addrs["bob"])
	}
	if lps[2].reaches(addrs["alice"]) {
		t.Errorf("carol reaches alice's tunnel address %s: clients are not isolated", addrs["alice"])
	}
	// The gateway lists all three on udp.
	for _, n := range names {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, ok := l.gwClient(n)
			if ok && c.Transport == "udp" && c.Addresses[0] == addrs[n] && c.Group == "staff" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway's view of %s (listed %v): %+v", n, ok, c)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The metrics count them without a series per client.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	metrics, err := l.gwHost.Run(ctx, "curl", "-sS", "http://127.0.0.1:9586/metrics")
	cancel()
	if err != nil || !strings.Contains(string(metrics), `intransit_p2s_clients{transport="udp"} 3`) ||
		!strings.Contains(string(metrics), "intransit_p2s_connects_total 3") || strings.Contains(string(metrics), "alice") {
		t.Errorf("metrics (%v):\n%s", err, grepLines(string(metrics), "intransit_p2s_"))
	}

	// Transport fallback while connected.
	bob, carol := lps[1], lps[2]
	rules := []*netlab.Rule{bob.host.Block("udp", 51821), carol.host.Block("udp", 51821), carol.host.Block("udp", 443)}
	start := time.Now()
	for _, want := range []struct {
		lp        *laptop
		transport string
	}{{bob, "quic"}, {carol, "tls"}} {
		want.lp.wait(15*time.Second, "on "+want.transport, func(st *client.Status) bool { return connected(st) && st.Transport == want.transport })
		t.Logf("%s on %s after %s", want.lp.name, want.transport, time.Since(start).Round(100*time.Millisecond))
		if !want.lp.ping(p2sSiteHost) {
			t.Errorf("%s on %s cannot reach the site host", want.lp.name, want.transport)
		}
		// Both status commands show it.
		out := want.lp.host.MustRun(l.cli, "p2s", "status", "--dir", want.lp.dir, "--output", "json")
		if !strings.Contains(out, `"transport": "`+want.transport+`"`) {
			t.Errorf("intransit p2s status on %s:\n%s", want.lp.name, out)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, _ := l.gwClient(want.lp.name)
			if c.Transport == want.transport {
				table := l.gwHost.MustRun(l.cli, "p2s", "clients", "--socket", filepath.Join(l.dir, "run", "status.sock"))
				if !strings.Contains(grepLines(table, want.lp.name), want.transport) {
					t.Errorf("intransit p2s clients:\n%s", table)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("gateway shows %s on %q, want %s", want.lp.name, c.Transport, want.transport)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Revocation: alice is cut within 5 s, the others keep working.
	alice := lps[0]
	l.revoke("alice")
	revoked := time.Now()
	for {
		if _, ok := l.gwClient("alice"); !ok {
			break
		}
		if time.Since(revoked) > 5*time.Second {
			t.Fatalf("alice still connected 5 s after revocation\n%s", l.gw.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("alice cut %s after revocation", time.Since(revoked).Round(100*time.Millisecond))
	if alice.reaches(p2sSiteHost) {
		t.Errorf("alice still reaches the site after revocation")
	}
	for _, lp := range []*laptop{bob, carol} {
		if !lp.ping(p2sSiteHost) {
			t.Errorf("%s lost the site after alice's revocation", lp.name)
		}
	}
	// Told why, alice stops for good (TestP2SRevokeInOneStep looks closer).
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	if err := alice.proc.Wait(ctx); err == nil || !strings.Contains(alice.proc.Output(), "revoked") {
		t.Errorf("alice's client after revocation: %v, want it stopped saying revoked", err)
	}
	cancel()
	if _, ok := l.gwClient("alice"); ok {
		t.Errorf("alice reconnected after revocation")
	}
	// Forgetting her frees her address.
	leases := l.p2sStatus().Leases
	l.gwHost.MustRun(l.cli, "p2s", "forget", "alice", "--socket", filepath.Join(l.dir, "run", "p2s.sock"))
	if got := l.p2sStatus().Leases; got != leases-1 {
		t.Errorf("leases after forgetting alice: %d, want %d", got, leases-1)
	}

	// Gateway restart: everyone back with the same address within 15 s.
	l.gw.stop()
	l.gw.start()
	restarted := time.Now()
	for _, lp := range []*laptop{bob, carol} {
		st := lp.wait(15*time.Second-time.Since(restarted), "back after the gateway restart", func(st *client.Status) bool {
			return connected(st) && st.Sessions >= 2
		})
		if st.Addresses[0] != addrs[lp.name] {
			t.Errorf("%s came back with %s, had %s", lp.name, st.Addresses[0], addrs[lp.name])
		}
	}
	t.Logf("laptops back %s after the gateway restart", time.Since(restarted).Round(100*time.Millisecond))
	for _, lp := range []*laptop{bob, carol} {
		if !lp.ping(p2sSiteHost) {
			t.Errorf("%s cannot reach the site after the gateway restart", lp.name)
		}
	}

	// UDP works again: both return to it by themselves.
	for _, r := range rules {
		r.Remove()
	}
	unblocked := time.Now()
	for _, lp := range []*laptop{bob, carol} {
		lp.wait(35*time.Second-time.Since(unblocked), "back on udp", func(st *client.Status) bool { return connected(st) && st.Transport == "udp" })
	}
	t.Logf("laptops back on udp %s after it was unblocked", time.Since(unblocked).Round(100*time.Millisecond))
	for _, lp := range []*laptop{bob, carol} {
		if !lp.ping(p2sSiteHost) {
			t.Errorf("%s cannot reach the site after returning to udp", lp.name)
		}
	}

	// Disconnect restores resolv.conf exactly; so does `intransit p2s
	// disconnect` after a client was killed (a crash).
	if err := carol.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-carol.proc.Done()
	if now, _ := os.ReadFile(carol.resolv); !strings.Contains(string(now), p2sDNS) {
		t.Errorf("carol's resolv.conf right after the crash:\n%s", now)
	}
	out := carol.host.MustRun(l.cli, "p2s", "disconnect", "--dir", carol.dir)
	t.Logf("carol after the crash: %s", strings.TrimSpace(out))
	for _, lp := range lps {
		if lp != carol && lp != alice {
			if err := lp.proc.Stop(15 * time.Second); err != nil {
				t.Errorf("%s: client: %v\n%s", lp.name, err, lp.proc.Output())
			}
		}
		now, err := os.ReadFile(lp.resolv)
		if err != nil {
			t.Fatal(err)
		}
		if string(now) != string(origResolv[lp.name]) {
			t.Errorf("%s: resolv.conf after disconnect:\n%s\nwant:\n%s", lp.name, now, origResolv[lp.name])
		}
		if _, err := os.Stat(lp.resolv + ".intransit-backup"); err == nil {
			t.Errorf("%s: backup left behind", lp.name)
		}
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
