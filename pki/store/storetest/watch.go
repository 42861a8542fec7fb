package storetest

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"intransit/pki/store"
)

// Watch runs a store.RevocationWatcher in the background and hands its
// revocations over a channel; the watch ends when the test does.
func Watch(t *testing.T, w store.RevocationWatcher, after uint64) <-chan store.Revocation {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan store.Revocation, 64)
	done := make(chan error, 1)
	go func() {
		done <- w.WatchRevocations(ctx, after, func(r store.Revocation) error {
			select {
			case out <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("watch ended with %v, want context.Canceled", err)
		}
	})
	return out
}

// Next returns the next revocation of a watch, failing the test when none
// comes within a minute (a hung watch, not a slow one).
func Next(t *testing.T, ch <-chan store.Revocation) store.Revocation {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(time.Minute):
		t.Fatal("no revocation from the watch within a minute")
		return store.Revocation{}
	}
}

// RunWatch runs the contract of store.RevocationWatcher against a backend
// whose stores implement it.
func RunWatch(t *testing.T, b Backend) {
	t.Run("WatchInOrderFromAnyRevision", func(t *testing.T) { testWatch(t, b) })
	t.Run("WatchStopsOnCallbackError", func(t *testing.T) { testWatchStops(t, b) })
}

func testWatch(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b(t)()
	defer s.Close()
	w := s.(store.RevocationWatcher)
	exp := time.Now().Add(time.Hour)
	for i := int64(1); i <= 4; i++ {
		if err := s.PutCertificate(ctx, Record(i, "n", "client", exp)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Revoke(ctx, big.NewInt(1), time.Now(), store.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	all := Watch(t, w, 0)
	if r := Next(t, all); r.Revision != 1 || r.Serial.Int64() != 1 || r.Reason != store.ReasonKeyCompromise {
		t.Fatalf("first entry %+v, want serial 1 at revision 1", r)
	}
	for i := int64(2); i <= 3; i++ {
		if _, err := s.Revoke(ctx, big.NewInt(i), time.Now(), store.ReasonSuperseded); err != nil {
			t.Fatal(err)
		}
	}
	for want := uint64(2); want <= 3; want++ {
		if r := Next(t, all); r.Revision != want || r.Serial.Uint64() != want {
			t.Fatalf("entry %+v, want serial %d at revision %d", r, want, want)
		}
	}
	late := Watch(t, w, 2)
	if r := Next(t, late); r.Revision != 3 {
		t.Fatalf("a watch from revision 2 began with %+v, want revision 3", r)
	}
	if _, err := s.Revoke(ctx, big.NewInt(4), time.Now(), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan store.Revocation{all, late} {
		if r := Next(t, ch); r.Revision != 4 {
			t.Fatalf("entry %+v, want revision 4", r)
		}
	}
	select {
	case r := <-all:
		t.Fatalf("an entry delivered twice or invented: %+v", r)
	default:
	}
}

func testWatchStops(t *testing.T, b Backend) {
	ctx := context.Background()
	s := b(t)()
	defer s.Close()
	if err := s.PutCertificate(ctx, Record(1, "n", "client", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, big.NewInt(1), time.Now(), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	err := s.(store.RevocationWatcher).WatchRevocations(ctx, 0, func(store.Revocation) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("watch returned %v, want the callback's error", err)
	}
}
