// Package packaging holds the test of the intransit packages that build.sh
// makes: the .deb is installed with dpkg into a throw-away root, checked,
// reinstalled over an edited configuration and purged.
package packaging

import (
	"bytes"
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
		return run(t, nil, dpkg, append([]string{"--root=" + root, "--force-script-chrootless"}, args...)...)
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
	for _, gone := range []string{"usr/bin/intransitd", "usr/lib/systemd/system/intransitd.service", "etc/intransit/intransitd.yaml", "var/lib/intransitd", "var/lib/intransit"} {
		if _, err := os.Stat(filepath.Join(root, gone)); err == nil {
			t.Errorf("/%s is still there after a purge", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/intransit/gw.key")); err != nil {
		t.Errorf("purge removed the administrator's key: %v", err)
	}
}
