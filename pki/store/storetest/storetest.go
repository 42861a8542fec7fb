// Package storetest checks that a store.Store backend keeps the contract
// written on the interface. Every backend's tests call Run.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"intransit/pki/store"
)

// Backend makes fresh, empty storage for one test and returns a function
// that opens it. The test closes each store before opening it again.
type Backend func(t *testing.T) (open func() store.Store)

// Record returns a certificate record with the given serial, for tests.
func Record(serial int64, name, profile string, notAfter time.Time) *store.Certificate {
	return &store.Certificate{
		Serial:    big.NewInt(serial),
		Name:      name,
		Profile:   profile,
		Subject:   "CN=" + name,
		KeyType:   "ecdsa-p256",
		NotBefore: notAfter.Add(-24 * time.Hour),
		NotAfter:  notAfter,
		IssuedAt:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(serial) * time.Second),
		Status:    store.StatusValid,
		DER:       []byte(fmt.Sprintf("der-%d", serial)),
	}
}

// Run runs the contract tests against the backend.
func Run(t *testing.T, b Backend) {
	t.Run("PutAndGet", func(t *testing.T) { testPutAndGet(t, b) })
	t.Run("SerialNeverReused", func(t *testing.T) { testSerialNeverReused(t, b) })
	t.Run("RevokeAndFeed", func(t *testing.T) { testRevokeAndFeed(t, b) })
	t.Run("Filter", func(t *testing.T) { testFilter(t, b) })
	t.Run("CRLNumbers", func(t *testing.T) { testCRLNumbers(t, b) })
	t.Run("Durable", func(t *testing.T) { testDurable(t, b) })
}

func testPutAndGet(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b(t)()
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Second)
	rec := Record(42, "gw1", "gateway", now.Add(time.Hour))
	rec.DNSNames = []string{"gw1.example"}
	if err := s.PutCertificate(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Certificate(ctx, big.NewInt(42))
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial.Int64() != 42 || got.Name != "gw1" || string(got.DER) != "der-42" || got.DNSNames[0] != "gw1.example" || !got.NotAfter.Equal(rec.NotAfter) {
		t.Fatalf("record changed on the way: %+v", got)
	}
	got.DNSNames[0] = "changed"
	again, err := s.Certificate(ctx, big.NewInt(42))
	if err != nil {
		t.Fatal(err)
	}
	if again.DNSNames[0] != "gw1.example" {
		t.Fatal("returned record aliases the stored one")
	}
	if _, err := s.Certificate(ctx, big.NewInt(43)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing serial: err = %v, want ErrNotFound", err)
	}
}

func testSerialNeverReused(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b(t)()
	defer s.Close()
	exp := time.Now().Add(time.Hour)
	const callers = 16
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.PutCertificate(ctx, Record(7, fmt.Sprintf("c%d", i), "client", exp))
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrSerialExists):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent writers recorded serial 7, want exactly 1", won)
	}
	if _, err := s.Revoke(ctx, big.NewInt(7), time.Now(), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCertificate(ctx, Record(7, "again", "client", exp)); !errors.Is(err, store.ErrSerialExists) {
		t.Fatalf("reuse of a revoked serial: err = %v, want ErrSerialExists", err)
	}
}

func testRevokeAndFeed(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b(t)()
	defer s.Close()
	exp := time.Now().Add(time.Hour).UTC()
	for i := int64(1); i <= 3; i++ {
		if err := s.PutCertificate(ctx, Record(i, fmt.Sprintf("n%d", i), "server", exp)); err != nil {
			t.Fatal(err)
		}
	}
	if revs, cur, err := s.RevocationsSince(ctx, 0); err != nil || len(revs) != 0 || cur != 0 {
		t.Fatalf("fresh feed = %v, %d, %v; want empty at revision 0", revs, cur, err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	c, err := s.Revoke(ctx, big.NewInt(2), at, store.ReasonKeyCompromise)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != store.StatusRevoked || c.Reason != store.ReasonKeyCompromise || !c.RevokedAt.Equal(at) || c.Revision != 1 {
		t.Fatalf("revoked record = %+v", c)
	}
	if _, err := s.Revoke(ctx, big.NewInt(2), at, store.ReasonKeyCompromise); !errors.Is(err, store.ErrAlreadyRevoked) {
		t.Fatalf("second revoke: err = %v, want ErrAlreadyRevoked", err)
	}
	if _, err := s.Revoke(ctx, big.NewInt(99), at, store.ReasonKeyCompromise); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke of unknown serial: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Revoke(ctx, big.NewInt(3), at, store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	revs, cur, err := s.RevocationsSince(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cur != 2 || len(revs) != 2 || revs[0].Serial.Int64() != 2 || revs[1].Serial.Int64() != 3 || revs[1].Revision != 2 {
		t.Fatalf("feed = %+v at %d; want serials 2, 3 at revisions 1, 2", revs, cur)
	}
	if !revs[0].At.Equal(at) || revs[0].Reason != store.ReasonKeyCompromise || !revs[0].NotAfter.Equal(exp) {
		t.Fatalf("feed entry = %+v; want revoked at %v for keyCompromise, expiring %v", revs[0], at, exp)
	}
	revs, cur, err = s.RevocationsSince(ctx, 1)
	if err != nil || cur != 2 || len(revs) != 1 || revs[0].Serial.Int64() != 3 {
		t.Fatalf("feed since 1 = %+v at %d, %v; want serial 3 only", revs, cur, err)
	}
}

func testFilter(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b(t)()
	defer s.Close()
	now := time.Now()
	recs := []*store.Certificate{
		Record(1, "a", "gateway", now.Add(48*time.Hour)),
		Record(2, "b", "server", now.Add(2*time.Hour)),
		Record(3, "c", "client", now.Add(-time.Hour)),
		Record(4, "a", "gateway", now.Add(72*time.Hour)),
	}
	for _, r := range recs {
		if err := s.PutCertificate(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Revoke(ctx, big.NewInt(1), now, store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    store.Filter
		want []int64
	}{
		{"all", store.Filter{}, []int64{1, 2, 3, 4}},
		{"by name", store.Filter{Name: "a"}, []int64{1, 4}},
		{"by profile", store.Filter{Profile: "server"}, []int64{2}},
		{"valid", store.Filter{Status: store.StatusValid}, []int64{2, 4}},
		{"revoked", store.Filter{Status: store.StatusRevoked}, []int64{1}},
		{"expired", store.Filter{Status: store.StatusExpired}, []int64{3}},
		{"expiring within a day", store.Filter{NotAfterBefore: now.Add(24 * time.Hour), Status: store.StatusValid}, []int64{2}},
	} {
		got, err := s.Certificates(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var serials []int64
		for _, c := range got {
			serials = append(serials, c.Serial.Int64())
		}
		if fmt.Sprint(serials) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, serials, tc.want)
		}
	}
}

func testCRLNumbers(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b(t)()
	defer s.Close()
	if _, err := s.CurrentCRL(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CRL of a fresh store: err = %v, want ErrNotFound", err)
	}
	var last uint64
	for range 3 {
		n, err := s.NextCRLNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n <= last {
			t.Fatalf("CRL number %d after %d", n, last)
		}
		last = n
	}
	if err := s.PutCRL(ctx, &store.CRL{Number: 3, DER: []byte("crl3")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCRL(ctx, &store.CRL{Number: 2, DER: []byte("crl2")}); !errors.Is(err, store.ErrStaleCRL) {
		t.Fatalf("older CRL: err = %v, want ErrStaleCRL", err)
	}
	c, err := s.CurrentCRL(ctx)
	if err != nil || c.Number != 3 || string(c.DER) != "crl3" {
		t.Fatalf("current CRL = %+v, %v; want number 3", c, err)
	}
}

func testDurable(t *testing.T, b Backend) {
	ctx := context.Background()
	open := b(t)
	s := open()
	exp := time.Now().Add(time.Hour)
	if err := s.PutCertificate(ctx, Record(5, "kept", "server", exp)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, big.NewInt(5), time.Now(), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	n, err := s.NextCRLNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	c, err := s.Certificate(ctx, big.NewInt(5))
	if err != nil || c.Status != store.StatusRevoked {
		t.Fatalf("after reopen: %+v, %v; want revoked record", c, err)
	}
	if _, cur, err := s.RevocationsSince(ctx, 0); err != nil || cur != 1 {
		t.Fatalf("revision after reopen = %d, %v; want 1", cur, err)
	}
	if m, err := s.NextCRLNumber(ctx); err != nil || m <= n {
		t.Fatalf("CRL number after reopen = %d, %v; want above %d", m, err, n)
	}
}
