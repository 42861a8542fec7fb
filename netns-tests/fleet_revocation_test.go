package netnstests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"intransit/p2s/client"
)

// fleetCut is the longest a revocation may take to cut a laptop on any
// gateway of the fleet (issue 13).
const fleetCut = 2 * time.Second

// TestFleetRevocationAndPartitions runs the revocation and partition
// scenarios of issue 13 on one fleet (3 etcd members, two gateways), one
// step after the other (the fleet's helpers fail the test that owns it, so
// the steps are not subtests): each step uses laptops of its own, and the
// cluster is whole again before the next one.
func TestFleetRevocationAndPartitions(t *testing.T) {
	t.Parallel()
	f := newFleet(t, fleetOptions{})
	f.startGateways()
	gw1, gw2 := f.gws[0], f.gws[1]
	step := func(name string, fn func()) {
		t.Logf("--- %s", name)
		fn()
	}

	step("one token at both gateways at once", func() {
		token := f.invite(gw1.host, "racer")
		a, b := f.addLaptop("racer-a"), f.addLaptop("racer-b")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		outs := make([]string, 2)
		for i, p := range []struct {
			lp *fleetLaptop
			g  *fleetGateway
		}{{a, gw1}, {b, gw2}} {
			wg.Add(1)
			go func() { defer wg.Done(); outs[i], errs[i] = p.lp.enrollAt(p.g, token) }()
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			if !strings.Contains(err.Error(), "token_used") && !strings.Contains(err.Error(), "token_") {
				t.Errorf("enrollment %d refused for another reason than the token: %v", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of 2 enrollments with one token succeeded, want exactly 1: %v / %v\n%s", ok, errs[0], errs[1], outs)
		}
		t.Logf("one token at gw1 and gw2 at once: one enrolled, the other refused: %v%v", errs[0], errs[1])
		var list []struct {
			Name    string
			Serials []string
		}
		out := f.p2sAdmin(gw2.host, "list", "--output", "json")
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("p2s list: %v: %s", err, out)
		}
		for _, c := range list {
			if c.Name == "racer" && len(c.Serials) != 1 {
				t.Fatalf("racer recorded with %d certificates, want 1: %s", len(c.Serials), out)
			}
		}
	})

	step("revocation on gw1's host cuts a laptop on gw2", func() {
		lp := f.addLaptop("laptop2")
		lp.mustEnroll(gw2)
		lp.connect()
		lp.wait(20*time.Second, "connected", connected)
		if !lp.ping(gw2.siteAddr) {
			t.Fatalf("laptop2 does not reach gw2's site address")
		}
		crlBefore := f.crlFiles()
		// Revoked from gw1's host with the CLI against etcd alone: no daemon
		// socket, no CRL file copied.
		start := time.Now()
		f.pki(gw1.host, "revoke", "laptop2", "--reason", "keyCompromise")
		committed := time.Now()
		gw2.waitGone(fleetCut, "laptop2")
		cut := time.Since(committed)
		lp.waitCut(5 * time.Second)
		t.Logf("revocation on gw1's host -> laptop2 cut on gw2: %s after the revocation was committed (%s including the CLI)",
			cut.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if cut > fleetCut {
			t.Fatalf("laptop2 cut %s after the revocation, want within %s", cut, fleetCut)
		}
		// Exactly one gateway was elected to sign and publish the CRL, and
		// only its file changed.
		f.checkOnePublisher(crlBefore)
	})

	step("one etcd member killed", func() {
		lead := f.etcdLeader()
		m := f.etcd[lead]
		lp := f.addLaptop("laptop3")
		killed := time.Now()
		m.kill()
		t.Logf("killed etcd member %s (the leader) with SIGKILL", m.name)
		// Enrollments, connects and revocations go on.
		lp.mustEnroll(gw2)
		lp.connect()
		lp.wait(20*time.Second, "connected with an etcd member dead", connected)
		t.Logf("enrolled and connected %s after the kill", time.Since(killed).Round(time.Millisecond))
		f.pki(gw2.host, "revoke", "laptop3")
		committed := time.Now()
		gw2.waitGone(fleetCut, "laptop3")
		t.Logf("revocation with an etcd member dead: laptop3 cut after %s", time.Since(committed).Round(time.Millisecond))
		m.restart()
	})

	step("gateway partitioned from etcd", func() {
		lp1, lp4, lp5 := f.addLaptop("laptop1"), f.addLaptop("laptop4"), f.addLaptop("laptop5")
		lp1.mustEnroll(gw1)
		lp4.mustEnroll(gw1)
		lp1.connect()
		lp1.wait(20*time.Second, "connected", connected)
		token5 := f.invite(gw2.host, "laptop5")

		heal := gw1.partition()
		partitioned := time.Now()
		// A ping that runs across the partition: the tunnel stays (fail
		// static).
		ping := lp1.host.Start("ping", "-c", "40", "-i", "0.2", "-W", "1", gw1.siteAddr)
		st := gw1.waitStoreDown(10 * time.Second)
		t.Logf("gw1 saw etcd unreachable after %s: %s", time.Since(partitioned).Round(time.Millisecond), st.Error)
		// A new enrollment and a new admission are refused, naming why.
		out, err := lp5.enrollAt(gw1, token5)
		if err == nil || !strings.Contains(out, "store_unreachable") {
			t.Fatalf("enrollment at gw1 cut off from etcd: %v, want a store_unreachable refusal: %s", err, out)
		}
		t.Logf("enrollment refused: %s", strings.TrimSpace(out))
		lp4.connect()
		st4 := lp4.wait(15*time.Second, "refused", func(st *client.Status) bool { return st.Reason == "store_unreachable" })
		t.Logf("admission refused: %s: %s", st4.Reason, st4.Detail)
		// A revocation made meanwhile, from gw2's host.
		f.p2sAdmin(gw2.host, "revoke", "laptop1", "--reason", "keyCompromise")
		if err := ping.Wait(context.Background()); err != nil {
			t.Fatalf("laptop1's ping through gw1 failed while gw1 was cut off from etcd: %v\n%s", err, ping.Output())
		}
		loss := lastLine(ping.Output(), "packet loss")
		t.Logf("laptop1 pinged through gw1 all along the partition: %s", loss)
		if !strings.Contains(loss, " 0% packet loss") && !strings.Contains(loss, " 2.5% packet loss") {
			t.Fatalf("laptop1 lost pings through gw1 while it was cut off from etcd: %s", loss)
		}
		if !gw1.holds("laptop1") {
			t.Fatalf("gw1 dropped laptop1 while cut off from etcd")
		}
		heal()
		healed := time.Now()
		gw1.waitGone(fleetCut+3*time.Second, "laptop1")
		applied := time.Since(healed)
		t.Logf("after healing, the revocation made meanwhile cut laptop1 after %s", applied.Round(time.Millisecond))
		if applied > fleetCut {
			t.Fatalf("revocation made during the partition applied %s after healing, want within %s", applied, fleetCut)
		}
		// And the gateway admits again.
		lp4.wait(20*time.Second, "connected after healing", connected)
	})
}

// lastLine returns the last line of out that contains what.
func lastLine(out, what string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], what) {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}

// holds reports whether the gateway holds a session of the client.
func (g *fleetGateway) holds(name string) bool {
	g.f.t.Helper()
	for _, c := range g.gw.status().P2S.Clients {
		if c.Name == name {
			return true
		}
	}
	return false
}

// waitGone waits until the gateway no longer holds a session of the
// client, polling every 20 ms.
func (g *fleetGateway) waitGone(timeout time.Duration, name string) {
	g.f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if !g.holds(name) {
			return
		}
		if time.Now().After(deadline) {
			g.f.t.Fatalf("%s still holds %s after %s\n%s", g.name, name, timeout, g.f.gatewayLogs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStoreDown waits until the gateway's status says etcd is unreachable.
func (g *fleetGateway) waitStoreDown(timeout time.Duration) statusStore {
	g.f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if s := g.gw.status().P2S.Store; s != nil && !s.Reachable {
			return statusStore{Error: s.Error}
		}
		if time.Now().After(deadline) {
			g.f.t.Fatalf("%s: status does not say the store is unreachable after %s", g.name, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// statusStore is what a test keeps of a status's store section.
type statusStore struct{ Error string }

// crlFiles reads every gateway's CRL file.
func (f *fleet) crlFiles() []string {
	out := make([]string, len(f.gws))
	for i, g := range f.gws {
		b, err := os.ReadFile(filepath.Join(g.dir, "crl.der.pem"))
		if err != nil {
			f.t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// checkOnePublisher checks that exactly one gateway says it was elected to
// publish the CRL, and that only its CRL file changed since before.
func (f *fleet) checkOnePublisher(before []string) {
	f.t.Helper()
	leader := -1
	for i, g := range f.gws {
		if strings.Contains(g.gw.proc.Output(), "elected to sign and publish the CRL") {
			if leader >= 0 {
				f.t.Fatalf("both gateways were elected to publish the CRL\n%s", f.gatewayLogs())
			}
			leader = i
		}
	}
	if leader < 0 {
		f.t.Fatalf("no gateway was elected to publish the CRL\n%s", f.gatewayLogs())
	}
	// Their status says the same: the elected one itself, the other names it.
	for i, g := range f.gws {
		if p := g.gw.status().CRLPublisher; p == nil || p.Self != (i == leader) || p.Elected == "" {
			f.t.Fatalf("%s: status crl publisher %+v, want self=%v (%s was elected)", g.name, p, i == leader, f.gws[leader].name)
		}
	}
	deadline := time.Now().Add(fleetCut)
	for {
		after := f.crlFiles()
		if after[leader] != before[leader] {
			for i := range after {
				if i != leader && after[i] != before[i] {
					f.t.Fatalf("%s, not elected, rewrote its CRL file", f.gws[i].name)
				}
			}
			f.t.Logf("%s was elected and published the new CRL; the other gateway published none", f.gws[leader].name)
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the elected %s did not publish a new CRL within %s\n%s", f.gws[leader].name, fleetCut, f.gatewayLogs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// etcdLeader returns the index of the member that leads the cluster,
// asked through the members' gRPC gateway from gw1's host.
func (f *fleet) etcdLeader() int {
	f.t.Helper()
	cert := filepath.Join(f.dir, "etcd-tls", "admin-chain.pem")
	key := filepath.Join(f.dir, "etcd-tls", "admin.key")
	var seen []string
	for i, m := range f.etcd {
		if !m.running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := f.gws[0].host.Run(ctx, "curl", "-sS", "--max-time", "2", "--cacert", f.etcdCA, "--cert", cert, "--key", key,
			"--resolve", fleetEtcdName+":2379:"+m.ip, "-X", "POST", "-d", "{}", "https://"+fleetEtcdName+":2379/v3/maintenance/status")
		cancel()
		if err != nil {
			f.t.Fatalf("status of %s: %v %s", m.name, err, out)
		}
		var st struct {
			Header struct {
				MemberID string `json:"member_id"`
			} `json:"header"`
			Leader string `json:"leader"`
		}
		if err := json.Unmarshal(out, &st); err != nil {
			f.t.Fatalf("status of %s: %v: %s", m.name, err, out)
		}
		seen = append(seen, string(out))
		if st.Leader != "" && st.Leader == st.Header.MemberID {
			return i
		}
	}
	f.t.Fatalf("no etcd member leads: %s", strings.Join(seen, "\n"))
	return -1
}
