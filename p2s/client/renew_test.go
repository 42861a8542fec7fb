package client

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/renewal"
	"intransit/tunnel"
)

// TestMaterialSource: the client's material as the renewal.Source.
// Certificate is the one in use, also after its files changed; Reload
// takes the pair in the profile into use, keeping the WireGuard key and the
// CAs; a pair that does not fit together is an error, and the material in
// use stays.
func TestMaterialSource(t *testing.T) {
	ctx := context.Background()
	ca := pkitest.NewCA(t, pki.InitOptions{Name: "srctest"})
	issue := func() (*pki.Issued, []byte, []byte) {
		t.Helper()
		is, err := ca.Issue(ctx, pki.Request{Profile: pki.ProfileClient, Name: "ivy"}, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		files, err := ca.WriteIssued(t.TempDir(), is)
		if err != nil {
			t.Fatal(err)
		}
		chain, err := os.ReadFile(files.Chain)
		if err != nil {
			t.Fatal(err)
		}
		key, err := os.ReadFile(files.Key)
		if err != nil {
			t.Fatal(err)
		}
		return is, chain, key
	}
	first, chain, _ := issue()
	wg, err := tunnel.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := writeProfile(dir, &Profile{Name: "ivy"}, first.Key, chain, ca.Bundle(), wg); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMaterial(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{opts: Options{Dir: dir}}
	c.mat.Store(m)
	var src renewal.Source = materialSource{c}
	inUse := func() *x509.Certificate {
		t.Helper()
		cur, err := src.Certificate()
		if err != nil {
			t.Fatal(err)
		}
		return cur.Leaf
	}

	second, chain2, key2 := issue()
	if err := renewal.Install(filepath.Join(dir, ChainFile), filepath.Join(dir, KeyFile), chain2, key2); err != nil {
		t.Fatal(err)
	}
	if !inUse().Equal(first.Certificate) {
		t.Fatalf("the certificate in use changed before Reload")
	}
	if err := src.Reload(ctx); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !inUse().Equal(second.Certificate) || !c.mat.Load().Leaf.Equal(second.Certificate) {
		t.Fatalf("Reload did not take the installed certificate into use")
	}
	if now := c.mat.Load(); now.WireGuard != wg || len(now.CAs) != len(m.CAs) {
		t.Errorf("Reload changed the WireGuard key or the CAs")
	}

	_, chain3, _ := issue()
	if err := os.WriteFile(filepath.Join(dir, ChainFile), chain3, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := src.Reload(ctx); err == nil {
		t.Fatalf("Reload of a chain that does not fit the key succeeded")
	}
	if !inUse().Equal(second.Certificate) {
		t.Errorf("a failed Reload changed the certificate in use")
	}
}
