package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/pki/keywrap"
	"intransit/pki/store"
)

var testKDF = keywrap.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

func initCA(t *testing.T, dir string, secret keywrap.Secret) *CA {
	t.Helper()
	ca, err := Init(context.Background(), InitOptions{Dir: dir, Secret: secret, KDF: testKDF, PermittedDNSDomains: []string{"example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// snapshot returns the content and mode of every file in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := e.Info()
		out[e.Name()] = fi.Mode().String() + string(b)
	}
	return out
}

func TestInitLayoutAndNoClearKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ca := initCA(t, dir, keywrap.Passphrase([]byte("pw")))
	defer ca.Close()
	for name, mode := range map[string]os.FileMode{
		ConfigFile: 0o644, KeyringFile: 0o600, RootCertFile: 0o644, IntermediateFile: 0o644, BundleFile: 0o644, StoreFile: 0o600,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.interKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for name, content := range snapshot(t, dir) {
		if strings.Contains(content, string(der)) || strings.Contains(content, string(keyPEM)) || strings.Contains(content, "PRIVATE KEY") {
			t.Errorf("%s holds the intermediate key in the clear", name)
		}
	}
	if ca.root.MaxPathLen != 1 || !ca.inter.MaxPathLenZero || ca.inter.MaxPathLen != 0 {
		t.Errorf("path lengths: root %d, intermediate %d (zero %v)", ca.root.MaxPathLen, ca.inter.MaxPathLen, ca.inter.MaxPathLenZero)
	}
	if !ca.inter.PermittedDNSDomainsCritical || len(ca.inter.PermittedDNSDomains) != 1 {
		t.Errorf("intermediate name constraints: %v (critical %v)", ca.inter.PermittedDNSDomains, ca.inter.PermittedDNSDomainsCritical)
	}
	if DescribeKey(ca.root.PublicKey) != "ecdsa-p384" || DescribeKey(ca.inter.PublicKey) != "ecdsa-p256" {
		t.Errorf("default key types: root %s, intermediate %s", DescribeKey(ca.root.PublicKey), DescribeKey(ca.inter.PublicKey))
	}
}

func TestInitRefusesExistingPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ca := initCA(t, dir, keywrap.Passphrase([]byte("pw")))
	ca.Close()
	before := snapshot(t, dir)
	_, err := Init(context.Background(), InitOptions{Dir: dir, Secret: keywrap.Passphrase([]byte("other")), KDF: testKDF})
	if !IsRefusal(err) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("init over an existing PKI: err = %v; want a refusal", err)
	}
	if after := snapshot(t, dir); !equalMaps(before, after) {
		t.Fatal("refused init changed files")
	}
}

func TestWrongSecretChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pki")
	initCA(t, dir, keywrap.Passphrase([]byte("right"))).Close()
	before := snapshot(t, dir)
	raw, _ := keywrap.RawKey(bytes.Repeat([]byte{1}, 32))
	for name, s := range map[string]keywrap.Secret{"passphrase": keywrap.Passphrase([]byte("wrong")), "key": raw} {
		if _, err := Open(ctx, dir, s, OpenOptions{}); !errors.Is(err, keywrap.ErrWrongSecret) || !strings.Contains(err.Error(), KeyringFile) {
			t.Errorf("open with wrong %s: err = %v; want ErrWrongSecret naming %s", name, err, KeyringFile)
		}
		if err := RotateMaster(context.Background(), dir, s, keywrap.Passphrase([]byte("new")), testKDF); !errors.Is(err, keywrap.ErrWrongSecret) {
			t.Errorf("rotate with wrong %s: err = %v; want ErrWrongSecret", name, err)
		}
	}
	if after := snapshot(t, dir); !equalMaps(before, after) {
		t.Fatal("a wrong secret changed files on disk")
	}
}

func TestRotateMaster(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pki")
	ca := initCA(t, dir, keywrap.Passphrase([]byte("old")))
	is, err := ca.Issue(ctx, Request{Profile: ProfileServer, Name: "s", DNSNames: []string{"s.example.net"}}, ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	ca.Close()
	certsBefore := snapshot(t, dir)
	raw, _ := keywrap.RawKey(bytes.Repeat([]byte{42}, 32))
	if err := RotateMaster(context.Background(), dir, keywrap.Passphrase([]byte("old")), raw, testKDF); err != nil {
		t.Fatal(err)
	}
	certsAfter := snapshot(t, dir)
	for _, f := range []string{RootCertFile, IntermediateFile, ConfigFile} {
		if certsBefore[f] != certsAfter[f] {
			t.Errorf("%s changed on master rotation", f)
		}
	}
	if certsBefore[KeyringFile] == certsAfter[KeyringFile] {
		t.Error("keyring unchanged by rotation")
	}
	if _, err := Open(ctx, dir, keywrap.Passphrase([]byte("old")), OpenOptions{}); !errors.Is(err, keywrap.ErrWrongSecret) {
		t.Fatalf("old passphrase after rotation: err = %v", err)
	}
	ca, err = Open(ctx, dir, raw, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	rec, err := ca.Store().Certificate(ctx, is.Certificate.SerialNumber)
	if err != nil || rec.Name != "s" {
		t.Fatalf("record after rotation: %v, %v", rec, err)
	}
	if _, err := ca.Issue(ctx, Request{Profile: ProfileClient, Name: "c"}, ECDSAP256); err != nil {
		t.Fatalf("issue after rotation: %v", err)
	}
}

func TestOpenErrorsNameTheProblem(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	pw := keywrap.Passphrase([]byte("pw"))
	if _, err := Open(ctx, filepath.Join(base, "nope"), pw, OpenOptions{}); err == nil || !strings.Contains(err.Error(), "no PKI directory") {
		t.Errorf("missing dir: %v", err)
	}
	if _, err := Open(ctx, base, pw, OpenOptions{}); err == nil || !strings.Contains(err.Error(), ConfigFile+" is missing") {
		t.Errorf("empty dir: %v", err)
	}
	dir := filepath.Join(base, "pki")
	initCA(t, dir, pw).Close()
	db := filepath.Join(dir, StoreFile)
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(db, fi.Size()/3); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, pw, OpenOptions{}); err == nil || !strings.Contains(err.Error(), db) {
		t.Errorf("truncated store: err = %v; want it to name %s", err, db)
	}
	keyring := filepath.Join(dir, KeyringFile)
	good, err := os.ReadFile(keyring)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyring, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, pw, OpenOptions{}); err == nil || !strings.Contains(err.Error(), keyring) {
		t.Errorf("truncated keyring: err = %v; want it to name %s", err, keyring)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("version: 1\nname: x\ncrl_validity: 1h\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, pw, OpenOptions{}); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("unknown config field: err = %v; want the line named", err)
	}
}

func TestHandler(t *testing.T) {
	ctx := context.Background()
	ca := initCA(t, filepath.Join(t.TempDir(), "pki"), keywrap.Passphrase([]byte("pw")))
	defer ca.Close()
	is, err := ca.Issue(ctx, Request{Profile: ProfileServer, Name: "s", IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/pki", ca.Handler()))
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, body := get("/pki/ca.pem")
	var certs []*x509.Certificate
	for blk, rest := pem.Decode(body); blk != nil; blk, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if resp.StatusCode != 200 || len(certs) != 2 || !certs[0].Equal(ca.inter) || !certs[1].Equal(ca.root) {
		t.Fatalf("/ca.pem: status %d, %d certificates", resp.StatusCode, len(certs))
	}
	if _, err := ca.Revoke(ctx, is.Certificate.SerialNumber, store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	resp, body = get("/pki/crl")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("/crl: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rl, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(ca.inter); err != nil || len(rl.RevokedCertificateEntries) != 1 {
		t.Fatalf("/crl: signature %v, %d entries", err, len(rl.RevokedCertificateEntries))
	}
	if _, body = get("/pki/crl.pem"); !bytes.HasPrefix(body, []byte("-----BEGIN X509 CRL-----")) {
		t.Fatalf("/crl.pem: %q", body)
	}
	resp, err = http.Post(srv.URL+"/pki/crl", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /crl: status %d", resp.StatusCode)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
