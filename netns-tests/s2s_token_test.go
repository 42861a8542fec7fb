package netnstests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/internal/testutil/softhsmtest"
	"intransit/pki"
)

// TestS2STokenGoneKeepsTunnels: gateway A holds a CA whose root and
// intermediate keys are in a PKCS#11 token (SoftHSM2), with neither a
// passphrase nor a key file. When the token goes away while A runs, the
// tunnel to B stays up and carries traffic, and only new signings fail:
// B's certificate renewal through A is answered with an error, B keeps
// its current certificate and shows the failure in its status, and
// retries.
func TestS2STokenGoneKeepsTunnels(t *testing.T) {
	// softhsmtest sets SOFTHSM2_CONF for the test: not parallel (it is
	// short).
	tok := softhsmtest.New(t)
	l := newS2SLab(t)
	ctx := context.Background()
	dir := t.TempDir()
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: filepath.Join(dir, "pki"), Name: "hsm",
		RootKMS: tok.URI.WithObject("root").String(), IntermediateKMS: tok.URI.WithObject("intermediate").String()})
	if err != nil {
		t.Fatal(err)
	}
	p := &s2sPKI{t: t, ca: ca, dir: dir, caFile: filepath.Join(dir, "ca.pem"), crl: filepath.Join(dir, "crl.pem")}
	if err := os.WriteFile(p.caFile, ca.Bundle(), 0o644); err != nil {
		t.Fatal(err)
	}
	p.publishCRL()
	issue := func(name string, backdate time.Duration) (string, string, *pki.Issued) {
		is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: name, DNSNames: []string{name + ".s2s.test"},
			TTL: 10 * time.Minute, Backdate: backdate}, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		files, err := ca.WriteIssued(t.TempDir(), is)
		if err != nil {
			t.Fatal(err)
		}
		return files.Chain, files.Key, is
	}
	l.cfgA.chain, l.cfgA.key, _ = issue("gw-a", 0)
	// B renews about 25 s from now, after the token is gone.
	var firstB *pki.Issued
	l.cfgB.chain, l.cfgB.key, firstB = issue("gw-b", 5*time.Minute+55*time.Second)
	l.cfgA.remotes[0].identity, l.cfgB.remotes[0].identity = p.identity("gw-b"), p.identity("gw-a")
	pkiDir := ca.Dir()
	ca.Close()
	const renewAPI = s2sWanA + ":8444"
	cfgA := withRenewal(t, l.cfgA.write(t, p, l.dirA), "{url: ca}", "pki: {dir: "+pkiDir+", renew: "+renewAPI+"}\n")
	cfgB := withRenewal(t, l.cfgB.write(t, p, l.dirB), "{url: 'https://"+renewAPI+"', identity: '"+p.identity("gw-a")+"'}", "")
	a := startGateway(t, l.gwA, l.bin, cfgA)
	b := startGateway(t, l.gwB, l.bin, cfgB)
	a.waitUp("site-b", 20*time.Second)
	mustPing(t, l.siteA, s2sHostB, 5)

	gone := time.Now()
	if err := os.Rename(tok.TokenDir, tok.TokenDir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tok.TokenDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tok.TokenDir + ".away") })

	// B's renewal fails and is retried; its certificate stays.
	var idB status.Certificate
	for deadline := time.Now().Add(60 * time.Second); ; {
		if c, ok := certNamed(b.status(), "identity"); ok && c.LastError != "" {
			idB = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's renewal did not fail within 60 s of the token going away\nB:\n%s\nA:\n%s", b.proc.Output(), a.proc.Output())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("B's renewal %s after the token went away: state %s, %s", time.Since(gone).Round(100*time.Millisecond), idB.State, idB.Warning)
	if idB.Serial != pki.FormatSerial(firstB.Certificate.SerialNumber) || idB.Renewals != 0 || idB.NextAttempt.IsZero() {
		t.Errorf("B after the failed renewal: %+v; want its first certificate and a next attempt", idB)
	}
	if !strings.Contains(a.proc.Output(), "PKCS#11") {
		t.Errorf("A does not log the token failure:\n%s", grepLines(a.proc.Output(), "renewal"))
	}
	t.Logf("A: %s", grepLines(a.proc.Output(), "could not sign"))

	// The tunnel stays: up on both sides, traffic flows, no session ended.
	mustPing(t, l.siteA, s2sHostB, 20)
	if pa, pb := a.peer("site-b"), b.peer("site-a"); pa.State != status.StateUp || pb.State != status.StateUp {
		t.Errorf("after the token went away: A's site-b %s, B's site-a %s; want both up", pa.State, pb.State)
	}
	for name, g := range map[string]*gateway{"A": a, "B": b} {
		if n := strings.Count(g.proc.Output(), "tunnel down"); n > 0 {
			t.Errorf("gateway %s logged %d tunnel drops:\n%s", name, n, grepLines(g.proc.Output(), "tunnel down"))
		}
	}
	b.stop()
	a.stop()
}
