package pool

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

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
