package etcd

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"intransit/internal/testutil/etcdtest"
	"intransit/pki/store"
	"intransit/pki/store/storetest"
)

// backend gives each test its own prefix; each open is a new client, as
// another host would be.
func backend(c *etcdtest.Cluster) storetest.Backend {
	return func(t *testing.T) func() store.Store {
		prefix := fmt.Sprintf("/%s/", t.Name())
		return func() store.Store { return New(c.Client(), prefix) }
	}
}

func TestContract(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	storetest.Run(t, backend(c))
	storetest.RunWatch(t, backend(c))
}

// TestRevisionsAcrossHosts revokes from several clients at once: every
// revocation gets its own revision, without gaps.
func TestRevisionsAcrossHosts(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, etcdtest.Options{})
	hosts := []*Store{New(c.Client(), "/r/"), New(c.Client(), "/r/"), New(c.Client(), "/r/")}
	const n = 24
	for i := int64(1); i <= n; i++ {
		if err := hosts[0].PutCertificate(ctx, storetest.Record(i, "n", "client", time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := int64(1); i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := hosts[i%3].Revoke(ctx, big.NewInt(i), time.Now(), store.ReasonSuperseded); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	revs, cur, err := hosts[1].RevocationsSince(ctx, 0)
	if err != nil || cur != n || len(revs) != n {
		t.Fatalf("feed: %d entries at revision %d, %v; want %d", len(revs), cur, err, n)
	}
	seen := map[int64]bool{}
	for i, r := range revs {
		if r.Revision != uint64(i+1) || seen[r.Serial.Int64()] {
			t.Fatalf("entry %d: %+v", i, r)
		}
		seen[r.Serial.Int64()] = true
	}
}

// TestWatchResumesAfterCompaction starts the watch at an etcd revision that
// a compaction removed: it reads the missed revocations from the store and
// follows on.
func TestWatchResumesAfterCompaction(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, etcdtest.Options{})
	cl := c.Client()
	s := New(cl, "/compact/")
	for i := int64(1); i <= 4; i++ {
		if err := s.PutCertificate(ctx, storetest.Record(i, "n", "client", time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Revoke(ctx, big.NewInt(1), time.Now(), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	_, _, seenAt, err := s.since(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(2); i <= 3; i++ {
		if _, err := s.Revoke(ctx, big.NewInt(i), time.Now(), store.ReasonSuperseded); err != nil {
			t.Fatal(err)
		}
	}
	head, err := cl.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Compact(ctx, head.Header.Revision); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	got := make(chan store.Revocation, 8)
	done := make(chan error, 1)
	go func() {
		done <- s.watch(wctx, 1, seenAt+1, func(r store.Revocation) error { got <- r; return nil })
	}()
	defer func() { cancel(); <-done }()
	for want := uint64(2); want <= 3; want++ {
		if r := storetest.Next(t, got); r.Revision != want {
			t.Fatalf("after compaction: %+v, want revision %d", r, want)
		}
	}
	if _, err := s.Revoke(ctx, big.NewInt(4), time.Now(), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if r := storetest.Next(t, got); r.Revision != 4 {
		t.Fatalf("live after compaction: %+v, want revision 4", r)
	}
}

// TestWatchResumesAfterRestart kills the only member under a running
// watch, restarts it, revokes and compacts from another client: the watch
// delivers what it missed, then what follows.
func TestWatchResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, etcdtest.Options{})
	watcher := New(c.Client(), "/restart/")
	admin := c.Client()
	s := New(admin, "/restart/")
	for i := int64(1); i <= 4; i++ {
		if err := s.PutCertificate(ctx, storetest.Record(i, "n", "client", time.Now().Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Revoke(ctx, big.NewInt(1), time.Now(), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	feed := storetest.Watch(t, watcher, 0)
	if r := storetest.Next(t, feed); r.Revision != 1 {
		t.Fatalf("first entry %+v", r)
	}
	c.Kill(0)
	c.Restart(0)
	for i := int64(2); i <= 3; i++ {
		if _, err := s.Revoke(ctx, big.NewInt(i), time.Now(), store.ReasonSuperseded); err != nil {
			t.Fatal(err)
		}
	}
	head, err := admin.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Compact(ctx, head.Header.Revision); err != nil {
		t.Fatal(err)
	}
	for want := uint64(2); want <= 3; want++ {
		if r := storetest.Next(t, feed); r.Revision != want {
			t.Fatalf("after the restart: %+v, want revision %d", r, want)
		}
	}
	start := time.Now()
	if _, err := s.Revoke(ctx, big.NewInt(4), time.Now(), store.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	if r := storetest.Next(t, feed); r.Revision != 4 {
		t.Fatalf("live after the restart: %+v, want revision 4", r)
	}
	t.Logf("revocation reached the watch %v after Revoke was called (after a restart and a compaction)", time.Since(start).Round(time.Microsecond))
}
