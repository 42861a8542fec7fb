package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/daemonconfig"
	"intransit/internal/testutil/pkitest"
	"intransit/pki"
)

// gatewayFiles are a real PKI's files for a gateway: its chain and key,
// another gateway's key, the CA bundle, the root alone and the CRL.
type gatewayFiles struct {
	dir                  string
	chain, key, otherKey string
	bundle, root, crl    string
}

func newGatewayFiles(t *testing.T) gatewayFiles {
	t.Helper()
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "corp"})
	g := gatewayFiles{dir: t.TempDir(), bundle: filepath.Join(ca.Dir(), pki.BundleFile), root: filepath.Join(ca.Dir(), pki.RootCertFile)}
	for i, name := range []string{"gw-a", "gw-b"} {
		is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: name, DNSNames: []string{name + ".test"}}, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		files, err := ca.WriteIssued(g.dir, is)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			g.chain, g.key = files.Chain, files.Key
		} else {
			g.otherKey = files.Key
		}
	}
	crl, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g.crl = filepath.Join(g.dir, "crl.pem")
	if err := os.WriteFile(g.crl, pki.PEMCRL(crl.DER), 0o644); err != nil {
		t.Fatal(err)
	}
	return g
}

// identity is an identity section naming the files.
func (g gatewayFiles) identity(cert, key, ca string) string {
	return "identity:\n  cert: " + cert + "\n  key: " + key + "\n  ca: " + ca + "\n  crl: " + g.crl + "\n"
}

// TestCheckBinaryReportsEverything runs the real intransitd --check on one
// configuration with a key that is not the certificate's, the root where
// the bundle with the intermediate is needed, an unknown key, the
// site-to-site and point-to-site gateways both on UDP port 443, and a
// missing certificate file: all five are reported, each with its file,
// line and field, then the count, and the exit status is 1.
func TestCheckBinaryReportsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds intransitd")
	}
	bin := filepath.Join(t.TempDir(), "intransitd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	g := newGatewayFiles(t)
	missing := filepath.Join(g.dir, "etcd-client.pem")
	cfg := g.identity(g.chain, g.otherKey, g.root) + // lines 1-5
		"listen: {quic: 0.0.0.0:443}\n" + // 6
		"site_prefixes: [10.1.0.0/24]\n" + // 7
		"psk_rotaton: 2m\n" + // 8
		"p2s:\n" + // 9
		"  listen: {quic: 0.0.0.0:443}\n" + // 10
		"  pools: [10.9.0.0/24]\n" +
		"  groups: [{name: staff}]\n" +
		"store:\n" +
		"  backend: etcd\n" +
		"  etcd:\n" +
		"    endpoints: [https://127.0.0.1:2379]\n" +
		"    ca: " + g.bundle + "\n" +
		"    cert: " + missing + "\n" + // 18
		"    key: " + g.key + "\n"
	path := filepath.Join(g.dir, "intransitd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "--config", path, "--check")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("intransitd --check:\n%s", stderr.String())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	want := []string{
		path + ":3: identity.key: is not the key of the certificate in identity.cert (" + g.chain + ")",
		path + `:4: identity.ca: holds "corp Root CA" but not "corp Intermediate CA", the intermediate that signs the CRL (identity.crl) and is issued by "corp Root CA": name the bundle that holds the intermediate and the root (the PKI writes it as ca-bundle.pem), not the root alone`,
		path + ":8: psk_rotaton: unknown field (did you mean psk_rotation?)",
		path + ":10: p2s.listen.quic: UDP port 443 is also listen.quic: give each listener its own port",
		path + ":18: store.etcd.cert: cannot read " + missing + ": no such file or directory",
		"intransitd: " + path + ": 5 errors",
	}
	got := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q", stdout.String())
	}

	// Fixed, the same file passes.
	fixed := g.identity(g.chain, g.key, g.bundle) + "listen: {quic: 0.0.0.0:443}\nsite_prefixes: [10.1.0.0/24]\n"
	if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--config", path, "--check").CombinedOutput()
	if err != nil || string(out) != path+": ok (0 remotes)\n" {
		t.Errorf("fixed: %v: %s", err, out)
	}
}

// TestReloadRefusedNamesFileLine: a refused reload names the file and line
// of the field at fault, in its log line and in status's last reload.
func TestReloadRefusedNamesFileLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	base := "identity: {cert: a.pem, key: a.key, ca: ca.pem, crl: crl.pem}\nlisten: {udp: 192.0.2.1:51820}\nsite_prefixes: [10.1.0.0/24]\nkeepalive: 5s\n"
	if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := daemonconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text, refused, log string
	}{
		{"a field only a restart applies", strings.Replace(base, "keepalive: 5s", "keepalive: 6s", 1),
			path + ":4: keepalive: this change needs a restart", "at=" + path + ":4"},
		{"an unknown key", base + "psk_rotaton: 2m\n",
			"invalid configuration: " + path + ":5: psk_rotaton: unknown field (did you mean psk_rotation?)", path + ":5: psk_rotaton: unknown field"},
		{"a bad value", strings.Replace(base, "keepalive: 5s", "keepalive: soon", 1),
			"invalid configuration: " + path + `:4: keepalive: invalid duration "soon"`, path + ":4: keepalive: invalid duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			d := &daemon{log: slog.New(slog.NewTextHandler(&logs, nil)), cfg: cfg, path: path}
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			d.reload(context.Background())
			if d.cfg != cfg {
				t.Error("the refused configuration was applied")
			}
			if got := d.lastReload.Refused; !strings.HasPrefix(got, tc.refused) {
				t.Errorf("last reload: %q, want %q", got, tc.refused)
			}
			if !strings.Contains(logs.String(), "reload refused") || !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log: %s, want %s", logs.String(), tc.log)
			}
		})
	}
}

// TestUnitChecksBeforeStart: the shipped unit runs --check before the
// daemon, so that a broken file is reported with every error at once.
func TestUnitChecksBeforeStart(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("..", "..", "systemd", "intransitd.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStartPre=/usr/bin/intransitd --config /etc/intransit/intransitd.yaml --check\n") {
		t.Error("systemd/intransitd.service does not run intransitd --check in ExecStartPre")
	}
}
