package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/daemonconfig"
	"intransit/internal/testutil/pkitest"
	"intransit/internal/testutil/softhsmtest"
	"intransit/pki"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
)

// TestHeldCAInToken: a daemon whose CA keys are both in a PKCS#11 token
// holds and signs with the CA given neither key_file nor passphrase_file;
// a CA whose keys a master key from a file wraps is refused with a clear
// error when neither is given.
func TestHeldCAInToken(t *testing.T) {
	tok := softhsmtest.New(t) // sets SOFTHSM2_CONF: not parallel
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := pki.Init(ctx, pki.InitOptions{Dir: dir, Name: "hsm",
		RootKMS: tok.URI.WithObject("root").String(), IntermediateKMS: tok.URI.WithObject("intermediate").String()})
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.CurrentCRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(t.TempDir(), "crl.pem")
	if err := os.WriteFile(crlFile, pki.PEMCRL(first.DER), 0o644); err != nil {
		t.Fatal(err)
	}
	inter := ca.Intermediate()
	ca.Close()
	cas := &tlspolicy.StaticCAs{Set: tlspolicy.NewCASet(inter)}
	rev, err := tlspolicy.NewRevocation(ctx, &crlsource.File{Path: crlFile}, cas, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	cfg := &daemonconfig.Config{Identity: daemonconfig.Identity{CRL: crlFile}, PKI: &daemonconfig.P2SPKI{Dir: dir}}
	rt, err := startCA(ctx, cfg, rev, log)
	if err != nil {
		t.Fatalf("CA in a token, no key_file or passphrase_file: %v", err)
	}
	if _, err := rt.ca.Issue(ctx, pki.Request{Profile: pki.ProfileGateway, Name: "gw", DNSNames: []string{"gw.test"}}, pki.ECDSAP256); err != nil {
		t.Errorf("the held CA does not sign: %v", err)
	}
	rt.close()

	wrapped := pkitest.NewCA(t, pki.InitOptions{Name: "wrapped"})
	wdir := wrapped.Dir()
	wrapped.Close()
	_, err = startCA(ctx, &daemonconfig.Config{PKI: &daemonconfig.P2SPKI{Dir: wdir}}, rev, log)
	if err == nil || !strings.Contains(err.Error(), "give key_file or passphrase_file") {
		t.Errorf("file-wrapped CA without key_file or passphrase_file: %v, want a clear refusal", err)
	}
}
