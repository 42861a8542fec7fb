package pool

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"intransit/p2s"
	"intransit/p2s/store/bolt"
)

func TestAcquireKeepsAddresses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), bolt.FileName)
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParsePrefix("10.9.0.0/24"), netip.MustParsePrefix("fd00:9::/112")
	p, err := New(ctx, v4, v6, st)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != 254 {
		t.Errorf("size %d, want 254", p.Size())
	}
	seen := map[netip.Addr]string{}
	got := map[string][]netip.Addr{}
	for _, c := range []string{"a", "b", "c"} {
		as, err := p.Acquire(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 2 || !v4.Contains(as[0]) || !v6.Contains(as[1]) || as[0] == v4.Addr() {
			t.Fatalf("%s got %v", c, as)
		}
		if o, dup := seen[as[0]]; dup {
			t.Fatalf("%s and %s share %s", c, o, as[0])
		}
		seen[as[0]] = c
		got[c] = as
	}
	again, _ := p.Acquire(ctx, "b")
	if again[0] != got["b"][0] {
		t.Errorf("b reconnected with %v, had %v", again, got["b"])
	}
	st.Close()
	st, err = bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err = New(ctx, v4, v6, st)
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range got {
		as, err := p.Acquire(ctx, c)
		if err != nil || as[0] != want[0] || as[1] != want[1] {
			t.Errorf("after restart %s got %v (%v), had %v", c, as, err, want)
		}
	}
	if err := p.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if p.InUse() != 2 {
		t.Errorf("in use %d after a release, want 2", p.InUse())
	}
}

func TestExhaustion(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := New(ctx, netip.MustParsePrefix("10.9.0.0/30"), netip.Prefix{}, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"a", "b"} {
		if _, err := p.Acquire(ctx, c); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	if _, err := p.Acquire(ctx, "c"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("third client in a /30: %v, want ErrExhausted", err)
	}
	if _, err := p.Acquire(ctx, "a"); err != nil {
		t.Errorf("a leased client is refused in a full pool: %v", err)
	}
}

func TestBadPools(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct{ v4, v6 string }{
		{"", ""}, {"10.9.0.0/31", ""}, {"10.9.0.1/24", ""}, {"", "fd00::/127"}, {"fd00::/64", ""},
	} {
		var v4, v6 netip.Prefix
		if tc.v4 != "" {
			v4 = netip.MustParsePrefix(tc.v4)
		}
		if tc.v6 != "" {
			v6 = netip.MustParsePrefix(tc.v6)
		}
		if _, err := New(context.Background(), v4, v6, st); err == nil {
			t.Errorf("pools %q %q accepted", tc.v4, tc.v6)
		}
	}
}

func TestReclaimIdleLeases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), bolt.FileName)
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	v4 := netip.MustParsePrefix("10.9.0.0/29") // 6 host indexes
	now := time.Now().UTC()
	longAgo := now.Add(-48 * time.Hour)
	for i, c := range []string{"idle", "connected", "back", "recent", "static:printer"} {
		updated := longAgo
		if c == "recent" {
			updated = now.Add(-time.Hour)
		}
		l := p2s.Lease{Client: c, Addresses: []netip.Addr{netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)})}, Updated: updated}
		if err := st.PutLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	p, err := New(ctx, v4, netip.Prefix{}, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Acquire(ctx, "back"); err != nil { // reconnects: seen now
		t.Fatal(err)
	}
	keep := func(c string) bool { return c == "connected" || strings.HasPrefix(c, "static:") }
	got, err := p.Reclaim(ctx, now.Add(-24*time.Hour), keep)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"idle"}) {
		t.Fatalf("reclaimed %v, want [idle]", got)
	}
	if p.InUse() != 4 {
		t.Errorf("in use %d after reclaiming one of 5, want 4", p.InUse())
	}
	// The freed address can be handed out again.
	as, err := p.Acquire(ctx, "another")
	if err != nil || as[0] != netip.MustParseAddr("10.9.0.1") {
		t.Fatalf("another got %v (%v), want the reclaimed 10.9.0.1", as, err)
	}
	if err := p.Touch(ctx, now, "connected", "nobody"); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	leases, err := st.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byClient := map[string]p2s.Lease{}
	for _, l := range leases {
		byClient[l.Client] = l
	}
	if _, ok := byClient["idle"]; ok {
		t.Error("the reclaimed lease is still in the store")
	}
	if got := byClient["another"].Addresses; !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.9.0.1")}) {
		t.Errorf("another's stored lease %v", got)
	}
	if u := byClient["connected"].Updated; !u.Equal(now) {
		t.Errorf("touched lease updated %v, want %v", u, now)
	}
	// Acquiring records the client as seen in the store, not in one
	// gateway's memory: another gateway's sweep must see it too.
	if u := byClient["back"].Updated; u.Before(now) {
		t.Errorf("an acquired lease's stored time is %v, want at least %v", u, now)
	}
}
