// Package packaging holds the test of the intransit packages that build.sh
// makes: the .deb is installed with dpkg into a throw-away root, checked,
// reinstalled over an edited configuration and purged.
package packaging

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireTool returns the path of an installed tool; without it the test
// skips, or fails in CI.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true: it must be)", name)
		}
		t.Skipf("%s is not installed; install it to run this test", name)
	}
	return path
}

// run runs a command and fails the test with its output when it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newDpkgRoot makes an empty root with the database dpkg --root expects.
func newDpkgRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg", f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDebInstallsIntoARootAndPurges(t *testing.T) {
	dpkg := requireTool(t, "dpkg")
	out := t.TempDir()
	run(t, []string{"VERSION=0.1.0+test"}, "sh", "build.sh", out)
	debs, _ := filepath.Glob(filepath.Join(out, "intransit_0.1.0+test-1_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("build.sh made no single .deb in %s: %v", out, debs)
	}
	deb := debs[0]
	rpms, _ := filepath.Glob(filepath.Join(out, "intransit-0.1.0+test-1.*.rpm"))
	if len(rpms) != 1 {
		t.Fatalf("build.sh made no single .rpm in %s: %v", out, rpms)
	}
	if b, err := os.ReadFile(rpms[0]); err != nil || !bytes.HasPrefix(b, []byte{0xed, 0xab, 0xee, 0xdb}) {
		t.Errorf("%s is not an RPM package (%v)", rpms[0], err)
	}

	// Maintainer scripts run on this host, with DPKG_ROOT naming the
	// root: they must touch nothing outside it (no systemctl).
	root := newDpkgRoot(t)
	dpkgIn := func(args ...string) string {
		// The throw-away root has no packages: its dependency (nftables)
		// cannot be met there.
		return run(t, nil, dpkg, append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends"}, args...)...)
	}
	dpkgIn("-i", deb)

	files := []struct {
		path string
		mode fs.FileMode
		same string // the file of the repository it must equal
	}{
		{"usr/bin/intransitd", 0o755, ""},
		{"usr/bin/intransit", 0o755, ""},
		{"usr/lib/systemd/system/intransitd.service", 0o644, "../intransitd.service"},
		{"usr/lib/systemd/system/intransitd-guard.service", 0o644, "../intransitd-guard.service"},
		{"usr/lib/systemd/system/intransit-p2s@.service", 0o644, "../intransit-p2s@.service"},
		{"etc/intransit", fs.ModeDir | 0o750, ""},
		{"etc/intransit/intransitd.yaml", 0o640, "intransitd.yaml"},
		{"usr/share/man/man1/intransit.1.gz", 0o644, ""},
		{"usr/share/man/man1/intransit-pki-issue.1.gz", 0o644, ""},
		{"usr/share/man/man1/intransit-p2s-connect.1.gz", 0o644, ""},
		{"usr/share/man/man8/intransitd.8.gz", 0o644, ""},
		{"usr/share/bash-completion/completions/intransit", 0o644, ""},
		{"usr/share/zsh/vendor-completions/_intransit", 0o644, ""},
		{"usr/share/fish/vendor_completions.d/intransit.fish", 0o644, ""},
		{"usr/share/doc/intransit/examples/s2s-gw-a.yaml", 0o644, "../../docs/examples/s2s-gw-a.yaml"},
		{"usr/share/doc/intransit/examples/p2s-gateway.yaml", 0o644, "../../docs/examples/p2s-gateway.yaml"},
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("installed package lacks /%s: %v", f.path, err)
			continue
		}
		if st.Mode() != f.mode {
			t.Errorf("/%s has mode %v, want %v", f.path, st.Mode(), f.mode)
		}
		if f.same != "" {
			want, err := os.ReadFile(f.same)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(root, f.path)); !bytes.Equal(got, want) {
				t.Errorf("/%s differs from systemd/packaging/%s", f.path, f.same)
			}
		}
	}
	conffiles := run(t, nil, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${Conffiles}", "intransit")
	if !strings.Contains(conffiles, "/etc/intransit/intransitd.yaml") {
		t.Errorf("conffiles %q lack /etc/intransit/intransitd.yaml", conffiles)
	}
	// intransitd's flag parsing exits 2 after the usage; what counts is
	// that the installed binary runs and prints it.
	help, err := exec.Command(filepath.Join(root, "usr/bin/intransitd"), "--help").CombinedOutput()
	if !strings.Contains(string(help), "config") {
		t.Errorf("installed intransitd --help: %v\n%s", err, help)
	}
	if help := run(t, nil, filepath.Join(root, "usr/bin/intransit"), "--help"); !strings.Contains(help, "pki") {
		t.Errorf("installed intransit --help:\n%s", help)
	}

	checkManualsAndCompletions(t, root)
	checkInstalledExample(t, root)

	// The installed units pass systemd-analyze verify.
	requireTool(t, "systemd-analyze")
	if out := run(t, nil, "sh", "../verify.sh", root); !strings.Contains(out, "intransitd.service: systemd-analyze verify ok") {
		t.Errorf("verify.sh on the installed units:\n%s", out)
	}

	// An administrator's configuration survives a reinstall.
	conf := filepath.Join(root, "etc/intransit/intransitd.yaml")
	edited := []byte("# edited by the administrator\nlog_format: json\n")
	if err := os.WriteFile(conf, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	dpkgIn("-i", deb)
	if got, _ := os.ReadFile(conf); !bytes.Equal(got, edited) {
		t.Errorf("reinstall replaced the edited configuration with:\n%s", got)
	}

	// A purge removes the package, its configuration and the state the
	// units keep; what the administrator added to /etc/intransit stays.
	for _, f := range []string{"var/lib/intransitd/private.key", "var/lib/intransit/p2s/work/client.key", "etc/intransit/gw.key"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), []byte("key"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dpkgIn("--purge", "intransit")
	for _, gone := range []string{"usr/bin/intransitd", "usr/lib/systemd/system/intransitd.service", "etc/intransit/intransitd.yaml", "var/lib/intransitd", "var/lib/intransit",
		"usr/share/man/man8/intransitd.8.gz", "usr/share/man/man1/intransit.1.gz", "usr/share/bash-completion/completions/intransit",
		"usr/share/zsh/vendor-completions/_intransit", "usr/share/fish/vendor_completions.d/intransit.fish", "usr/share/doc/intransit"} {
		if _, err := os.Stat(filepath.Join(root, gone)); err == nil {
			t.Errorf("/%s is still there after a purge", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/intransit/gw.key")); err != nil {
		t.Errorf("purge removed the administrator's key: %v", err)
	}
}

// checkManualsAndCompletions reads the installed manual pages and shell
// completions: intransitd(8) with its configuration reference, a page per
// command of intransit(1), and completions that name the commands.
func checkManualsAndCompletions(t *testing.T, root string) {
	t.Helper()
	page := func(path string) string {
		t.Helper()
		f, err := os.Open(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("/%s: %v", path, err)
		}
		b, err := io.ReadAll(z)
		if err != nil {
			t.Fatalf("/%s: %v", path, err)
		}
		return string(b)
	}
	for path, want := range map[string][]string{
		"usr/share/man/man8/intransitd.8.gz":          {".TH INTRANSITD 8", "--check", "identity.cert", "remotes[].allowed_prefixes", "store.etcd.endpoints"},
		"usr/share/man/man1/intransit.1.gz":           {".TH \"INTRANSIT\" \"1\"", "intransit-pki(1)"},
		"usr/share/man/man1/intransit-pki-issue.1.gz": {"--profile", "--san"},
	} {
		text := page(path)
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("/%s lacks %q", path, w)
			}
		}
	}
	for path, want := range map[string]string{
		"usr/share/bash-completion/completions/intransit":    "__start_intransit",
		"usr/share/zsh/vendor-completions/_intransit":        "#compdef intransit",
		"usr/share/fish/vendor_completions.d/intransit.fish": "complete -c intransit",
	} {
		if b, err := os.ReadFile(filepath.Join(root, path)); err != nil || !strings.Contains(string(b), want) {
			t.Errorf("/%s lacks %q (%v)", path, want, err)
		}
	}
}

// checkInstalledExample puts the files the installed example configuration
// names beside it, made with the installed CLI (a PKI named example, the
// certificate gw of the gateway profile, the CA bundle as ca.pem and the
// CRL as crl.pem), and runs the installed intransitd --check on it.
func checkInstalledExample(t *testing.T, root string) {
	t.Helper()
	etc := filepath.Join(root, "etc/intransit")
	cli := filepath.Join(root, "usr/bin/intransit")
	pkiDir, key := filepath.Join(t.TempDir(), "pki"), filepath.Join(t.TempDir(), "pki.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := []string{"--dir", pkiDir, "--key-file", key}
	run(t, nil, cli, append([]string{"pki", "init", "--name", "example"}, ca...)...)
	run(t, nil, cli, append([]string{"pki", "issue", "gw", "--profile", "gateway", "--san", "192.0.2.1", "--out", etc}, ca...)...)
	run(t, nil, cli, append([]string{"pki", "crl", "--out", filepath.Join(etc, "crl")}, ca...)...)
	bundle, err := os.ReadFile(filepath.Join(pkiDir, "ca-bundle.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "ca.pem"), bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, nil, filepath.Join(root, "usr/bin/intransitd"), "--config", filepath.Join(etc, "intransitd.yaml"), "--check")
	t.Logf("installed example: %s", strings.TrimSpace(out))
}
