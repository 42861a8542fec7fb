package netnstests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"intransit/internal/testutil/pkitest"
	"intransit/netns-tests/netlab"
	"intransit/p2s/client"
	"intransit/pki"
	"intransit/tunnel"
)

// TestP2SSleepLinkAndBadInput: a laptop's client stopped for 60 s
// (SIGSTOP, as in a suspended laptop) and continued reconnects by itself;
// another laptop's link goes down and up and comes back with a new
// underlay address, and reconnects by itself. While the first sleeps, bad
// input is refused with its reason: an expired token, a reused token, a
// CSR with a 1024-bit RSA key (sent with openssl and curl), and a client
// certificate from another CA.
func TestP2SSleepLinkAndBadInput(t *testing.T) {
	t.Parallel()
	netlab.RequireTools(t, "openssl", "curl")
	l := newP2SLab(t)
	l.start()
	dave, erin := l.addLaptop("dave"), l.addLaptop("erin")
	erinToken := l.invite("erin", "1h")
	for _, e := range []struct {
		lp    *laptop
		token string
	}{{dave, l.invite("dave", "1h")}, {erin, erinToken}} {
		if out, err := e.lp.enroll(e.token); err != nil {
			t.Fatalf("%s: enroll: %v\n%s", e.lp.name, err, out)
		}
		e.lp.connect()
	}
	daveAddr := dave.wait(20*time.Second, "connected", connected).Addresses[0]
	erinAddr := erin.wait(20*time.Second, "connected", connected).Addresses[0]

	if err := dave.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()

	// Link down and up, then a new underlay address (as after a move to
	// another network).
	ifc := erin.link.B
	ifc.SetUp(false)
	time.Sleep(3 * time.Second)
	ifc.SetUp(true)
	erin.host.MustRun("ip", "addr", "del", "198.51.102.2/24", "dev", ifc.Name())
	erin.host.MustRun("ip", "addr", "add", "198.51.102.7/24", "dev", ifc.Name())
	erin.host.MustRun("ip", "route", "replace", "default", "via", "198.51.102.254")
	st := erin.wait(30*time.Second, "reconnected after link down/up", func(st *client.Status) bool {
		return connected(st) && st.Sessions >= 2
	})
	if st.Addresses[0] != erinAddr {
		t.Errorf("erin came back with %s, had %s", st.Addresses[0], erinAddr)
	}
	if !erin.ping(p2sSiteHost) {
		t.Errorf("erin cannot reach the site after the link change")
	}
	c, _ := l.gwClient("erin")
	if !strings.Contains(c.Endpoint, "198.51.102.7") {
		t.Errorf("gateway sees erin at %q, want the new address 198.51.102.7", c.Endpoint)
	}

	// Bad input, each refused with its reason.
	gina := l.addLaptop("gina")
	expired := l.invite("frank", "1s")
	time.Sleep(1500 * time.Millisecond)
	for _, tc := range []struct{ what, token, reason string }{
		{"expired token", expired, "token_expired"},
		{"reused token", erinToken, "token_used"},
	} {
		gina.dir = t.TempDir()
		out, err := gina.enroll(tc.token)
		var ee *exec.ExitError
		if err == nil || !strings.Contains(out, tc.reason) {
			t.Errorf("%s: err %v, output %q; want a refusal naming %s", tc.what, err, out, tc.reason)
		} else if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("%s: exit %v, want 1 (refusal)", tc.what, err)
		}
	}
	weakDir := t.TempDir()
	gina.host.MustRun("openssl", "req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", filepath.Join(weakDir, "k.pem"),
		"-out", filepath.Join(weakDir, "csr.pem"), "-subj", "/CN=gina")
	csr, err := os.ReadFile(filepath.Join(weakDir, "csr.pem"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"token": l.invite("gina", "1h"), "csr": string(csr)})
	if err := os.WriteFile(filepath.Join(weakDir, "body.json"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	out, _ := gina.host.Run(ctx, "curl", "-sS", "--cacert", l.caFile, "-H", "Content-Type: application/json",
		"--data-binary", "@"+filepath.Join(weakDir, "body.json"), "https://"+p2sWan+":8445/p2s/v1/enroll")
	cancel()
	if !strings.Contains(string(out), "csr_refused") || !strings.Contains(string(out), "rsa-1024") {
		t.Errorf("weak CSR: gateway answered %s; want csr_refused naming rsa-1024", out)
	}

	// A client certificate from another CA, presented with a profile that
	// trusts the right gateway.
	other := pkitest.NewCA(t, pki.InitOptions{Name: "other"})
	is, err := other.Issue(context.Background(), pki.Request{Profile: pki.ProfileClient, Name: "mallory"}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	files, err := other.WriteIssued(t.TempDir(), is)
	if err != nil {
		t.Fatal(err)
	}
	gina.dir = t.TempDir()
	prof := filepath.Join(gina.dir, client.DefaultProfile)
	if err := os.MkdirAll(prof, 0o700); err != nil {
		t.Fatal(err)
	}
	erinProf := filepath.Join(erin.dir, client.DefaultProfile)
	wg, _ := tunnel.GeneratePrivateKey()
	for dst, src := range map[string]string{client.ProfileFile: filepath.Join(erinProf, client.ProfileFile),
		client.CAFile: filepath.Join(erinProf, client.CAFile), client.ChainFile: files.Chain, client.KeyFile: files.Key} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(prof, dst), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(prof, client.WireGuardFile), []byte(wg.Base64()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gina.connect()
	deadline := time.Now().Add(15 * time.Second)
	refused := false
	for !refused && time.Now().Before(deadline) {
		for _, r := range l.p2sStatus().Refusals {
			if r.Reason == "chain" && strings.HasPrefix(r.Remote, "198.51.103.2:") {
				refused = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !refused {
		t.Errorf("the foreign client certificate was not refused for its chain: %+v", l.p2sStatus().Refusals)
	}
	if _, ok := l.gwClient("mallory"); ok {
		t.Errorf("mallory was admitted")
	}
	if err := gina.proc.Stop(10 * time.Second); err != nil {
		t.Logf("gina: %v", err)
	}

	// A static wg-quick profile, used by the stock wireguard-go with wg(8);
	// removing it on the gateway cuts the device.
	hank := l.addLaptop("hank")
	confDir := t.TempDir()
	conf, png := filepath.Join(confDir, "hank.conf"), filepath.Join(confDir, "hank.png")
	l.gwHost.MustRun(l.cli, "p2s", "export", "hank", "--format", "wg-quick", "--group", "staff",
		"--socket", filepath.Join(l.dir, "run", "p2s.sock"), "--out", conf, "--qr", png)
	for _, f := range []string{conf, png} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi)
		}
	}
	if b, _ := os.ReadFile(png); len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Errorf("the QR code is not a PNG")
	}
	text, _ := os.ReadFile(conf)
	for _, want := range []string{"no post-quantum PSK rotation", "UDP only", "intransit p2s remove hank", "Endpoint = " + p2sWan + ":51821", "AllowedIPs = 10.1.0.0/24"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("exported profile lacks %q:\n%s", want, text)
		}
	}
	stripped := hank.host.MustRun("wg-quick", "strip", conf)
	wgConf := filepath.Join(confDir, "hank.wg")
	if err := os.WriteFile(wgConf, []byte(stripped), 0o600); err != nil {
		t.Fatal(err)
	}
	var hankAddr string
	for _, line := range strings.Split(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, "Address = "); ok {
			hankAddr = strings.Split(v, ", ")[0]
		}
	}
	stock := netlab.GoBuild(t, "golang.zx2c4.com/wireguard", false)
	ifname := fmt.Sprintf("wgh%d", os.Getpid()%100000)
	wgProc := hank.host.Start("env", "WG_PROCESS_FOREGROUND=1", stock, ifname)
	defer wgProc.Stop(5 * time.Second)
	sockDeadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat("/var/run/wireguard/" + ifname + ".sock"); err == nil {
			break
		}
		if time.Now().After(sockDeadline) {
			t.Fatalf("stock wireguard-go did not start:\n%s", wgProc.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	hank.host.MustRun("wg", "setconf", ifname, wgConf)
	hank.host.MustRun("ip", "addr", "add", hankAddr, "dev", ifname)
	hank.host.MustRun("ip", "link", "set", ifname, "mtu", "1420", "up")
	hank.host.MustRun("ip", "route", "add", "10.1.0.0/24", "dev", ifname)
	if !hank.ping(p2sSiteHost) {
		t.Errorf("stock WireGuard with the exported profile cannot reach the site")
	}
	hs := false
	for _, c := range l.p2sStatus().Statics {
		hs = hs || (c.Name == "hank" && !c.LastHandshake.IsZero())
	}
	if !hs {
		t.Errorf("gateway status shows no handshake for static device hank: %+v", l.p2sStatus().Statics)
	}
	l.gwHost.MustRun(l.cli, "p2s", "remove", "hank", "--socket", filepath.Join(l.dir, "run", "p2s.sock"))
	if hank.reaches(p2sSiteHost) {
		t.Errorf("hank still reaches the site after its removal")
	}

	// Dave sleeps for 60 s in all, then continues and comes back alone.
	time.Sleep(time.Until(stopped.Add(60 * time.Second)))
	if _, ok := l.gwClient("dave"); ok {
		t.Errorf("the gateway still lists dave after 60 s of silence")
	}
	if err := dave.proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	st = dave.wait(30*time.Second, "reconnected after SIGSTOP/SIGCONT", func(st *client.Status) bool {
		return connected(st) && st.Sessions >= 2
	})
	if st.Addresses[0] != daveAddr {
		t.Errorf("dave came back with %s, had %s", st.Addresses[0], daveAddr)
	}
	if !dave.ping(p2sSiteHost) {
		t.Errorf("dave cannot reach the site after SIGCONT")
	}
}
