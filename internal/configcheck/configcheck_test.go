package configcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/daemonconfig"
	"intransit/internal/testutil/pkitest"
	"intransit/pki"
)

// material is a real PKI's files for a gateway: its chain (leaf and
// intermediate) and key, another gateway's key, the CA bundle
// (intermediate and root), the root alone, and the intermediate's CRL.
type material struct {
	dir, pkiDir                 string
	chain, key, otherKey        string
	bundle, root, crl, passFile string
}

func newMaterial(t *testing.T) material {
	t.Helper()
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "corp"})
	dir := t.TempDir()
	m := material{dir: dir, pkiDir: ca.Dir(), bundle: filepath.Join(ca.Dir(), pki.BundleFile), root: filepath.Join(ca.Dir(), pki.RootCertFile)}
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
			m.chain, m.key = files.Chain, files.Key
		} else {
			m.otherKey = files.Key
		}
	}
	crl, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m.crl = filepath.Join(dir, "crl.pem")
	m.passFile = filepath.Join(dir, "pki.pass")
	write(t, m.crl, string(pki.PEMCRL(crl.DER)), 0o644)
	write(t, m.passFile, pkitest.Passphrase+"\n", 0o600)
	return m
}

func write(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// config writes a configuration naming the files and parses it; the
// identity section is on lines 1 to 5.
func (m material) config(t *testing.T, cert, key, ca, crl, extra string) *daemonconfig.Config {
	t.Helper()
	text := "identity:\n  cert: " + cert + "\n  key: " + key + "\n  ca: " + ca + "\n  crl: " + crl +
		"\nlisten: {udp: 192.0.2.1:51820}\nsite_prefixes: [10.1.0.0/24]\n" + extra
	path := filepath.Join(m.dir, "gw.yaml")
	write(t, path, text, 0o600)
	cfg, err := daemonconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoadIdentity(t *testing.T) {
	m := newMaterial(t)
	ctx := context.Background()
	cfg := m.config(t, m.chain, m.key, m.bundle, m.crl, "")
	id, err := LoadIdentity(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatalf("good material refused: %v", err)
	}
	if c, _ := id.KeyPair.Certificate(); c.Leaf.Subject.CommonName != "gw-a" || id.Revocation == nil || len(id.CAs.CAs().Certs) != 2 {
		t.Errorf("loaded %+v", id)
	}
	if err := Check(ctx, cfg); err != nil {
		t.Errorf("Check: %v", err)
	}

	other := pkitest.NewCA(t, pki.InitOptions{Name: "other"})
	otherBundle := filepath.Join(other.Dir(), pki.BundleFile)
	for _, tc := range []struct {
		name               string
		cert, key, ca, crl string
		line               int
		field, msg1, msg2  string
	}{
		{"missing certificate", filepath.Join(m.dir, "nosuch.pem"), m.key, m.bundle, m.crl, 2, "identity.cert", "cannot read " + filepath.Join(m.dir, "nosuch.pem"), "no such file or directory"},
		{"missing key", m.chain, filepath.Join(m.dir, "nosuch.key"), m.bundle, m.crl, 3, "identity.key", "cannot read", "no such file"},
		{"key of another certificate", m.chain, m.otherKey, m.bundle, m.crl, 3, "identity.key", "is not the key of the certificate in identity.cert", m.chain},
		{"root where the bundle is needed", m.chain, m.key, m.root, m.crl, 4, "identity.ca", `holds "corp Root CA" but not "corp Intermediate CA"`, "name the bundle that holds the intermediate and the root (the PKI writes it as ca-bundle.pem), not the root alone"},
		{"bundle of another PKI", m.chain, m.key, otherBundle, m.crl, 4, "identity.ca", `does not verify the certificate of identity.cert ("gw-a")`, "x509: certificate signed by unknown authority"},
		{"certificate for a CA", m.chain, m.key, m.chain, m.crl, 4, "identity.ca", "is not a CA", ""},
		{"missing CRL", m.chain, m.key, m.bundle, filepath.Join(m.dir, "nosuch.crl"), 5, "identity.crl", "cannot read", "no such file"},
		{"CRL not a CRL", m.chain, m.key, m.bundle, m.chain, 5, "identity.crl", "not a CRL", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := m.config(t, tc.cert, tc.key, tc.ca, tc.crl, "")
			id, err := LoadIdentity(ctx, cfg, nil, nil)
			errs := daemonconfig.List(err)
			if id != nil || len(errs) == 0 {
				t.Fatalf("accepted: %v", err)
			}
			e := errs[0]
			if e.Line != tc.line || e.Field != tc.field || !strings.Contains(e.Msg, tc.msg1) || !strings.Contains(e.Msg, tc.msg2) {
				t.Errorf("got %s\nwant gw.yaml:%d: %s: ...%s...%s...", e, tc.line, tc.field, tc.msg1, tc.msg2)
			}
			// A bundle of another PKI verifies neither the
			// certificate nor the CRL: two errors.
			if want := 1 + strings.Count(tc.name, "another PKI"); len(errs) != want {
				t.Errorf("%d errors, want %d: %v", len(errs), want, err)
			}
		})
	}
}

// TestLoadIdentityEveryError: a key of another certificate and a missing
// CRL are both reported (a root bundle verifies the chain).
func TestLoadIdentityEveryError(t *testing.T) {
	m := newMaterial(t)
	cfg := m.config(t, m.chain, m.otherKey, m.root, filepath.Join(m.dir, "gone.crl"), "")
	_, err := LoadIdentity(context.Background(), cfg, nil, nil)
	var fields []string
	for _, e := range daemonconfig.List(err) {
		fields = append(fields, e.Field)
	}
	if strings.Join(fields, " ") != "identity.key identity.crl" {
		t.Errorf("fields %v, want identity.key identity.crl (a root verifies the chain; the CRL is missing): %v", fields, err)
	}
}

func TestCASecret(t *testing.T) {
	m := newMaterial(t)
	good := "pki: {dir: " + m.pkiDir + ", passphrase_file: " + m.passFile + "}\n"
	s, err := CASecret(m.config(t, m.chain, m.key, m.bundle, m.crl, good))
	if err != nil {
		t.Fatalf("good secret refused: %v", err)
	}
	s.Wipe()
	open := filepath.Join(m.dir, "open.pass")
	write(t, open, pkitest.Passphrase, 0o644)
	for _, tc := range []struct {
		name, extra, field, msg string
	}{
		{"missing passphrase file", "pki: {dir: " + m.pkiDir + ", passphrase_file: " + filepath.Join(m.dir, "nosuch") + "}\n", "pki.passphrase_file", "no such file"},
		{"passphrase others can read", "pki: {dir: " + m.pkiDir + ", passphrase_file: " + open + "}\n", "pki.passphrase_file", "chmod"},
		{"not a PKI directory", "pki: {dir: " + m.dir + ", passphrase_file: " + m.passFile + "}\n", "pki.dir", "is not a PKI directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CASecret(m.config(t, m.chain, m.key, m.bundle, m.crl, tc.extra))
			errs := daemonconfig.List(err)
			if len(errs) != 1 || errs[0].Field != tc.field || errs[0].Line != 8 || !strings.Contains(errs[0].Msg, tc.msg) {
				t.Errorf("got %v, want gw.yaml:8: %s: ...%s...", err, tc.field, tc.msg)
			}
		})
	}
}
