package netnstests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/internal/testutil/pkitest"
	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
	"intransit/pki"
	"intransit/pki/keywrap"
)

// TestP2SRevokeInOneStep: with the gateway holding the CA, `intransit pki
// revoke` alone (no `pki crl`, no master key: it goes through the
// daemon's admin socket) cuts a laptop within 5 s. The laptop is told why:
// it stops for good (exit 1), its routes, interface and resolv.conf are
// restored, `p2s status` says revoked (exit 1) and a new `p2s connect`
// refuses at once. Another laptop keeps working.
func TestP2SRevokeInOneStep(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	l.start()
	alice, bob := l.addLaptop("alice"), l.addLaptop("bob")
	origResolv, err := os.ReadFile(alice.resolv)
	if err != nil {
		t.Fatal(err)
	}
	for _, lp := range []*laptop{alice, bob} {
		if out, err := lp.enroll(l.invite(lp.name, "1h")); err != nil {
			t.Fatalf("%s: enroll: %v\n%s\n%s", lp.name, err, out, l.gw.proc.Output())
		}
		lp.connect()
	}
	for _, lp := range []*laptop{alice, bob} {
		lp.wait(45*time.Second, "connected", connected)
		if !lp.ping(p2sSiteHost) {
			t.Fatalf("%s cannot reach the site before the revocation", lp.name)
		}
	}
	if out := alice.host.MustRun("ip", "route"); !strings.Contains(out, "itc0") {
		t.Fatalf("alice has no route into the tunnel while connected:\n%s", out)
	}
	crlBefore, err := os.ReadFile(l.crl)
	if err != nil {
		t.Fatal(err)
	}

	revoked := time.Now()
	out := l.gwHost.MustRun(l.cli, "pki", "revoke", "alice", "--reason", "keyCompromise", "--dir", l.pkiDir)
	t.Logf("pki revoke (%s): %s", time.Since(revoked).Round(time.Millisecond), strings.TrimSpace(out))
	if !strings.Contains(out, "published") {
		t.Errorf("pki revoke did not go through the daemon, or did not publish the CRL:\n%s", out)
	}
	if crl, _ := os.ReadFile(l.crl); string(crl) == string(crlBefore) {
		t.Errorf("the CRL the gateway reads (%s) was not replaced", l.crl)
	}
	for {
		if _, ok := l.gwClient("alice"); !ok {
			break
		}
		if time.Since(revoked) > 5*time.Second {
			t.Fatalf("alice still connected 5 s after pki revoke\n%s", l.gw.proc.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("gateway cut alice %s after pki revoke", time.Since(revoked).Round(10*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	err = alice.proc.Wait(ctx)
	cancel()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("alice's client: %v, want it to stop with exit 1\n%s", err, alice.proc.Output())
	}
	t.Logf("alice's client stopped %s after pki revoke: %s", time.Since(revoked).Round(10*time.Millisecond),
		grepLines(alice.proc.Output(), "revoked"))
	if now, err := os.ReadFile(alice.resolv); err != nil || string(now) != string(origResolv) {
		t.Errorf("alice's resolv.conf after the revocation (%v):\n%s\nwant:\n%s", err, now, origResolv)
	}
	if _, err := os.Stat(alice.resolv + ".intransit-backup"); err == nil {
		t.Errorf("alice: resolv.conf backup left behind")
	}
	if out := alice.host.MustRun("ip", "route"); strings.Contains(out, "itc0") {
		t.Errorf("alice keeps routes into the dead tunnel:\n%s", out)
	}
	if out, err := alice.host.Run(context.Background(), "ip", "link", "show", "itc0"); err == nil {
		t.Errorf("alice keeps the tunnel interface:\n%s", out)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	stOut, err := alice.host.Run(ctx, l.cli, "p2s", "status", "--dir", alice.dir, "--output", "json")
	cancel()
	var st client.Status
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || json.Unmarshal(firstJSON(stOut), &st) != nil || st.State != client.StateRevoked {
		t.Errorf("p2s status after the revocation: %v, want exit 1 with state revoked:\n%s", err, stOut)
	}
	t.Logf("alice: p2s status says %s: %s", st.State, st.Detail)
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	again, err := alice.host.Run(ctx, l.cli, "p2s", "connect", "--dir", alice.dir, "--dns", "resolv.conf", "--resolv-conf", alice.resolv)
	cancel()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(again), "revoked") {
		t.Errorf("p2s connect with the revoked certificate: %v, want exit 1 saying revoked:\n%s", err, again)
	}
	if _, ok := l.gwClient("alice"); ok {
		t.Errorf("alice is back after the revocation")
	}
	if !bob.ping(p2sSiteHost) {
		t.Errorf("bob lost the site after alice's revocation")
	}

	// Bob is revoked while his client is stopped: when it starts again the
	// gateway refuses it on the control channel with the reason revoked
	// (the TLS handshake could only say bad_certificate), and it stops.
	if err := bob.proc.Stop(15 * time.Second); err != nil {
		t.Errorf("bob: %v", err)
	}
	l.revoke("bob")
	bob.connect()
	restarted := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	err = bob.proc.Wait(ctx)
	cancel()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(bob.proc.Output(), "revoked") {
		t.Fatalf("bob's client started after his revocation: %v, want exit 1 saying revoked\n%s", err, bob.proc.Output())
	}
	t.Logf("bob's client, started after his revocation, stopped after %s: %s", time.Since(restarted).Round(10*time.Millisecond),
		grepLines(bob.proc.Output(), "not reconnecting"))
	if st, err := client.RevokedStatus(filepath.Join(bob.dir, client.DefaultProfile)); err != nil || st == nil {
		t.Errorf("bob's revocation is not recorded: %v", err)
	}
	refused := false
	for _, r := range l.p2sStatus().Refusals {
		refused = refused || r.Reason == "revoked"
	}
	if !refused {
		t.Errorf("the gateway's refusals lack bob's revoked certificate: %+v", l.p2sStatus().Refusals)
	}
	l.gw.stop()
}

// firstJSON returns the first line of out (JSON output before the error
// line of a refusal).
func firstJSON(out []byte) []byte {
	s := string(out)
	if i := strings.Index(s, "\n}"); i >= 0 {
		return []byte(s[:i+2])
	}
	return out
}

// TestS2SRevokeInOneStep: gateway A holds the CA (a top-level pki
// section); `intransit pki revoke gw-b` alone, through A's admin socket,
// cuts site B within 5 s: A's status says refused, revoked, the route is
// gone and B is refused from then on.
func TestS2SRevokeInOneStep(t *testing.T) {
	t.Parallel()
	l := newS2SLab(t)
	cli := netlab.GoBuild(t, "intransit/cmd/intransit", true)
	pkiDir := l.pki.ca.Dir()
	// The daemon holds the store from now on.
	l.pki.ca.Close()
	pass := filepath.Join(t.TempDir(), "pki.pass")
	if err := os.WriteFile(pass, []byte(pkitest.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA := l.cfgA.write(t, l.pki, l.dirA)
	f, err := os.OpenFile(cfgA, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("pki: {dir: " + pkiDir + ", passphrase_file: " + pass + "}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a := startGateway(t, l.gwA, l.bin, cfgA)
	b := startGateway(t, l.gwB, l.bin, l.cfgB.write(t, l.pki, l.dirB))
	a.waitUp("site-b", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 2)

	revoked := time.Now()
	out := l.gwA.MustRun(cli, "pki", "revoke", "gw-b", "--reason", "keyCompromise", "--dir", pkiDir)
	t.Logf("pki revoke (%s): %s", time.Since(revoked).Round(time.Millisecond), strings.TrimSpace(out))
	p := a.waitPeer("site-b", 5*time.Second, "cut within 5 s of pki revoke", func(p status.Peer) bool { return p.State != status.StateUp })
	t.Logf("gw-a cut site-b %s after pki revoke: %s %s: %s", time.Since(revoked).Round(10*time.Millisecond), p.State, p.Reason, p.Detail)
	if p.State != status.StateRefused || p.Reason != "revoked" {
		t.Errorf("site-b after pki revoke: %s %q, want refused, revoked", p.State, p.Reason)
	}
	if out := l.gwA.MustRun("ip", "route", "show", s2sSiteB); strings.Contains(out, "it0") {
		t.Errorf("route to %s still through the tunnel: %s", s2sSiteB, out)
	}
	pb := b.waitPeer("site-a", 10*time.Second, "told", func(p status.Peer) bool { return p.State != status.StateUp })
	t.Logf("gw-b sees: %s %s: %s", pb.State, pb.Reason, pb.Detail)
	time.Sleep(3 * time.Second)
	if p := a.peer("site-b"); p.State == status.StateUp || p.Sessions != 1 {
		t.Errorf("site-b came back after the revocation: %+v", p)
	}
	if _, ok := pingUntil(t, l.siteA, s2sHostB, 2*time.Second); ok {
		t.Errorf("site B still reachable after its gateway's certificate was revoked")
	}
	a.stop()
	b.stop()
}

// TestP2SCAUnderLoad: 16 clients, each from an address of its own (one
// host may hold only a few connections: the per-source admission limit),
// fetch the CA bundle (GET /p2s/v1/ca, unauthenticated) for 10 s from a
// gateway whose PKI is protected by a passphrase with the real argon2id
// cost. The daemon holds the CA
// unlocked, so its RSS grows by less than 50 MB and a laptop's tunnel RTT
// stays under 10x its idle value.
func TestP2SCAUnderLoad(t *testing.T) {
	t.Parallel()
	l := newP2SLab(t)
	// The real cost: what an unlock per request would pay every time.
	kdf := keywrap.DefaultKDF()
	sec := keywrap.Passphrase([]byte(pkitest.Passphrase))
	if err := pki.RotateMaster(context.Background(), l.pkiDir, sec, sec, kdf); err != nil {
		t.Fatal(err)
	}
	t.Logf("PKI passphrase KDF: argon2id, %d MiB, %d passes", kdf.MemoryKiB/1024, kdf.Time)
	// RSS is measured on the daemon as shipped, without the race detector.
	l.daemon = netlab.GoBuild(t, "intransit/cmd/intransitd", false)
	load := netlab.GoBuild(t, "intransit/netns-tests/httpload", false)
	l.start()
	alice := l.addLaptop("alice")
	if out, err := alice.enroll(l.invite("alice", "1h")); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	alice.connect()
	alice.wait(45*time.Second, "connected", connected)
	loader := l.addLaptop("loader")
	var sources []string
	for i := range 16 {
		a := fmt.Sprintf("198.51.%d.%d", 100+l.laptops, 10+i)
		loader.link.B.AddAddr(a + "/24")
		sources = append(sources, a)
	}
	if !alice.ping(p2sSiteHost) {
		t.Fatal("alice cannot reach the site")
	}

	idle := rtts(t, alice.host, p2sSiteHost, 30)
	rssIdle := rssKiB(t, l.gw.proc.Pid())
	t.Logf("idle: tunnel RTT median %.3f ms (max %.3f), daemon RSS %d MiB", median(idle), slices.Max(idle), rssIdle/1024)

	// Once with a connection kept by each client, once with a new TLS
	// handshake for every request.
	for _, newConns := range []bool{false, true} {
		name := map[bool]string{false: "kept connections", true: "a TLS handshake per request"}[newConns]
		loaded, rssMax, res := loadCA(t, l, loader.host, alice.host, load, newConns, strings.Join(sources, ","))
		if len(loaded) == 0 {
			t.Fatalf("%s: no RTT measured under the load: %+v", name, res)
		}
		grow := float64(rssMax-rssIdle) * 1024 / 1e6
		t.Logf("load with %s: %d requests in 10 s by 16 clients (%d errors, %v), first error %q", name, res.Requests, res.Errors, res.Statuses, res.FirstError)
		t.Logf("under load with %s: tunnel RTT median %.3f ms (max %.3f, %d pings), daemon RSS max %d MiB (+%.1f MB)",
			name, median(loaded), slices.Max(loaded), len(loaded), rssMax/1024, grow)
		if res.Requests == 0 || res.Errors > 0 || res.Statuses["200 OK"] != res.Requests {
			t.Errorf("%s: the CA bundle was not served to every request: %+v", name, res)
		}
		if grow >= 50 {
			t.Errorf("%s: daemon RSS grew by %.1f MB under the load, want less than 50", name, grow)
		}
		if m := median(loaded); m >= 10*median(idle) {
			t.Errorf("%s: tunnel RTT %.3f ms under the load, want under 10x the idle %.3f ms", name, m, median(idle))
		}
	}
	if n := strings.Count(l.gw.proc.Output(), "CA unlocked"); n != 1 {
		t.Errorf("the daemon unlocked the CA %d times, want once", n)
	}
	if err := alice.proc.Stop(15 * time.Second); err != nil {
		t.Errorf("alice: %v", err)
	}
	l.gw.stop()
}

// loadResult is what httpload prints.
type loadResult struct {
	Requests, Errors int
	Statuses         map[string]int
	FirstError       string `json:"first_error"`
}

// loadCA runs 16 clients on the gateway's GET /p2s/v1/ca from loader for
// 10 s, client i from the i-th address of from (comma-separated), while
// pinging the site from the laptop host: it returns the RTTs (ms), the
// daemon's largest RSS (KiB) and the load's result.
func loadCA(t *testing.T, l *p2sLab, loader, laptop *netlab.Host, load string, newConns bool, from string) ([]float64, int, loadResult) {
	t.Helper()
	done := make(chan loadResult, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args := []string{"--url", "https://" + p2sWan + ":8445/p2s/v1/ca", "--ca", l.caFile, "--clients", "16", "--duration", "10s", "--from", from}
		if newConns {
			args = append(args, "--new-conns")
		}
		out, err := loader.Run(ctx, load, args...)
		var r loadResult
		if err != nil || json.Unmarshal(out, &r) != nil {
			r.FirstError = "httpload: " + strings.TrimSpace(string(out))
			if err != nil {
				r.FirstError += ": " + err.Error()
			}
		}
		done <- r
	}()
	var loaded []float64
	rssMax := 0
	for {
		select {
		case res := <-done:
			return loaded, rssMax, res
		default:
		}
		if time.Since(start) < 9*time.Second {
			loaded = append(loaded, rtts(t, laptop, p2sSiteHost, 5)...)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
		rssMax = max(rssMax, rssKiB(t, l.gw.proc.Pid()))
	}
}

// rtts pings addr n times from h (0.2 s apart) and returns the round-trip
// times in milliseconds of the answered ones.
func rtts(t *testing.T, h *netlab.Host, addr string, n int) []float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*time.Second+5*time.Second)
	defer cancel()
	out, _ := h.Run(ctx, "ping", "-n", "-c", strconv.Itoa(n), "-i", "0.2", "-W", "1", addr)
	var ms []float64
	for _, line := range strings.Split(string(out), "\n") {
		_, v, ok := strings.Cut(line, "time=")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " ms"), 64); err == nil {
			ms = append(ms, f)
		}
	}
	if len(ms) < n/2 {
		t.Fatalf("ping %s from %s: %d of %d answered:\n%s", addr, h.Name(), len(ms), n, out)
	}
	return ms
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}
