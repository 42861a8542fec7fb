package pool

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"intransit/internal/testutil/etcdtest"
	"intransit/p2s"
	"intransit/p2s/store/bolt"
	"intransit/p2s/store/etcd"
)

// testTwoPools runs two pools (two gateways) on one store: clients
// connecting through both at once never share an address, a client keeps
// its address through either, and a pool's sweep never takes a lease the
// other pool has just seen.
func testTwoPools(t *testing.T, s1, s2 p2s.Leases) {
	ctx := context.Background()
	v4 := netip.MustParsePrefix("10.9.0.0/26") // 62 addresses
	p1, err := New(ctx, v4, netip.Prefix{}, s1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := New(ctx, v4, netip.Prefix{}, s2)
	if err != nil {
		t.Fatal(err)
	}
	const clients = 62 // every address: no client may be refused
	got := make([][]netip.Addr, clients)
	var wg sync.WaitGroup
	for i := range clients {
		p := p1
		if i%2 == 1 {
			p = p2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			as, err := p.Acquire(ctx, fmt.Sprintf("c%d", i))
			if err != nil {
				t.Error(err)
			}
			got[i] = as
		}()
	}
	wg.Wait()
	owner := map[netip.Addr]int{}
	for i, as := range got {
		if len(as) != 1 {
			t.Fatalf("c%d got %v", i, as)
		}
		if o, dup := owner[as[0]]; dup {
			t.Fatalf("c%d and c%d share %s", o, i, as[0])
		}
		owner[as[0]] = i
	}
	// c0 got its lease through pool 1; through pool 2 it keeps it.
	as, err := p2.Acquire(ctx, "c0")
	if err != nil || !slices.Equal(as, got[0]) {
		t.Fatalf("c0 through the other gateway: %v %v, had %v", as, err, got[0])
	}
	// Pool 2 sees c1 now: a sweep on pool 1 of leases idle for an hour
	// takes none; one of everything not kept takes c1.
	if err := p2.Touch(ctx, time.Now(), "c1"); err != nil {
		t.Fatal(err)
	}
	freed, err := p1.Reclaim(ctx, time.Now().Add(-time.Hour), func(string) bool { return false })
	if err != nil || len(freed) != 0 {
		t.Fatalf("a sweep took fresh leases: %v %v", freed, err)
	}
	freed, err = p1.Reclaim(ctx, time.Now().Add(time.Hour), func(c string) bool { return c != "c1" })
	if err != nil || !slices.Equal(freed, []string{"c1"}) {
		t.Fatalf("reclaimed %v %v, want [c1]", freed, err)
	}
	if n := p1.InUse(); n != clients-1 {
		t.Errorf("pool 1 sees %d leases after the sweep, want %d", n, clients-1)
	}
}

func TestTwoPoolsOnBolt(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testTwoPools(t, st, st)
}

func TestTwoPoolsOnEtcd(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	opts := etcd.Options{Prefix: "/pools/", LeaseIdle: time.Hour}
	testTwoPools(t, etcd.New(c.Client(), opts), etcd.New(c.Client(), opts))
}

// TestAddressBackAfterTheStoreDropsTheLease has the store lose a client's
// lease behind the pool's back (another gateway's sweep, an etcd lease
// expiring): the client gets its old address back when it is still free,
// and a new one when another client took it.
func TestAddressBackAfterTheStoreDropsTheLease(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := New(ctx, netip.MustParsePrefix("10.9.0.0/29"), netip.Prefix{}, st)
	if err != nil {
		t.Fatal(err)
	}
	first, err := p.Acquire(ctx, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteLeases(ctx, "laptop"); err != nil {
		t.Fatal(err)
	}
	again, err := p.Acquire(ctx, "laptop")
	if err != nil || !slices.Equal(again, first) {
		t.Fatalf("after the store dropped the lease: %v %v, want %v back", again, err, first)
	}
	if err := st.DeleteLeases(ctx, "laptop"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateLease(ctx, p2s.Lease{Client: "other", Addresses: first, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	moved, err := p.Acquire(ctx, "laptop")
	if err != nil || slices.Equal(moved, first) {
		t.Fatalf("the old address went to another client: laptop got %v %v", moved, err)
	}
	if n := p.InUse(); n != 2 {
		t.Errorf("in use %d, want 2", n)
	}
}
