package netnstests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/pki"
)

// TestS2SRefusals: a third gateway whose certificate names another identity,
// a fourth whose certificate is revoked and a fifth whose certificate comes
// from another CA are refused by gateway A, with the
// reason in A's status and log; then B's certificate is revoked while its
// tunnel runs, and A cuts it within seconds.
func TestS2SRefusals(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	gwC, wanC := l.addWANHost(t, "gwc")
	gwD, wanD := l.addWANHost(t, "gwd")
	gwE, wanE := l.addWANHost(t, "gwe")
	// E's certificate, for gw-b, comes from another CA; E trusts both.
	other := newNamedS2SPKI(t, "elsewhere")
	chainE, keyE, _ := other.issue("gw-b")
	bothCAs := filepath.Join(t.TempDir(), "both.pem")
	if err := os.WriteFile(bothCAs, append(l.pki.ca.Bundle(), other.ca.Bundle()...), 0o644); err != nil {
		t.Fatal(err)
	}
	other.caFile = bothCAs
	chainC, keyC, _ := l.pki.issue("gw-c")
	chainD, keyD, issuedD := l.pki.issue("gw-d")
	l.pki.revoke(issuedD)
	// A expects site-b to be gw-b and site-d to be gw-d.
	l.cfgA.remotes = append(l.cfgA.remotes, gwRemote{name: "site-d", identity: l.pki.identity("gw-d"), allowed: "10.4.0.0/24"})
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)

	// C claims to be site-b: its certificate is gw-c's.
	cfgC := gwConfig{name: "gw-c", wan: wanC, site: "10.3.0.0/24", chain: chainC, key: keyC, listen: defaultListen(wanC),
		remotes: []gwRemote{{name: "site-a", identity: l.pki.identity("gw-a"), control: s2sWanA + ":8443", allowed: s2sSiteA}}}
	c := startGateway(t, gwC, l.bin, cfgC.write(t, l.pki, t.TempDir()))
	cfgD := gwConfig{name: "gw-d", wan: wanD, site: "10.4.0.0/24", chain: chainD, key: keyD, listen: defaultListen(wanD),
		remotes: []gwRemote{{name: "site-a", identity: l.pki.identity("gw-a"), control: s2sWanA + ":8443", allowed: s2sSiteA}}}
	d := startGateway(t, gwD, l.bin, cfgD.write(t, l.pki, t.TempDir()))

	cfgE := gwConfig{name: "gw-e", wan: wanE, site: "10.5.0.0/24", chain: chainE, key: keyE, listen: defaultListen(wanE),
		remotes: []gwRemote{{name: "site-a", identity: l.pki.identity("gw-a"), control: s2sWanA + ":8443", allowed: s2sSiteA}}}
	e := startGateway(t, gwE, l.bin, cfgE.write(t, other, t.TempDir()))

	pc := c.waitPeer("site-a", 20*time.Second, "refused", func(p status.Peer) bool { return p.State == status.StateRefused })
	if pc.Reason != "identity" || !strings.Contains(pc.Detail, "gw-c") {
		t.Errorf("gw-c sees reason %q detail %q, want identity naming gw-c", pc.Reason, pc.Detail)
	}
	pd := d.waitPeer("site-a", 20*time.Second, "refused", func(p status.Peer) bool { return p.State == status.StateRefused })
	t.Logf("gw-d sees: %s: %s", pd.Reason, pd.Detail)

	var sawIdentity, sawRevoked, sawChain bool
	deadline := time.Now().Add(20 * time.Second)
	for !(sawIdentity && sawRevoked && sawChain) && time.Now().Before(deadline) {
		for _, r := range a.status().Refusals {
			switch {
			case r.Reason == "identity" && r.Identity == l.pki.identity("gw-c"):
				sawIdentity = true
			case r.Reason == "revoked" && strings.Contains(r.Remote, wanD):
				sawRevoked = true
			case r.Reason == "chain" && strings.Contains(r.Remote, wanE):
				sawChain = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !sawIdentity || !sawRevoked || !sawChain {
		t.Errorf("gw-a refusals (identity seen %v, revoked seen %v, foreign CA seen %v): %+v", sawIdentity, sawRevoked, sawChain, a.status().Refusals)
	}
	logA := a.proc.Output()
	for _, want := range []string{"reason=identity", "reason=revoked", "reason=chain"} {
		if !strings.Contains(logA, want) {
			t.Errorf("gw-a log lacks %q", want)
		}
	}
	if p := a.peer("site-b"); p.State != status.StateUp || p.Sessions != 1 {
		t.Errorf("the refusals disturbed site-b: %+v", p)
	}
	if p := a.peer("site-d"); p.State == status.StateUp {
		t.Errorf("site-d with a revoked certificate is up")
	}
	mustPing(t, l.siteA, s2sHostB, 2)

	// Revoke B while its tunnel runs: A cuts it within seconds.
	revoked := time.Now()
	l.pki.revoke(l.issuedB)
	pb := a.waitPeer("site-b", 10*time.Second, "cut", sessionEnded)
	t.Logf("gw-a cut site-b %s after the revocation: %s: %s", time.Since(revoked).Round(100*time.Millisecond), pb.Reason, pb.Detail)
	if pb.Reason != "revoked" || pb.State != status.StateRefused {
		t.Errorf("site-b after revocation: state %s reason %q", pb.State, pb.Reason)
	}
	if len(pb.Routes) != 0 {
		t.Errorf("routes left for site-b: %v", pb.Routes)
	}
	if out := l.gwA.MustRun("ip", "route", "show", s2sSiteB); strings.Contains(out, "it0") {
		t.Errorf("route to %s still through the tunnel: %s", s2sSiteB, out)
	}
	if _, ok := pingUntil(t, l.siteA, s2sHostB, 2*time.Second); ok {
		t.Errorf("site B still reachable after its gateway's certificate was revoked")
	}
	for _, g := range []*gateway{a, b, c, d, e} {
		g.stop()
	}
}

// TestS2SExpiredCertificate gives gateway B a certificate that expires
// 30 s after it is issued (room for both gateways to start and the tunnel
// to come up while other tests load the machine): gateway A cuts the
// session within seconds of the expiry (status: refused, expired), removes
// the route, and refuses B from then on, still saying why (the TLS check
// refuses the expired certificate as expired, not as a broken chain).
func TestS2SExpiredCertificate(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	var is *pki.Issued
	l.cfgB.chain, l.cfgB.key, is = l.pki.issueTTL("gw-b", 30*time.Second)
	a, b := l.start(t)
	a.waitUp("site-b", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 2)
	if until := time.Until(is.Certificate.NotAfter); until < 2*time.Second {
		t.Fatalf("the certificate expires too soon for the test (%s left)", until)
	}
	p := a.waitPeer("site-b", time.Until(is.Certificate.NotAfter)+10*time.Second, "cut", sessionEnded)
	late := time.Since(is.Certificate.NotAfter)
	t.Logf("gw-a cut site-b %s after its certificate expired: %s: %s", late.Round(100*time.Millisecond), p.Reason, p.Detail)
	if p.State != status.StateRefused || p.Reason != "expired" {
		t.Errorf("site-b after expiry: %s %q, want refused, expired", p.State, p.Reason)
	}
	if late > 5*time.Second {
		t.Errorf("cut %s after the expiry, want within seconds", late)
	}
	if out := l.gwA.MustRun("ip", "route", "show", s2sSiteB); strings.Contains(out, "it0") {
		t.Errorf("route to site B left in the tunnel: %q", out)
	}
	p = a.waitPeer("site-b", 15*time.Second, "refused on redial", func(p status.Peer) bool {
		return p.State == status.StateRefused && p.Reason == "expired" && strings.Contains(p.Detail, "expired")
	})
	t.Logf("redial: %s: %s", p.Reason, p.Detail)
	a.stop()
	b.stop()
}
