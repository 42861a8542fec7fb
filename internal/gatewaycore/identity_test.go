package gatewaycore

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"intransit/internal/testutil/certs"
	"intransit/tlspolicy"
	"intransit/tlspolicy/crlsource"
)

// testIdentity is an Identity over files: the gateway's certificate, the
// CA and a CRL revoking revoked.
func testIdentity(t *testing.T, ca *certs.CA, own *certs.Leaf, revoked ...*x509.Certificate) *Identity {
	t.Helper()
	dir := t.TempDir()
	caPath := certs.WriteFile(t, dir, "ca.pem", certs.PEM("CERTIFICATE", ca.Cert.Raw))
	crlPath := certs.WriteFile(t, dir, "crl.pem", ca.CRL(time.Now().Add(time.Hour), revoked...))
	certPath, keyPath := own.WriteFiles(t, dir, "gw")
	prof, err := tlspolicy.Builtin(tlspolicy.PQ)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tlspolicy.LoadKeyPairFiles(certPath, keyPath, prof, nil)
	if err != nil {
		t.Fatal(err)
	}
	cas, err := tlspolicy.LoadCAFile(caPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := tlspolicy.NewRevocation(context.Background(), &crlsource.File{Path: crlPath}, cas, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{Certificate: kp, CAs: cas, Revocation: rev}
	if err := id.Complete("test"); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIdentityOwn(t *testing.T) {
	ca := certs.NewCA(t, "identity test CA")
	own := ca.Issue(certs.LeafOptions{CommonName: "gw-a", URIs: []string{"intransit://t/gateway/gw-a"}})
	id := testIdentity(t, ca, own)
	o, err := id.Own()
	if err != nil {
		t.Fatal(err)
	}
	if o.Identity != "intransit://t/gateway/gw-a" || !o.NotAfter.Equal(own.Cert.NotAfter) || o.Signer == nil {
		t.Errorf("Own = %+v", o)
	}
	if id.Profile == nil {
		t.Error("Complete left the profile empty")
	}
	if err := (&Identity{}).Complete("gw"); err == nil {
		t.Error("an identity without certificate was completed")
	}
}

// watchedSession is a Watched that records its cut.
type watchedSession struct {
	leaf *x509.Certificate
	mu   sync.Mutex
	why  string
	cut  chan struct{}
}

func (w *watchedSession) PeerCertificate() *x509.Certificate { return w.leaf }

func (w *watchedSession) Cut(why, _ string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.why == "" {
		w.why = why
		close(w.cut)
	}
}

func TestIdentityVerdictAndWatch(t *testing.T) {
	ca := certs.NewCA(t, "identity test CA")
	own := ca.Issue(certs.LeafOptions{CommonName: "gw-a"})
	good := ca.Issue(certs.LeafOptions{CommonName: "good"})
	revoked := ca.Issue(certs.LeafOptions{CommonName: "revoked"})
	expiring := ca.Issue(certs.LeafOptions{CommonName: "expiring", NotAfter: time.Now().Add(time.Hour)})
	id := testIdentity(t, ca, own, revoked.Cert)
	now := time.Now()
	for _, tc := range []struct {
		name string
		leaf *x509.Certificate
		at   time.Time
		want string
	}{
		{"good", good.Cert, now, ""},
		{"revoked", revoked.Cert, now, CutRevoked},
		{"before expiry", expiring.Cert, now, ""},
		{"after expiry", expiring.Cert, now.Add(2 * time.Hour), CutExpired},
	} {
		if why, detail := id.Verdict(tc.leaf, tc.at); why != tc.want || (why != "" && detail == "") {
			t.Errorf("%s: Verdict = %q %q, want %q", tc.name, why, detail, tc.want)
		}
	}
	// Watch cuts the revoked session and leaves the good one.
	bad := &watchedSession{leaf: revoked.Cert, cut: make(chan struct{})}
	fine := &watchedSession{leaf: good.Cert, cut: make(chan struct{})}
	pending := &watchedSession{cut: make(chan struct{})} // no certificate yet
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		id.Watch(ctx, time.Millisecond, func() []Watched { return []Watched{fine, pending, bad} })
	}()
	<-bad.cut
	cancel()
	<-done
	if bad.why != CutRevoked || fine.why != "" || pending.why != "" {
		t.Errorf("cuts: revoked %q, good %q, pending %q", bad.why, fine.why, pending.why)
	}
}

// TestWatchCutsOnFeedRevocation: a revocation from a store's feed (not in
// the CRL) cuts a watched session at once, without waiting for the
// interval (an hour here), and leaves the others.
func TestWatchCutsOnFeedRevocation(t *testing.T) {
	ca := certs.NewCA(t, "identity test CA")
	own := ca.Issue(certs.LeafOptions{CommonName: "gw-a"})
	good := ca.Issue(certs.LeafOptions{CommonName: "good"})
	later := ca.Issue(certs.LeafOptions{CommonName: "revoked later"})
	id := testIdentity(t, ca, own)
	bad := &watchedSession{leaf: later.Cert, cut: make(chan struct{})}
	fine := &watchedSession{leaf: good.Cert, cut: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	checked := make(chan struct{}, 1)
	go func() {
		defer close(done)
		id.Watch(ctx, time.Hour, func() []Watched {
			select {
			case checked <- struct{}{}:
			default:
			}
			return []Watched{fine, bad}
		})
	}()
	id.Revocation.AddRevoked(later.Cert.RawIssuer, later.Cert.SerialNumber, time.Now())
	<-bad.cut
	<-checked
	cancel()
	<-done
	if bad.why != CutRevoked || fine.why != "" {
		t.Errorf("cuts: revoked %q, good %q", bad.why, fine.why)
	}
}

// TestWatchChecksLateSessionsInFull: a session that joins after a
// revocation was applied (admitted while the change was under way) is
// checked against the revocation state at the next tick, not only for its
// expiry; a session Watch has already found good is still cut when its
// certificate expires.
func TestWatchChecksLateSessionsInFull(t *testing.T) {
	ca := certs.NewCA(t, "identity test CA")
	own := ca.Issue(certs.LeafOptions{CommonName: "gw-a"})
	short := ca.Issue(certs.LeafOptions{CommonName: "short", NotAfter: time.Now().Add(300 * time.Millisecond)})
	late := ca.Issue(certs.LeafOptions{CommonName: "late"})
	id := testIdentity(t, ca, own)
	expiring := &watchedSession{leaf: short.Cert, cut: make(chan struct{})}
	missed := &watchedSession{leaf: late.Cert, cut: make(chan struct{})}
	var mu sync.Mutex
	list := []Watched{expiring}
	checks := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		id.Watch(ctx, 20*time.Millisecond, func() []Watched {
			mu.Lock()
			defer mu.Unlock()
			select {
			case checks <- struct{}{}:
			default:
			}
			return append([]Watched(nil), list...)
		})
	}()
	<-checks
	// The revocation is applied while the late session is not listed yet.
	id.Revocation.AddRevoked(late.Cert.RawIssuer, late.Cert.SerialNumber, time.Now())
	<-checks
	<-checks
	mu.Lock()
	list = append(list, missed)
	mu.Unlock()
	<-missed.cut
	<-expiring.cut
	cancel()
	<-done
	if missed.why != CutRevoked || expiring.why != CutExpired {
		t.Errorf("cuts: late %q, expiring %q", missed.why, expiring.why)
	}
}
