package netnstests

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/internal/testutil/pkitest"
	"intransit/netns-tests/netlab"
	"intransit/pki"
	"intransit/pki/renewal"
)

// TestS2SCertificateRenewal: gateways with 10-minute certificates renew
// them at two thirds of their lifetime and keep their tunnel, and a TLS
// proxy renews its server certificate and keeps serving. Gateway A holds
// the CA, renews its own certificate from it and serves the renewal API;
// gateway B and the proxy renew over mTLS from A. The first certificates
// are issued already aged (Backdate), so that the first renewals come
// early; every later one is a real renewal at two thirds of 10 minutes.
// A continuous ping from site A to site B loses no reply across B's three
// renewals (and A's), and a bounded request loop through the proxy (a new
// TLS handshake per request) sees no failure across its renewals.
//
// It is the package's longest test (13-14 min of waiting), so it must get
// one of the -parallel slots first; its file sorts last for that (see the
// package comment).
func TestS2SCertificateRenewal(t *testing.T) {
	t.Parallel()
	netlab.RequireTools(t, "curl")
	l := newS2SLab(t)
	cli := netlab.GoBuild(t, "intransit/cmd/intransit", true)
	load := netlab.GoBuild(t, "intransit/netns-tests/httpload", true)
	const life = 10 * time.Minute
	issue := func(profile, name string, backdate time.Duration, ips ...net.IP) (chain, key string, is *pki.Issued) {
		t.Helper()
		req := pki.Request{Profile: profile, Name: name, DNSNames: []string{name + ".s2s.test"}, IPAddresses: ips, TTL: life, Backdate: backdate}
		is, err := l.pki.ca.Issue(context.Background(), req, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		files, err := l.pki.ca.WriteIssued(t.TempDir(), is)
		if err != nil {
			t.Fatal(err)
		}
		return files.Chain, files.Key, is
	}
	// First renewals: B after ~20 s, the proxy after ~30 s, A after ~40 s.
	l.cfgA.chain, l.cfgA.key, _ = issue(pki.ProfileGateway, "gw-a", 5*time.Minute+40*time.Second)
	var firstB *pki.Issued
	l.cfgB.chain, l.cfgB.key, firstB = issue(pki.ProfileGateway, "gw-b", 6*time.Minute)
	proxyChain, proxyKey, _ := issue(pki.ProfileServer, "proxy", 5*time.Minute+50*time.Second, net.IPv4(127, 0, 0, 1))
	l.cfgA.rotation, l.cfgB.rotation = "1m", "1m"
	l.cfgB.metrics = "127.0.0.1:9100"

	// A holds the CA from now on.
	pkiDir := l.pki.ca.Dir()
	l.pki.ca.Close()
	pass := filepath.Join(t.TempDir(), "pki.pass")
	if err := os.WriteFile(pass, []byte(pkitest.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const renewAPI = s2sWanA + ":8444"
	identityA := l.pki.identity("gw-a")
	cfgA := withRenewal(t, l.cfgA.write(t, l.pki, l.dirA), "{url: ca}",
		"pki: {dir: "+pkiDir+", passphrase_file: "+pass+", renew: "+renewAPI+"}\n")
	cfgB := withRenewal(t, l.cfgB.write(t, l.pki, l.dirB), "{url: 'https://"+renewAPI+"', identity: '"+identityA+"'}", "")
	a := startGateway(t, l.gwA, l.bin, cfgA)
	b := startGateway(t, l.gwB, l.bin, cfgB)
	a.waitUp("site-b", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 2)

	// The proxy on B's host serves B's metrics endpoint over TLS.
	proxy := l.gwB.Start(cli, "tls", "proxy", "--listen", "127.0.0.1:9443", "--target", "127.0.0.1:9100",
		"--cert", proxyChain, "--key", proxyKey, "--renew", "https://"+renewAPI, "--renew-ca", l.pki.caFile,
		"--renew-identity", identityA, "--reload-interval", "1h")
	waitServing(t, l.gwB, proxy, l.pki.caFile)

	// The ping runs until 15 s after B's third renewal is due (the first
	// at two thirds of the aged certificate, then two 10-minute
	// certificates at two thirds each, 6 min 20 s after their issuance);
	// with a count, ping waits for the last reply, so that none in flight
	// counts as lost.
	thirdDue := renewal.At(firstB.Certificate).Add(2 * (life + pki.ClockSkew) * 2 / 3).Add(-2 * pki.ClockSkew)
	count := int(time.Until(thirdDue.Add(15*time.Second)) / (200 * time.Millisecond))
	ping := l.siteA.Start("ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", s2sHostB)
	stopLoad := make(chan struct{})
	var loadWG sync.WaitGroup
	var loads []loadResult
	loadWG.Add(1)
	go func() {
		defer loadWG.Done()
		for {
			select {
			case <-stopLoad:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			out, err := l.gwB.Run(ctx, load, "--url", "https://127.0.0.1:9443/metrics", "--ca", l.pki.caFile,
				"--clients", "2", "--interval", "100ms", "--new-conns", "--duration", "20s")
			cancel()
			var r loadResult
			if err != nil || json.Unmarshal(out, &r) != nil {
				r = loadResult{Errors: 1, FirstError: "httpload: " + strings.TrimSpace(string(out))}
			}
			loads = append(loads, r)
		}
	}()

	// B's third renewal: the first early, then two at two thirds of 10
	// minutes (6 min 20 s after each issuance, NotBefore being a minute
	// before it).
	start := time.Now()
	deadline := thirdDue.Add(45 * time.Second)
	var notUp []string
	renewalsB := 0
	for renewalsB < 3 {
		if time.Now().After(deadline) {
			close(stopLoad)
			loadWG.Wait()
			t.Fatalf("gateway B renewed %d times in %s, want 3\nB:\n%s\nA:\n%s", renewalsB, time.Since(start).Round(time.Second), b.proc.Output(), a.proc.Output())
		}
		time.Sleep(time.Second)
		// Degraded (the path monitor briefly without fresh authenticated
		// traffic) is logged; a session that ended is a failure.
		if p := a.peer("site-b"); p.State != status.StateUp {
			at := time.Since(start).Round(time.Second).String() + " " + p.State + " " + p.Reason
			if sessionEnded(p) {
				notUp = append(notUp, at)
			} else {
				t.Logf("site-b at %s", at)
			}
		}
		if c, ok := certNamed(b.status(), "identity"); ok {
			renewalsB = c.Renewals
		}
	}
	renewed3 := time.Now()
	t.Logf("gateway B renewed its certificate 3 times in %s (third due at %s)", time.Since(start).Round(time.Second), thirdDue.Format(time.TimeOnly))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	err := ping.Wait(ctx)
	cancel()
	pingEnd := time.Now()
	sent, received := pingCounts(ping.Output())
	t.Logf("ping site A -> site B across the renewals: %d sent, %d received, %d lost (ended %s after the third renewal)",
		sent, received, sent-received, pingEnd.Sub(renewed3).Round(time.Second))
	if err != nil || sent != count || received != sent {
		t.Errorf("ping across the renewals (%v): %d sent, %d received; want all %d replies\n%s", err, sent, received, count, ping.Output())
	}
	if pingEnd.Before(renewed3) {
		t.Errorf("the ping ended before B's third renewal")
	}
	if len(notUp) > 0 {
		t.Errorf("A saw site-b not up during the renewals: %v", notUp)
	}
	close(stopLoad)
	loadWG.Wait()
	var requests, failures int
	var firstErr string
	for _, r := range loads {
		requests += r.Requests
		failures += r.Errors
		for st, n := range r.Statuses {
			if st != "200 OK" {
				failures += n
			}
		}
		if firstErr == "" {
			firstErr = r.FirstError
		}
	}
	proxyRenewals := strings.Count(proxy.Output(), "certificate renewed")
	t.Logf("proxy: %d requests (a TLS handshake each), %d failed, across %d renewals of its certificate", requests, failures, proxyRenewals)
	if requests < 1000 || failures != 0 || proxyRenewals < 2 {
		t.Errorf("proxy: %d requests, %d failed (first: %s), %d renewals; want at least 1000 requests, none failed, 2 renewals\n%s",
			requests, failures, firstErr, proxyRenewals, proxy.Output())
	}

	repA, repB := a.status(), b.status()
	idA, _ := certNamed(repA, "identity")
	idB, _ := certNamed(repB, "identity")
	t.Logf("A: identity renewed %d times, handovers %d, sessions %d; B: identity serial %s (first %s), until %s",
		idA.Renewals, strings.Count(a.proc.Output(), "certificate handover"), a.peer("site-b").Sessions,
		idB.Serial, pki.FormatSerial(firstB.Certificate.SerialNumber), idB.NotAfter.Format(time.RFC3339))
	if idA.Renewals < 2 {
		t.Errorf("A renewed its certificate from its own CA %d times, want at least 2", idA.Renewals)
	}
	if idB.Serial == pki.FormatSerial(firstB.Certificate.SerialNumber) || idB.State != status.CertOK {
		t.Errorf("B's certificate after its renewals: %+v", idB)
	}
	if _, ok := certNamed(repA, "ca root"); !ok {
		t.Errorf("A's status lacks the CA certificates it holds: %+v", repA.Certificates)
	}
	if _, ok := certNamed(repA, "ca intermediate"); !ok {
		t.Errorf("A's status lacks the CA certificates it holds: %+v", repA.Certificates)
	}
	// PSK rotation goes on in the sessions that took over.
	outA := a.proc.Output()
	rotations := 0
	if i := strings.Index(outA, "certificate handover"); i >= 0 {
		for _, line := range strings.Split(outA[i:], "\n") {
			if strings.Contains(line, `msg="PSK installed"`) && !strings.Contains(line, " epoch=1 ") {
				rotations++
			}
		}
	}
	t.Logf("A: %d PSK rotations after the first handover", rotations)
	if p := a.peer("site-b"); rotations == 0 || p.State != status.StateUp {
		t.Errorf("site-b after the renewals: %s, %d PSK rotations after the first handover; want up with rotations going on", p.State, rotations)
	}
	for name, g := range map[string]*gateway{"A": a, "B": b} {
		if n := strings.Count(g.proc.Output(), "tunnel down"); n > 0 {
			t.Errorf("gateway %s logged %d tunnel drops:\n%s", name, n, grepLines(g.proc.Output(), "tunnel down"))
		}
	}
	metrics := l.gwB.MustRun("curl", "-sS", "--max-time", "5", "http://127.0.0.1:9100/metrics")
	if !strings.Contains(metrics, `intransit_certificate_expiry_seconds{certificate="identity"}`) {
		t.Errorf("B's metrics lack the certificate expiry gauge:\n%s", grepLines(metrics, "intransit_certificate"))
	}
	t.Logf("B's metrics: %s", grepLines(metrics, "intransit_certificate_expiry"))
	if err := proxy.Stop(15 * time.Second); err != nil {
		t.Errorf("proxy: %v", err)
	}
	b.stop()
	a.stop()
}

// withRenewal adds identity.renew (and more top-level text) to a written
// configuration.
func withRenewal(t *testing.T, path, renew, extra string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "  crl_refresh: 1s\n", "  crl_refresh: 1s\n  renew: "+renew+"\n", 1)
	if err := os.WriteFile(path, []byte(s+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// certNamed finds a certificate of a status report by name.
func certNamed(rep *status.Report, name string) (status.Certificate, bool) {
	for _, c := range rep.Certificates {
		if c.Name == name {
			return c, true
		}
	}
	return status.Certificate{}, false
}

// waitServing waits until the proxy answers through TLS.
func waitServing(t *testing.T, h *netlab.Host, proxy *netlab.Process, caFile string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := h.Run(ctx, "curl", "-sSf", "--max-time", "3", "--cacert", caFile, "https://127.0.0.1:9443/metrics")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy does not serve: %v\n%s", err, proxy.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
