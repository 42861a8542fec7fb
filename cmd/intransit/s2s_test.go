package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/status"
	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/tunnel/failclosed"
	"intransit/tunnel/failclosed/failclosedtest"
)

func runS2SCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		out.WriteString(err.Error())
	}
	return out.String(), exitCode(err)
}

// TestS2SCheckConfig: check-config is intransitd --check (configcheck.File):
// a good configuration with real PKI files passes with its remotes; one
// with an overlapping prefix, a key that is not the certificate's and a
// missing CRL reports all three with file, line and field, in the table
// and in JSON, exit 1; an unreadable file is exit 2.
func TestS2SCheckConfig(t *testing.T) {
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "cc"})
	dir := t.TempDir()
	var chain, key, otherKey string
	for i, name := range []string{"gw-a", "gw-b"} {
		is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: name, DNSNames: []string{name + ".test"}}, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		files, err := ca.WriteIssued(dir, is)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			chain, key = files.Chain, files.Key
		} else {
			otherKey = files.Key
		}
	}
	crl, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(dir, "crl.pem")
	if err := os.WriteFile(crlFile, pki.PEMCRL(crl.DER), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(ca.Dir(), pki.BundleFile)
	config := func(key, crl, allowed string) string {
		return "identity:\n  cert: " + chain + "\n  key: " + key + "\n  ca: " + bundle + "\n  crl: " + crl + "\n" + // 1-5
			"listen: {udp: 192.0.2.1:51820}\nsite_prefixes: [10.1.0.0/24]\n" + // 6-7
			"remotes:\n  - name: site-b\n    identity: intransit://t/gateway/b\n    control: [192.0.2.2:8443]\n" + // 8-11
			"    allowed_prefixes: [" + allowed + "]\n" // 12
	}
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(config(key, crlFile, "10.2.0.0/24")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runS2SCLI(t, "s2s", "check-config", path)
	if code != exitOK || !strings.Contains(out, path+": ok") || !strings.Contains(out, "site-b") || !strings.Contains(out, "dials") {
		t.Errorf("good config: exit %d\n%s", code, out)
	}

	missing := filepath.Join(dir, "none.crl")
	if err := os.WriteFile(path, []byte(config(otherKey, missing, "10.1.0.0/25")), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + ":3: identity.key: is not the key of the certificate in identity.cert (" + chain + ")",
		path + ":5: identity.crl: cannot read " + missing + ": no such file or directory",
		path + ":12: remotes[0].allowed_prefixes[0]:",
	}
	out, code = runS2SCLI(t, "s2s", "check-config", path)
	t.Logf("check-config:\n%s", out)
	lines := strings.Split(out, "\n")
	if code != exitFinding || len(lines) != 4 || !strings.HasSuffix(lines[3], path+": 3 errors") {
		t.Errorf("three findings: exit %d\n%s", code, out)
	}
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d does not start with %q\n%s", i+1, w, out)
		}
	}

	out, code = runS2SCLI(t, "s2s", "check-config", path, "--output", "json")
	var res checkResult
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if code != exitFinding || res.OK || len(res.Findings) != 3 {
		t.Fatalf("json: exit %d, result %+v", code, res)
	}
	for i, f := range res.Findings {
		if f.File != path || !strings.HasPrefix(f.Error(), want[i]) || f.Msg == "" {
			t.Errorf("json finding %d: %+v, want %q", i, f, want[i])
		}
	}
	if _, code = runS2SCLI(t, "s2s", "check-config", filepath.Join(dir, "missing.yaml")); code != exitCannot {
		t.Errorf("missing file: exit %d, want %d", code, exitCannot)
	}
}

func TestStatusCommand(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "status.sock")
	ln, err := status.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rep := status.Report{Time: now,
		Gateway: status.Gateway{Identity: "intransit://t/gateway/a", Interface: "it0", MTU: 1380, SitePrefixes: []string{"10.1.0.0/24"}},
		Peers: []status.Peer{
			{Name: "site-b", State: status.StateUp, Transport: "quic", Endpoint: "quic://192.0.2.2:443", LastHandshake: now.Add(-3 * time.Second),
				RxBytes: 3 << 20, TxBytes: 512, PSKEpoch: 4, PSKInstalled: now.Add(-20 * time.Second), Routes: []string{"10.2.0.0/24"}},
		},
		Blocks: []status.Block{{Name: "site-b", Table: "inet intransit_guard_it0", Interface: "it0", Prefixes: []string{"10.2.0.0/24"},
			State: status.BlockArmed, Reason: "tunnel up: traffic to these prefixes leaves only through it0", Rejected: 42}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reports := make(chan status.Report, 3)
	reports <- rep
	down := rep
	down.Peers = append(append([]status.Peer(nil), rep.Peers...), status.Peer{Name: "site-c", State: status.StateRefused, Reason: "revoked", Detail: "certificate revoked"})
	reports <- down
	degraded := rep
	degraded.Peers = []status.Peer{{Name: "site-b", State: status.StateDegraded, Reason: "data_plane", Detail: "no answer through the tunnel for 4s over udp", Transport: "udp"}}
	reports <- degraded
	go func() {
		_ = status.Serve(ctx, ln, func() status.Report { return <-reports }, slog.New(slog.DiscardHandler))
	}()

	out, code := runS2SCLI(t, "status", "--socket", sock)
	for _, want := range []string{"intransit://t/gateway/a", "site-b", "quic://192.0.2.2:443", "3.0 MiB", "#4 20s ago", "10.2.0.0/24",
		"fail-closed blocks (table inet intransit_guard_it0, only way out it0)", "site-b  armed  10.2.0.0/24   42        tunnel up"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	if code != exitOK {
		t.Errorf("all up: exit %d", code)
	}
	out, code = runS2SCLI(t, "status", "--socket", sock, "--output", "json")
	if code != exitFinding || !strings.Contains(out, `"reason": "revoked"`) || !strings.Contains(out, "not up: site-c") || !strings.Contains(out, `"state": "armed"`) {
		t.Errorf("one refused: exit %d\n%s", code, out)
	}
	out, code = runS2SCLI(t, "status", "--socket", sock)
	if code != exitFinding || !strings.Contains(out, "degraded") || !strings.Contains(out, "no answer through the tunnel for 4s over udp") {
		t.Errorf("data plane silent: exit %d\n%s", code, out)
	}
	if _, code = runS2SCLI(t, "status", "--socket", filepath.Join(t.TempDir(), "none.sock")); code != exitCannot {
		t.Errorf("no daemon: exit %d, want %d", code, exitCannot)
	}
}

func TestS2SUnblock(t *testing.T) {
	k := &failclosedtest.Memory{}
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := newS2SUnblockCommand(k)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		if err != nil {
			out.WriteString(err.Error())
		}
		return out.String(), exitCode(err)
	}
	if err := k.Install(context.Background(), failclosed.Policy{Interface: "itd-gone", Lockdown: true}); err != nil {
		t.Fatal(err)
	}
	if out, code := run("--interface", "itd-gone"); code != exitOK || !strings.Contains(out, "lifted (table inet intransit_guard_itd_gone removed)") {
		t.Errorf("lift: exit %d\n%s", code, out)
	}
	if ok, _ := k.Installed(context.Background(), "intransit_guard_itd_gone"); ok {
		t.Error("the table is still there")
	}
	if out, code := run("--interface", "itd-gone", "--output", "json"); code != exitOK || !strings.Contains(out, `"lifted": false`) {
		t.Errorf("nothing to lift: exit %d\n%s", code, out)
	}
	// An interface that exists has a daemon on it (lo stands in for one).
	if out, code := run("--interface", "lo"); code != exitFinding || !strings.Contains(out, "intransitd runs on it") {
		t.Errorf("running daemon: exit %d\n%s", code, out)
	}
	if out, code := run("--interface", "bad name"); code != exitCannot {
		t.Errorf("bad interface name: exit %d\n%s", code, out)
	}
	k.Failing = errors.New("nft: permission denied")
	if out, code := run("--interface", "itd-gone"); code != exitCannot || !strings.Contains(out, "permission denied") {
		t.Errorf("nft failing: exit %d\n%s", code, out)
	}
}

// TestWriteStatusLaptopsOnly: a gateway without the site-to-site side
// says so instead of an empty tunnel line.
func TestWriteStatusLaptopsOnly(t *testing.T) {
	var b bytes.Buffer
	rep := &status.Report{Gateway: status.Gateway{Identity: "intransit://t/gateway/c", SitePrefixes: []string{"10.3.0.0/24"}}}
	if err := writeStatus(&b, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "tunnel    none: a gateway for laptops only") || strings.Contains(b.String(), "mtu 0") {
		t.Errorf("status of a gateway for laptops only:\n%s", b.String())
	}
}
