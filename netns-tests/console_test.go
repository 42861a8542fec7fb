package netnstests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"intransit/internal/console"
	"intransit/internal/console/consoletest"
	"intransit/internal/nsforward"
	"intransit/internal/status"
	"intransit/internal/testutil/pkitest"
	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
	"intransit/pki"
)

// chromium is Debian's browser, which CI installs.
const chromium = "/usr/bin/chromium"

// TestConsoleBrowser drives Debian's chromium against the console of a
// real gateway. Gateway B (tunnel to A, serving laptops) has its console on
// its loopback address, which a forwarder of the test brings to the
// browser; gateway A has its console on its WAN address, where only admin
// certificates of the PKI get in. In the browser: the tunnel row appears
// and its bytes grow without a reload; no page breaks its CSP, which blocks
// an inline script; an invitation made on the page is enrolled by a laptop,
// which then appears in the client list; a page of another site that posts
// to the console is refused; a second laptop disconnected from the page is
// gone within 5 s and back by itself (its client reconnects); a refused connection appears on the refusals page; a
// revoke from the page cuts the first laptop within 5 s; a refused reload
// shows on the gateway page. Over TLS to gateway A: no certificate and a
// client certificate are refused, an admin certificate gets in. Every
// page's screenshot is kept, in $INTRANSIT_CONSOLE_SCREENSHOTS or else a new
// directory under $TMPDIR, which the test logs; the page's weight and time
// to first render are logged.
func TestConsoleBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s: %v (apt-get install chromium)", chromium, err)
	}
	l := newS2SLab(t)
	cli := netlab.GoBuild(t, "intransit/cmd/intransit", true)
	ctx := context.Background()
	pkiDir := l.pki.ca.Dir()
	issue := func(profile, name string) tls.Certificate {
		is, err := l.pki.ca.Issue(ctx, pki.Request{Profile: profile, Name: name}, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{is.Certificate.Raw, l.pki.ca.Intermediate().Raw}, PrivateKey: is.Key}
	}
	adminCert, clientCert := issue(pki.ProfileAdmin, "ops1"), issue(pki.ProfileClient, "mallory")
	// Laptops enroll at B's WAN address: its certificate names it.
	isB, err := l.pki.ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: "gw-b", DNSNames: []string{"gw-b.s2s.test"},
		IPAddresses: []net.IP{net.ParseIP(s2sWanB)}}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	filesB, err := l.pki.ca.WriteIssued(t.TempDir(), isB)
	if err != nil {
		t.Fatal(err)
	}
	l.cfgB.chain, l.cfgB.key = filesB.Chain, filesB.Key
	root := l.pki.ca.Root()
	// From here on the gateway opens the PKI (to sign and revoke).
	if err := l.pki.ca.Close(); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(l.dirB, "pki.pass")
	if err := os.WriteFile(pass, []byte(pkitest.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA := l.cfgA.write(t, l.pki, l.dirA)
	appendFile(t, cfgA, fmt.Sprintf("console: {listen: %s:9443}\n", s2sWanA))
	cfgB := l.cfgB.write(t, l.pki, l.dirB)
	appendFile(t, cfgB, fmt.Sprintf(`p2s:
  listen: {control: "%[1]s:8444", udp: "%[1]s:51821"}
  enroll: %[1]s:8445
  admin_socket: %[2]s
  pki: {dir: %[3]s, passphrase_file: %[4]s}
  pools: [10.9.0.0/24]
  groups: [{name: staff}]
console: {listen: "127.0.0.1:9090"}
`, s2sWanB, filepath.Join(l.dirB, "run", "p2s.sock"), pkiDir, pass))
	gwA := startGateway(t, l.gwA, l.bin, cfgA)
	gwB := startGateway(t, l.gwB, l.bin, cfgB)
	gwB.waitUp("site-a", 30*time.Second)

	// The console of B, on its loopback, reached through a forwarder.
	fctx, stopForward := context.WithCancel(ctx)
	fln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fdone := make(chan error, 1)
	go func() { fdone <- nsforward.Serve(fctx, fln, l.gwB.Namespace(), "127.0.0.1:9090") }()
	t.Cleanup(func() {
		stopForward()
		if err := <-fdone; err != nil {
			t.Errorf("forwarder: %v", err)
		}
	})
	base := "http://" + fln.Addr().String()

	// The contract of the console's seams, on the daemon's own: its
	// status report (which the console and the status socket share) and
	// its actions, taken through the console's pages. The suite's laptop
	// enrolls with the link of its invitation and is revoked at the end.
	hc := &http.Client{Timeout: 30 * time.Second}
	consoletest.Run(t, consoletest.Fixture{Source: statusSource{t, gwB}, Actions: &consoletest.HTTPActions{Base: base, Client: hc},
		Group: "staff", Within: 10 * time.Second, Connect: func(t *testing.T, inv console.Invitation) {
			host, _ := l.addWANHost(t, "ctlaptop")
			dir := filepath.Join(t.TempDir(), "ctlaptop")
			ectx, cancel := context.WithTimeout(ctx, 60*time.Second)
			out, err := host.Run(ectx, cli, "p2s", "enroll", inv.Link, "--dir", dir)
			cancel()
			if err != nil {
				t.Fatalf("enroll with the suite's invitation: %v\n%s\n%s", err, out, gwB.proc.Output())
			}
			waitClient(t, dir, host.Start(cli, "p2s", "connect", "--dir", dir, "--dns", "off"))
		}}, "ct-")

	shots := os.Getenv("INTRANSIT_CONSOLE_SCREENSHOTS")
	if shots == "" {
		if shots, err = os.MkdirTemp("", "intransit-console-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	b := &browser{t: t, ctx: newBrowser(t), log: gwB.proc.Output}
	run := func(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		browserRun(b, what, timeout, chromedp.Steps(steps...))
	}
	shot := func(name string) {
		t.Helper()
		png := browserRun(b, "screenshot "+name, 20*time.Second, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		// Every page works under its strict CSP: nothing was blocked.
		if v := browserRun(b, "CSP violations on "+name, 10*time.Second, chromedp.Evaluate[[]string](`window.__cspViolations || []`)); len(v) > 0 {
			t.Errorf("page %s broke its Content-Security-Policy: %v", name, v)
		}
	}
	// A watcher of CSP violations in every document, before its scripts.
	run("watch CSP violations", 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch})
		return err
	}))

	// Traffic through the tunnel, bounded: 150 pings over 30 s.
	l.siteA.Start("ping", "-q", "-i", "0.2", "-c", "150", "-s", "1000", s2sHostB)

	// The tunnel row, and its bytes growing without a reload.
	run("tunnels page", 30*time.Second, chromedp.Navigate(base+"/tunnels"), chromedp.WaitVisible(chromedp.CSS("#tunnel-site-a")))
	fcp := browserRun(b, "first contentful paint", 10*time.Second, chromedp.Evaluate[float64](firstPaint, chromedp.EvalAwaitPromise))
	weight := browserRun(b, "page weight", 10*time.Second, chromedp.Evaluate[map[string]float64](`(() => { const w = {html: performance.getEntriesByType('navigation')[0].encodedBodySize, js: 0, css: 0, other: 0};
		  for (const r of performance.getEntriesByType('resource')) { const k = r.name.endsWith('.js') ? 'js' : r.name.endsWith('.css') ? 'css' : 'other'; w[k] += r.encodedBodySize; }
		  return w; })()`))
	t.Logf("console /tunnels: first contentful paint %.0f ms; weight HTML %.0f B, JS %.0f B, CSS %.0f B, other %.0f B, total %.0f B",
		fcp, weight["html"], weight["js"], weight["css"], weight["other"], weight["html"]+weight["js"]+weight["css"]+weight["other"])
	if fcp <= 0 || weight["js"] == 0 || weight["css"] == 0 {
		t.Errorf("no first contentful paint (%v) or no script/style loaded (%v)", fcp, weight)
	}
	// Again with the script and style sheet in the browser's cache.
	run("tunnels page again", 30*time.Second, chromedp.Navigate(base+"/tunnels"), chromedp.WaitVisible(chromedp.CSS("#tunnel-site-a")))
	warm := browserRun(b, "first contentful paint, warm", 10*time.Second, chromedp.Evaluate[float64](firstPaint, chromedp.EvalAwaitPromise))
	t.Logf("console /tunnels again (script and style cached): first contentful paint %.0f ms", warm)
	first := rowBytes(b, "#tunnel-site-a td.rx")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got := rowBytes(b, "#tunnel-site-a td.rx"); got > first {
			t.Logf("tunnel bytes received grew from %d to %d on the page without a reload", first, got)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tunnel's received bytes stayed at %d on the page for 20 s", first)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The chart has its first rates after two samples (10 s apart).
	run("throughput chart", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#chart-site-a polyline.rx")))
	shot("tunnels")
	run("gateway page", 20*time.Second, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#gw-identity")),
		chromedp.WaitVisible(chromedp.CSS("#listeners")))
	shot("gateway")
	// The browser enforces the CSP: an inline script is blocked (and the
	// watcher sees it, so its silence on the other pages means something).
	blocked := browserRun(b, "inline script", 10*time.Second, chromedp.Evaluate[[]string](`new Promise(resolve => {
		const s = document.createElement('script'); s.textContent = 'window.__ran = true'; document.head.appendChild(s);
		setTimeout(() => resolve(window.__ran ? ['ran'] : window.__cspViolations), 300); })`, chromedp.EvalAwaitPromise))
	if len(blocked) == 0 || !strings.HasPrefix(blocked[0], "script-src") {
		t.Fatalf("an inline script on the console: %v, want it blocked by script-src", blocked)
	}

	// An invitation made on the page, enrolled by a laptop.
	run("invite", 30*time.Second, chromedp.Navigate(base+"/invite"), chromedp.WaitVisible(chromedp.CSS("#invite-name")),
		chromedp.SendKeys(chromedp.CSS("#invite-name"), "laptop1"))
	shot("invite")
	run("invite: confirmation", 30*time.Second, chromedp.Click(chromedp.CSS("#invite-submit")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	shot("invite-confirm")
	run("invite: token", 30*time.Second, chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("svg.qr")))
	link := browserRun(b, "enrollment link", 10*time.Second, chromedp.Value(chromedp.CSS("#link")))
	shot("invitation")
	if !strings.HasPrefix(link, "https://"+s2sWanB+":8445/#itp1.") {
		t.Fatalf("enrollment link %q", link)
	}
	laptopHost, _ := l.addWANHost(t, "laptop")
	profiles := filepath.Join(t.TempDir(), "laptop")
	ectx, cancel := context.WithTimeout(ctx, 60*time.Second)
	out, err := laptopHost.Run(ectx, cli, "p2s", "enroll", link, "--dir", profiles)
	cancel()
	if err != nil {
		t.Fatalf("enroll with the link from the page: %v\n%s\n%s", err, out, gwB.proc.Output())
	}
	run("clients page", 20*time.Second, chromedp.Navigate(base+"/clients"), chromedp.WaitVisible(chromedp.CSS("#clients")))
	proc := laptopHost.Start(cli, "p2s", "connect", "--dir", profiles, "--dns", "off")
	waitClient(t, profiles, proc)
	// The row appears by the page's own update.
	run("laptop in the client list", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#client-laptop1")))
	shot("clients")
	run("phone-sized clients page", 20*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#client-laptop1")))
	shot("clients-phone")
	run("desktop again", 10*time.Second, chromedp.EmulateViewport(1280, 900))

	// A page of another site posting to the console is refused.
	evil := httptestServer(t, fmt.Sprintf(`<!doctype html><form method="post" action="%s/action/disconnect">
<input name="name" value="laptop1"><input name="confirm" value="yes"></form><script>document.forms[0].submit()</script>`, base))
	run("cross-site post", 30*time.Second, chromedp.Navigate(strings.Replace(evil, "127.0.0.1", "localhost", 1)),
		chromedp.WaitVisible(chromedp.CSS("body")), chromedp.Sleep(time.Second))
	refused := browserRun(b, "cross-site post's answer", 10*time.Second, chromedp.Text(chromedp.CSS("body")))
	if !strings.Contains(refused, "cross-origin request refused") {
		t.Fatalf("the cross-site post got %q", refused)
	}
	shot("cross-site-refused")
	if !findClient(t, gwB, "laptop1") {
		t.Fatal("the cross-site post disconnected the laptop")
	}

	// A second laptop, invited on the command line, disconnected from the
	// page: gone from the gateway within 5 s.
	// The token is the first line (the note after it goes to stderr).
	out2 := l.gwB.MustRun(cli, "p2s", "invite", "laptop2", "--group", "staff", "--expires", "1h", "--socket", filepath.Join(l.dirB, "run", "p2s.sock"))
	laptop2, _ := l.addWANHost(t, "laptop2")
	profiles2 := filepath.Join(t.TempDir(), "laptop2")
	ectx, cancel = context.WithTimeout(ctx, 60*time.Second)
	out, err = laptop2.Run(ectx, cli, "p2s", "enroll", "https://"+s2sWanB+":8445", "--token", strings.Fields(out2)[0], "--dir", profiles2)
	cancel()
	if err != nil {
		t.Fatalf("laptop2 enroll: %v\n%s", err, out)
	}
	proc2 := laptop2.Start(cli, "p2s", "connect", "--dir", profiles2, "--dns", "off")
	waitClient(t, profiles2, proc2)
	run("disconnect: confirmation", 30*time.Second, chromedp.Navigate(base+"/clients"), chromedp.WaitVisible(chromedp.CSS("#disconnect-laptop2")),
		chromedp.Click(chromedp.CSS("#disconnect-laptop2")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	shot("disconnect-confirm")
	before, ok := clientSession(t, gwB, "laptop2")
	if !ok {
		t.Fatal("laptop2 is not connected before the disconnect")
	}
	start := time.Now()
	run("disconnect", 30*time.Second, chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#done")))
	// Its session ends (the gateway logs it), then its client, which
	// keeps its certificate, record and lease, reconnects by itself: a
	// new session with the same address.
	var gone, back time.Duration
	for back == 0 {
		if gone == 0 && slices.ContainsFunc(strings.Split(gwB.proc.Output(), "\n"), func(l string) bool {
			return strings.Contains(l, `msg="p2s client disconnected"`) && strings.Contains(l, "client=laptop2 reason=shutdown")
		}) {
			gone = time.Since(start)
		}
		if now, ok := clientSession(t, gwB, "laptop2"); ok && now.Since.After(before.Since) {
			if gone == 0 {
				t.Fatalf("laptop2 has a new session but the gateway logged no end of the old one\n%s", gwB.proc.Output())
			}
			if strings.Join(now.Addresses, ",") != strings.Join(before.Addresses, ",") {
				t.Errorf("laptop2 came back with %v, had %v", now.Addresses, before.Addresses)
			}
			back = time.Since(start)
		}
		if back == 0 && time.Since(start) > 15*time.Second {
			t.Fatalf("laptop2 not back 15 s after the disconnect (session ended after %s)\n%s\n%s", gone, gwB.proc.Output(), proc2.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if gone > 5*time.Second {
		t.Errorf("laptop2's session ended %s after the disconnect, want within 5 s", gone)
	}
	t.Logf("a disconnect from the page ended laptop2's session in %s; its client was back by itself in %s",
		gone.Round(10*time.Millisecond), back.Round(10*time.Millisecond))
	run("laptop2 back on the page", 20*time.Second, chromedp.Navigate(base+"/clients"), chromedp.WaitVisible(chromedp.CSS("#client-laptop2")))
	if !findClient(t, gwB, "laptop1") {
		t.Fatal("disconnecting laptop2 cut laptop1")
	}

	// A refused connection shows on the refusals page by its update: B's
	// control channel refuses a client without a certificate.
	run("refusals page", 20*time.Second, chromedp.Navigate(base+"/refusals"), chromedp.WaitVisible(chromedp.CSS("h1")))
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	raw, err := nsforward.Dial(dctx, l.gwA.Namespace(), "tcp", s2sWanB+":8443")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, &tls.Config{RootCAs: rootPool(root), ServerName: "gw-b.s2s.test", MinVersion: tls.VersionTLS13})
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	err = tc.Handshake()
	if err == nil {
		// TLS 1.3: the server's refusal arrives with the first read.
		_, err = tc.Read(make([]byte, 1))
	}
	tc.Close()
	t.Logf("B's control channel without a client certificate: %v", err)
	run("a refusal on the page", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#refusals")))
	shot("refusals")
	if text := browserRun(b, "refusals table", 10*time.Second, chromedp.Text(chromedp.CSS("#refusals"))); !strings.Contains(text, s2sWanA) {
		t.Errorf("the refusals page does not show the refused connection from %s: %q", s2sWanA, text)
	} else {
		t.Logf("refusals page: %q", text)
	}

	// A revoke from the page: cut within 5 s.
	run("revoke: confirmation", 30*time.Second, chromedp.Navigate(base+"/clients"), chromedp.WaitVisible(chromedp.CSS("#revoke-laptop1")),
		chromedp.Click(chromedp.CSS("#revoke-laptop1")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	shot("revoke-confirm")
	start = time.Now()
	run("revoke", 30*time.Second, chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#done")))
	for {
		if !findClient(t, gwB, "laptop1") {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the revoked laptop is still connected 5 s after the revoke\n%s", gwB.proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("a revoke from the page cut the laptop in %s", time.Since(start).Round(10*time.Millisecond))
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = laptopHost.Run(rctx, "ping", "-c", "3", "-i", "0.5", "-W", "1", s2sHostB)
	cancel()
	if err == nil {
		t.Fatal("the revoked laptop still reaches site B")
	}
	if !strings.Contains(gwB.proc.Output(), "console audit: action done") || !strings.Contains(gwB.proc.Output(), "action=revoke") {
		t.Errorf("no audit line for the revoke in the gateway's log")
	}

	// A reload that changes a restart-only setting is refused, and the
	// gateway page says so.
	appendFile(t, cfgB, "path_mtu: 1400\n")
	if err := gwB.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	run("refused reload", 20*time.Second, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#reload .bad")))
	shot("gateway-reload-refused")
	// (path_mtu changes the interface's MTU, the first setting that
	// differs.)
	const needsRestart = "interface: this change needs a restart"
	if text := browserRun(b, "last reload", 10*time.Second, chromedp.Text(chromedp.CSS("#reload"))); !strings.Contains(text, needsRestart) {
		t.Errorf("the last reload reads %q, want the refusal %q", text, needsRestart)
	}
	// intransit status shows it too: the console reads the same report.
	stOut, _ := l.gwB.Run(ctx, cli, "status", "--socket", gwB.socket)
	if !strings.Contains(string(stOut), "reload    refused ") || !strings.Contains(string(stOut), needsRestart) {
		t.Errorf("intransit status does not show the refused reload:\n%s", stOut)
	}

	// Gateway A's console, off loopback: admin certificates only.
	roots := rootPool(root)
	get := func(cert *tls.Certificate) (int, string, error) {
		cfg := &tls.Config{RootCAs: roots, ServerName: "gw-a.s2s.test", MinVersion: tls.VersionTLS13}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: cfg, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nsforward.Dial(ctx, l.gwA.Namespace(), network, addr)
		}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		resp, err := c.Get("https://" + s2sWanA + ":9443/")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
	}{{"no certificate", nil}, {"a client certificate", &clientCert}} {
		code, body, err := get(tc.cert)
		if err == nil && code != http.StatusForbidden {
			t.Errorf("%s: HTTP %d, want refused", tc.name, code)
		}
		t.Logf("gateway A's console, %s: refused (%v %d %.80q)", tc.name, err, code, body)
	}
	if code, body, err := get(&adminCert); err != nil || code != http.StatusOK || !strings.Contains(body, "intransit://s2s/admin/ops1") {
		t.Errorf("admin certificate: %v HTTP %d %.200q\n%s", err, code, body, gwA.proc.Output())
	}
}

// cspWatch collects the page's Content-Security-Policy violations.
const cspWatch = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`

// firstPaint is the page's first contentful paint in milliseconds after
// navigation started, from the Performance API, waiting for the entry
// when the page has not painted yet.
const firstPaint = `new Promise(resolve => {
  const e = performance.getEntriesByName('first-contentful-paint')[0];
  if (e) { resolve(e.startTime); return; }
  new PerformanceObserver(list => { for (const p of list.getEntries()) if (p.name === 'first-contentful-paint') resolve(p.startTime); })
    .observe({type: 'paint', buffered: true});
})`

// newBrowser starts a headless chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// browser is a chromium driven by the test.
type browser struct {
	t   *testing.T
	ctx context.Context
	log func() string // the gateway's log, for failures
}

// browserRun runs one action with a timeout and returns its value; a
// failure ends the test with the page's text and the gateway's log.
func browserRun[T any](b *browser, what string, timeout time.Duration, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		body, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
		b.t.Fatalf("%s: %v\npage: %.2000s\ngateway log:\n%s", what, err, body, b.log())
	}
	return v
}

// rowBytes reads the byte count a table cell carries in data-bytes.
func rowBytes(b *browser, sel string) uint64 {
	b.t.Helper()
	a := browserRun(b, "read "+sel, 10*time.Second, chromedp.AttributeValue(chromedp.CSS(sel), "data-bytes"))
	n, err := strconv.ParseUint(a.Value, 10, 64)
	if !a.Exists || err != nil {
		b.t.Fatalf("%s data-bytes %q: %v", sel, a.Value, err)
	}
	return n
}

// waitClient waits until the laptop's client reports it is connected.
func waitClient(t *testing.T, profiles string, proc *netlab.Process) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := client.GetStatus(ctx, filepath.Join(profiles, client.DefaultProfile))
		cancel()
		if err == nil && connected(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the laptop did not connect within 30 s: %+v %v\n%s", st, err, proc.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// clientSession returns a client's row in the gateway's point-to-site
// status, if it is connected.
func clientSession(t *testing.T, g *gateway, name string) (status.P2SClient, bool) {
	t.Helper()
	rep := g.status()
	if rep.P2S == nil {
		t.Fatal("gateway status has no p2s section")
	}
	for _, c := range rep.P2S.Clients {
		if c.Name == name {
			return c, true
		}
	}
	return status.P2SClient{}, false
}

// statusSource is a gateway's status report, read on its status socket,
// as a console.Source.
type statusSource struct {
	t *testing.T
	g *gateway
}

// Report implements console.Source; an unreadable status fails the test
// (Errorf: the suite calls Report from several goroutines).
func (s statusSource) Report() status.Report {
	r, err := s.g.tryStatus()
	if err != nil {
		s.t.Errorf("status of %s: %v", s.g.host.Name(), err)
		return status.Report{}
	}
	return *r
}

// findClient looks a client up in the gateway's point-to-site status.
func findClient(t *testing.T, g *gateway, name string) bool {
	t.Helper()
	_, ok := clientSession(t, g, name)
	return ok
}

// httptestServer serves one HTML page on 127.0.0.1 and returns its URL.
func httptestServer(t *testing.T, page string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// rootPool is a pool of one root.
func rootPool(root *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(root)
	return p
}

// appendFile appends text to a file.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
