package revfeed

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"intransit/internal/testutil/etcdtest"
	"intransit/internal/testutil/pkitest"
	"intransit/pki"
	"intransit/pki/keywrap"
	"intransit/pki/store"
	pkietcd "intransit/pki/store/etcd"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
)

// fleetCA is a CA whose records are in a real etcd, as gateways share it.
func fleetCA(t *testing.T) (*pki.CA, *pkietcd.Store) {
	t.Helper()
	c := etcdtest.Start(t, etcdtest.Options{})
	st := pkietcd.New(c.Client(), "/revfeed/")
	ca, err := pki.Init(context.Background(), pki.InitOptions{Dir: filepath.Join(t.TempDir(), "pki"), Name: "revfeed",
		Secret: keywrap.Passphrase([]byte(pkitest.Passphrase)), KDF: pkitest.FastKDF(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	return ca, st
}

func issue(t *testing.T, ca *pki.CA, name string) *x509.Certificate {
	t.Helper()
	is, err := ca.Issue(context.Background(), pki.Request{Profile: pki.ProfileClient, Name: name}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	return is.Certificate
}

// TestFollowerAppliesEveryRevocation follows a real etcd feed into a real
// tlspolicy.Revocation whose CRL (from the store) lists nothing: a
// revocation made before the follower starts and one made after both
// refuse their certificate, and the Changed channel fires.
func TestFollowerAppliesEveryRevocation(t *testing.T) {
	ctx := t.Context()
	ca, st := fleetCA(t)
	before, after, kept := issue(t, ca, "before"), issue(t, ca, "after"), issue(t, ca, "kept")
	// The stored CRL is signed before any revocation: only the feed can
	// refuse these certificates.
	if _, err := ca.NewCRL(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Revoke(ctx, before.SerialNumber, store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, ca.Bundle(), 0o600); err != nil {
		t.Fatal(err)
	}
	cas, err := tlspolicy.LoadCAFile(bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &CRLSource{Store: st, Fallback: &crlsource.File{Path: filepath.Join(t.TempDir(), "absent.crl")}}
	rev, err := tlspolicy.NewRevocation(ctx, src, cas, nil)
	if err != nil {
		t.Fatalf("the CRL from the store: %v", err)
	}
	var mu sync.Mutex
	var then []uint64
	f := &Follower{Feed: st, Records: st, Sinks: []Sink{rev}, Then: func(r store.Revocation) {
		mu.Lock()
		then = append(then, r.Revision)
		mu.Unlock()
	}}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	waitRevoked(t, rev, before)
	changed := rev.Changed()
	if _, err := ca.Revoke(ctx, after.SerialNumber, store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	<-changed
	waitRevoked(t, rev, after)
	if ref := rev.Check([]*x509.Certificate{kept}); ref != nil {
		t.Fatalf("a certificate never revoked is refused: %v", ref.Err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after its context ended: %v", err)
	}
	if s := f.State(); s.Revision != 2 {
		t.Fatalf("state after two revocations: revision %d", s.Revision)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(then) != 2 || then[0] != 1 || then[1] != 2 {
		t.Fatalf("Then saw revisions %v, want [1 2]", then)
	}
}

// waitRevoked waits until rev refuses c as revoked (the follower runs in
// its own goroutine); the deadline only guards against a hang.
func waitRevoked(t *testing.T, rev *tlspolicy.Revocation, c *x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ref := rev.Check([]*x509.Certificate{c})
		if ref != nil && ref.Reason == tlspolicy.ReasonRevoked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never refused as revoked: %v", c.Subject, ref)
		}
		select {
		case <-rev.Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestCRLSourceFallback reads the fallback while the store holds no CRL.
func TestCRLSourceFallback(t *testing.T) {
	st := pkietcd.New(etcdtest.Start(t, etcdtest.Options{}).Client(), "/empty/")
	file := filepath.Join(t.TempDir(), "crl.der")
	if err := os.WriteFile(file, []byte("fallback"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := (&CRLSource{Store: st, Fallback: &crlsource.File{Path: file}}).FetchCRL(t.Context())
	if err != nil || string(got) != "fallback" {
		t.Fatalf("FetchCRL with no CRL stored = %q, %v; want the fallback's", got, err)
	}
}
