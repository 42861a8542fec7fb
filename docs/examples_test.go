package docs

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleHosts are the gateways the examples are written for: name and
// WAN address of their certificates.
var exampleHosts = []struct{ name, wan string }{
	{"gw-a", "192.0.2.1"}, {"gw-b", "198.51.100.2"}, {"gw-c", "203.0.113.10"}, {"gw-d", "203.0.113.20"},
	// gw-d's client certificate for etcd (from the etcd members' CA in
	// docs/fleet.md; here the same PKI, whose bundle stands for that CA).
	{"gw-d-etcd", "203.0.113.20"},
}

// installedDirs are the directories the examples name, as installed; the
// test puts each under its own temporary root.
var installedDirs = []string{"/etc/intransit", "/var/lib/intransitd", "/run/intransitd"}

// TestExamplesPassCheck prepares every file the examples name with the
// real CLI (a PKI named acme, the gateways' certificates and keys, the CA
// bundle and the CRL), then runs the real intransitd --check on each
// example with its paths moved under a temporary root.
func TestExamplesPassCheck(t *testing.T) {
	cli, daemon := tool(t, "intransit"), tool(t, "intransitd")
	examples, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(examples) < 4 {
		t.Fatalf("examples: %v %v", examples, err)
	}
	root := t.TempDir()
	moved := make([]string, len(installedDirs))
	for i, d := range installedDirs {
		moved[i] = filepath.Join(root, d)
		if err := os.MkdirAll(moved[i], 0o700); err != nil {
			t.Fatal(err)
		}
	}
	etc, state := moved[0], moved[1]
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
			t.Fatalf("intransit %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(etc, "pki.key")
	if err := os.WriteFile(keyFile, master, 0o600); err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(state, "pki")
	ca := []string{"--dir", pkiDir, "--key-file", keyFile}
	run(append([]string{"pki", "init", "--name", "acme"}, ca...)...)
	for _, h := range exampleHosts {
		run(append([]string{"pki", "issue", h.name, "--profile", "gateway", "--san", h.wan, "--out", etc}, ca...)...)
	}
	run(append([]string{"pki", "crl", "--out", filepath.Join(etc, "crl")}, ca...)...)
	// A gateway that renews its certificate keeps it in its state
	// directory, where the daemon may write (the shipped unit makes /etc
	// read-only): the same files there too.
	for _, h := range exampleHosts {
		for _, f := range []string{h.name + "-chain.pem", h.name + ".key"} {
			b, err := os.ReadFile(filepath.Join(etc, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(state, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	bundle, err := os.ReadFile(filepath.Join(pkiDir, "ca-bundle.pem"))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := os.ReadFile(filepath.Join(etc, "crl.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{
		filepath.Join(etc, "ca-bundle.pem"): bundle, filepath.Join(etc, "etcd-ca.pem"): bundle,
		filepath.Join(pkiDir, "crl.pem"): crl,
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	absPath := regexp.MustCompile(`(?m)(?:^|[\s:\[{,])(/[a-z][^\s,\]}]*)`)
	for _, ex := range examples {
		b, err := os.ReadFile(ex)
		if err != nil {
			t.Fatal(err)
		}
		text := stripComments(string(b))
		for _, m := range absPath.FindAllStringSubmatch(text, -1) {
			if p := m[1]; p != "/intransit/" && !hasAnyPrefix(p, installedDirs) {
				t.Errorf("%s names %s, outside %v: the test cannot prepare it", ex, p, installedDirs)
			}
		}
		for i, d := range installedDirs {
			text = strings.ReplaceAll(text, d, moved[i])
		}
		conf := filepath.Join(etc, filepath.Base(ex))
		if err := os.WriteFile(conf, []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(daemon, "--config", conf, "--check").CombinedOutput()
		if err != nil {
			t.Errorf("intransitd --check on %s: %v\n%s", ex, err, out)
			continue
		}
		t.Logf("%s: %s", ex, strings.TrimSpace(string(out)))
	}
}

// stripComments removes YAML comments (the examples have no # in values).
func stripComments(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "#"); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

// hasAnyPrefix reports whether path s is one of dirs or under one.
func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}
