package netnstests

import (
	"strings"
	"testing"
	"time"

	"intransit/p2s/client"
)

// TestP2SRenewal: with 45-second client certificates, a connected laptop
// renews its certificate over mTLS at two thirds of its lifetime, moves to
// a new session with it, and is still connected after the first
// certificate has expired. Alongside, a laptop of a full-tunnel group gets
// the default route in two halves through the tunnel and a host route that
// keeps the gateway on the original path, and loses both on disconnect;
// it reaches another member of its group, which allows client-to-client
// traffic, but not a laptop of another group. With lease_idle at 3 s, the
// lease of a laptop that disconnected is reclaimed within seconds, while
// the connected laptops keep theirs through every sweep, and the laptop
// gets a new lease when it comes back.
func TestP2SRenewal(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	l.setClientTTL("45s")
	l.setLeaseIdle("3s")
	l.start()
	ivy := l.addLaptop("ivy")
	if out, err := ivy.enroll(l.invite("ivy", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	ivy.connect()
	jack := l.addLaptop("jack")
	if out, err := jack.enroll(l.inviteGroup("jack", "admins", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	jack.connect()
	first := ivy.wait(20*time.Second, "connected", connected)

	st := jack.wait(20*time.Second, "connected", connected)
	if strings.Join(st.Routes, " ") != "0.0.0.0/0 ::/0" {
		t.Errorf("full tunnel routes %v", st.Routes)
	}
	routes := jack.host.MustRun("ip", "-4", "route", "show")
	for _, want := range []string{"0.0.0.0/1 dev itc0", "128.0.0.0/1 dev itc0", p2sWan + " via 198.51.102.254"} {
		if !strings.Contains(routes, want) {
			t.Errorf("full tunnel: no %q in\n%s", want, routes)
		}
	}
	if !jack.ping(p2sSiteHost) {
		t.Errorf("jack (full tunnel) cannot reach the site")
	}
	// The admins group allows client-to-client traffic among its members,
	// and only among them.
	kim := l.addLaptop("kim")
	if out, err := kim.enroll(l.inviteGroup("kim", "admins", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	kim.connect()
	kimSt := kim.wait(20*time.Second, "connected", connected)
	if !jack.ping(kimSt.Addresses[0]) || !kim.ping(st.Addresses[0]) {
		t.Errorf("jack and kim (admins, client_to_client) cannot reach each other")
	}
	if jack.reaches(first.Addresses[0]) {
		t.Errorf("jack (admins) reaches ivy (staff) at %s", first.Addresses[0])
	}
	if err := kim.proc.Stop(15 * time.Second); err != nil {
		t.Errorf("kim: %v", err)
	}
	l.waitLeases(10*time.Second, 2, "kim's lease reclaimed, 3 s after it disconnected")
	if m := l.gwHost.MustRun("curl", "-fsS", "http://127.0.0.1:9586/metrics"); !strings.Contains(m, "intransit_p2s_leases_reclaimed_total 1") {
		t.Errorf("metrics do not count one reclaimed lease:\n%s", m)
	}
	kim.connect()
	kim.wait(20*time.Second, "connected again after its lease was reclaimed", connected)
	if !kim.ping(p2sSiteHost) {
		t.Errorf("kim cannot reach the site with its new lease")
	}
	if err := kim.proc.Stop(15 * time.Second); err != nil {
		t.Errorf("kim: %v", err)
	}
	// Renewal is due 30 s after issuance; allow for the time enrolling and
	// connecting took.
	st = ivy.wait(40*time.Second, "renewed", func(st *client.Status) bool {
		return st.CertExpiry.After(first.CertExpiry) && connected(st)
	})
	t.Logf("renewed: certificate until %s (was %s), %d sessions", st.CertExpiry.Format(time.RFC3339), first.CertExpiry.Format(time.RFC3339), st.Sessions)
	if st.Sessions < 2 {
		t.Errorf("no new session after the renewal (%d sessions)", st.Sessions)
	}
	c, ok := l.gwClient("ivy")
	if !ok || !c.CertExpiry.Equal(st.CertExpiry) {
		t.Errorf("gateway's view of ivy: %+v (found %v), want certificate until %s", c, ok, st.CertExpiry)
	}
	time.Sleep(time.Until(first.CertExpiry.Add(3 * time.Second)))
	st = ivy.wait(5*time.Second, "connected after the first certificate expired", connected)
	if !ivy.ping(p2sSiteHost) {
		t.Errorf("ivy cannot reach the site after the first certificate expired")
	}
	if st.Addresses[0] != first.Addresses[0] {
		t.Errorf("ivy, connected throughout, moved from %s to %s: its lease was reclaimed", first.Addresses[0], st.Addresses[0])
	}
	if err := jack.proc.Stop(15 * time.Second); err != nil {
		t.Errorf("jack: %v", err)
	}
	routes = jack.host.MustRun("ip", "-4", "route", "show")
	if strings.Contains(routes, "0.0.0.0/1") || strings.Contains(routes, p2sWan) {
		t.Errorf("routes left after disconnect:\n%s", routes)
	}
}
