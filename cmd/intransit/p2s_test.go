package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/p2s/client"
	"intransit/p2s/enroll"
	"intransit/p2s/store/bolt"
	"intransit/pki"
	"intransit/tlspolicy"
)

func runP2SCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runP2SCLIInput(t, "", args...)
}

// runP2SCLIInput is runP2SCLI with input on standard input.
func runP2SCLIInput(t *testing.T, input string, args ...string) (string, int) {
	t.Helper()
	root := newRootCommand()
	root.SetIn(strings.NewReader(input))
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

// p2sGateway serves the enrollment API over HTTPS on loopback and the
// admin socket, with a real PKI, as intransitd does.
func p2sGateway(t *testing.T) (url, socket string) {
	t.Helper()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "clitest"})
	is, err := ca.Issue(context.Background(), pki.Request{Profile: pki.ProfileGateway, Name: "gw",
		DNSNames: []string{"gw.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{is.Certificate.Raw, ca.Intermediate().Raw}, PrivateKey: is.Key}
	st, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := &enroll.Server{Store: st, Groups: []string{"default"}, ControlPort: 8444,
		Authority: enroll.NewCAAuthority(ca, 0, 0)}
	prof, _ := tlspolicy.Builtin(tlspolicy.Modern)
	cfg, err := tlspolicy.ServerConfig(tlspolicy.Options{Profile: prof, Certificate: &tlspolicy.StaticCertificate{Cert: cert}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = cfg
	hs.StartTLS()
	t.Cleanup(hs.Close)
	socket = filepath.Join(t.TempDir(), "p2s.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	admin := &http.Server{Handler: srv.AdminHandler()}
	go admin.Serve(ln)
	t.Cleanup(func() { admin.Close() })
	return hs.URL, socket
}

func TestP2SInviteEnrollCommands(t *testing.T) {
	url, socket := p2sGateway(t)
	out, code := runP2SCLI(t, "p2s", "invite", "alice", "--socket", socket, "--output", "json")
	if code != exitOK {
		t.Fatalf("invite: exit %d: %s", code, out)
	}
	var inv enroll.Invitation
	if err := json.Unmarshal([]byte(out), &inv); err != nil || inv.Name != "alice" {
		t.Fatalf("invite output %q: %v", out, err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(inv.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = runP2SCLI(t, "p2s", "enroll", url, "--token-file", tokenFile, "--dir", dir)
	if code != exitOK || !strings.Contains(out, "enrolled as alice") {
		t.Fatalf("enroll: exit %d: %s", code, out)
	}
	if strings.Contains(out, "warning") {
		t.Errorf("enroll with --token-file warned: %s", out)
	}
	prof := filepath.Join(dir, client.DefaultProfile)
	for _, f := range []string{client.KeyFile, client.WireGuardFile} {
		fi, err := os.Stat(filepath.Join(prof, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, err, fi)
		}
	}
	if _, err := client.LoadMaterial(prof); err != nil {
		t.Errorf("profile material: %v", err)
	}
	// The token is spent: a second laptop is refused (exit 1), whether
	// the token comes on standard input or, with a warning, as an argument.
	out, code = runP2SCLIInput(t, inv.Token+"\n", "p2s", "enroll", url, "--token-file", "-", "--dir", t.TempDir())
	if code != exitFinding || !strings.Contains(out, enroll.ReasonTokenUsed) {
		t.Errorf("reused token on standard input: exit %d: %s", code, out)
	}
	out, code = runP2SCLI(t, "p2s", "enroll", url, "--token", inv.Token, "--dir", t.TempDir())
	if code != exitFinding || !strings.Contains(out, enroll.ReasonTokenUsed) {
		t.Errorf("reused token as an argument: exit %d: %s", code, out)
	}
	if !strings.Contains(out, "warning: the one-time token is on the command line") {
		t.Errorf("--token did not warn that argv is visible: %s", out)
	}
	// Enrolling over an existing profile cannot run (exit 2).
	if out, code = runP2SCLI(t, "p2s", "enroll", url, "--token", inv.Token, "--dir", dir); code != exitCannot {
		t.Errorf("enroll over a profile: exit %d: %s", code, out)
	}
}

func TestP2SCommandErrors(t *testing.T) {
	_, socket := p2sGateway(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"p2s", "invite", "bob", "--group", "nogroup", "--socket", socket}, exitFinding, "nogroup"},
		{[]string{"p2s", "invite", "bob", "--socket", filepath.Join(dir, "none.sock")}, exitCannot, "none.sock"},
		{[]string{"p2s", "enroll", "https://127.0.0.1:1"}, exitCannot, "--token-file is required"},
		{[]string{"p2s", "enroll", "https://127.0.0.1:1", "--token", "itp1.x", "--token-file", "-"}, exitCannot, "not both"},
		{[]string{"p2s", "enroll", "https://127.0.0.1:1", "--token-file", "-"}, exitCannot, "standard input is empty"},
		{[]string{"p2s", "enroll", "https://127.0.0.1:1", "--token-file", filepath.Join(dir, "none")}, exitCannot, filepath.Join(dir, "none")},
		{[]string{"p2s", "enroll", "https://127.0.0.1:1", "--token", "itp1.bad", "--dir", dir}, exitCannot, "4 parts"},
		{[]string{"p2s", "status", "--dir", dir}, exitFinding, "no client running"},
		{[]string{"p2s", "status", "--dir", dir, "--profile", "Bad/Name"}, exitCannot, "profile name"},
		{[]string{"p2s", "disconnect", "--dir", dir}, exitOK, "no client running"},
		{[]string{"p2s", "connect", "--dir", dir}, exitCannot, "enroll first"},
		{[]string{"p2s", "connect", "--dir", dir, "--log-level", "loud"}, exitCannot, `log level "loud": want debug, info, warn or error`},
		{[]string{"p2s", "export", "phone", "--format", "json", "--socket", socket}, exitCannot, "wg-quick"},
	} {
		out, code := runP2SCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q; want exit %d containing %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}
