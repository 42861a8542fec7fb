package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/testutil/etcdtest"
)

// TestPKIStoreConfig keeps a PKI's records on etcd: what one host issues
// with --store-config, another host's list shows, with no file lock; the
// local pki.db does not hold it.
func TestPKIStoreConfig(t *testing.T) {
	dir, pass := pkiEnv(t)
	files, tlsOpts := etcdtest.NewPKITLS(t)
	c := etcdtest.Start(t, etcdtest.Options{TLS: tlsOpts})
	storeFile := filepath.Join(t.TempDir(), "store.yaml")
	text := fmt.Sprintf("store:\n  backend: etcd\n  etcd:\n    endpoints: [%s]\n    ca: %s\n    cert: %s\n    key: %s\n    prefix: /cli/\n",
		c.Endpoints()[0], files.CA, files.ClientCert, files.ClientKey)
	if err := os.WriteFile(storeFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p := []string{"--dir", dir, "--passphrase-file", pass}
	pkiCmd := func(args ...string) (string, int) {
		return runPKICLI(t, append(append([]string{"pki"}, args...), p...)...)
	}
	if out, code := pkiCmd("init", "--name", "acme"); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	if out, code := pkiCmd("issue", "gw9", "--profile", "gateway", "--san", "gw9.example.net", "--store-config", storeFile); code != 0 {
		t.Fatalf("issue on etcd: exit %d\n%s", code, out)
	}
	out, code := pkiCmd("list", "--store-config", storeFile)
	if code != 0 || !strings.Contains(out, "gw9") {
		t.Fatalf("list on etcd: exit %d\n%s", code, out)
	}
	if out, code := pkiCmd("revoke", "gw9", "--store-config", storeFile); code != 0 {
		t.Fatalf("revoke on etcd: exit %d\n%s", code, out)
	}
	if out, code := pkiCmd("list", "--status", "revoked", "--store-config", storeFile); code != 0 || !strings.Contains(out, "gw9") {
		t.Fatalf("revoked list on etcd: exit %d\n%s", code, out)
	}
	if out, code := pkiCmd("list"); code != 0 || strings.Contains(out, "gw9") {
		t.Fatalf("the local pki.db holds the etcd record: exit %d\n%s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("store:\n  backend: zookeeper\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := pkiCmd("list", "--store-config", bad); code != 2 || !strings.Contains(out, "bad.yaml:2") {
		t.Fatalf("a bad store file: exit %d\n%s", code, out)
	}
}
