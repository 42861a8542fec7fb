package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"intransit/internal/daemonconfig"
	"intransit/internal/statestore"
	"intransit/internal/testutil/etcdtest"
	"intransit/p2s"
	"intransit/p2s/enroll"
)

// TestFleetAdminFromAnyHost runs the admin commands of gateways that share
// an etcd store with --store-config alone, as on a host with no daemon:
// pki init puts the records in etcd (and refuses a store that holds a PKI),
// p2s invite writes a token there, p2s list shows the enrolled laptop and
// p2s revoke revokes its certificates, once.
func TestFleetAdminFromAnyHost(t *testing.T) {
	dir, pass := pkiEnv(t)
	files, tlsOpts := etcdtest.NewPKITLS(t)
	c := etcdtest.Start(t, etcdtest.Options{TLS: tlsOpts})
	storeFile := filepath.Join(t.TempDir(), "store.yaml")
	text := fmt.Sprintf("store:\n  backend: etcd\n  etcd:\n    endpoints: [%s]\n    ca: %s\n    cert: %s\n    key: %s\n    prefix: /fleetcli/\n",
		c.Endpoints()[0], files.CA, files.ClientCert, files.ClientKey)
	if err := os.WriteFile(storeFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	pkiCmd := func(d string, args ...string) (string, int) {
		return runPKICLI(t, append(append([]string{"pki"}, args...), "--dir", d, "--passphrase-file", pass, "--store-config", storeFile)...)
	}
	if out, code := pkiCmd(dir, "init", "--name", "fleet"); code != 0 {
		t.Fatalf("init onto etcd: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "pki.db")); err == nil {
		t.Fatal("init onto etcd made a pki.db")
	}
	if out, code := pkiCmd(filepath.Join(t.TempDir(), "other"), "init", "--name", "other"); code != 1 || !strings.Contains(out, "already holds") {
		t.Fatalf("a second PKI on the same prefix: exit %d\n%s", code, out)
	}
	out, code := pkiCmd(dir, "issue", "alice", "--profile", "client", "--out", t.TempDir())
	if code != 0 {
		t.Fatalf("issue: exit %d\n%s", code, out)
	}
	serial := strings.Fields(out)[3] // "issued client certificate SERIAL to ..."

	out, code = runP2SCLI(t, "p2s", "invite", "bob", "--group", "staff", "--store-config", storeFile, "--pki-dir", dir, "--output", "json")
	if code != 0 {
		t.Fatalf("invite: exit %d\n%s", code, out)
	}
	var inv enroll.Invitation
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("invite output %q: %v", out, err)
	}
	tt, err := enroll.ParseToken(inv.Token)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := daemonconfig.LoadStore(storeFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := statestore.Open(ctx, cfg, "", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if tok, err := st.P2S.Token(ctx, tt.ID); err != nil || tok.Name != "bob" || tok.Group != "staff" {
		t.Fatalf("the token in etcd: %+v %v", tok, err)
	}
	// alice enrolled as a gateway records it.
	if err := st.P2S.PutClient(ctx, p2s.Client{Name: "alice", Group: "staff", Enrolled: time.Now(), Serials: []string{serial}}); err != nil {
		t.Fatal(err)
	}
	out, code = runP2SCLI(t, "p2s", "list", "--store-config", storeFile, "--output", "json")
	var list []enrolledView
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Name != "alice" || list[0].Serials[0] != serial {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	if out, code := runP2SCLI(t, "p2s", "revoke", "alice", "--store-config", storeFile, "--reason", "keyCompromise"); code != 0 || !strings.Contains(out, "revoked "+serial) {
		t.Fatalf("revoke: exit %d\n%s", code, out)
	}
	if out, code := pkiCmd(dir, "list", "--status", "revoked"); code != 0 || !strings.Contains(out, "alice") {
		t.Fatalf("alice not revoked in the PKI records: exit %d\n%s", code, out)
	}
	if out, code := runP2SCLI(t, "p2s", "revoke", "alice", "--store-config", storeFile); code != 1 || !strings.Contains(out, "no valid certificate") {
		t.Fatalf("revoking twice: exit %d\n%s", code, out)
	}
	if out, code := runP2SCLI(t, "p2s", "revoke", "carol", "--store-config", storeFile); code != 1 || !strings.Contains(out, "no laptop named") {
		t.Fatalf("revoking an unknown laptop: exit %d\n%s", code, out)
	}
	boltFile := filepath.Join(t.TempDir(), "bolt.yaml")
	if err := os.WriteFile(boltFile, []byte("store:\n  backend: bolt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := runP2SCLI(t, "p2s", "list", "--store-config", boltFile); code != 1 || !strings.Contains(out, "admin socket") {
		t.Fatalf("list on a bolt store: exit %d\n%s", code, out)
	}
}
