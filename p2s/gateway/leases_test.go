package gateway

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"intransit/p2s"
	"intransit/p2s/pool"
	"intransit/p2s/store/bolt"
)

func TestSweepInterval(t *testing.T) {
	for idle, want := range map[time.Duration]time.Duration{
		3 * time.Second:     750 * time.Millisecond,
		2 * time.Hour:       30 * time.Minute,
		30 * 24 * time.Hour: time.Hour,
	} {
		if got := sweepInterval(idle); got != want {
			t.Errorf("sweepInterval(%s) = %s, want %s", idle, got, want)
		}
	}
}

// TestSweepOnce: a sweep records connected clients as seen and reclaims
// the idle lease of a disconnected client, never a static device's.
func TestSweepOnce(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	for i, c := range []string{"away", "online", staticLease("printer")} {
		l := p2s.Lease{Client: c, Addresses: []netip.Addr{netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)})}, Updated: now.Add(-72 * time.Hour)}
		if err := st.PutLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	pl, err := pool.New(ctx, netip.MustParsePrefix("10.9.0.0/24"), netip.Prefix{}, st)
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{opts: Options{Pool: pl, Store: st, LeaseIdle: 24 * time.Hour}, log: slog.New(slog.DiscardHandler),
		sessions: map[string]*session{"online": {name: "online"}}, ctx: ctx}
	g.sweepOnce(now)
	if g.reclaimed != 1 || pl.InUse() != 2 {
		t.Fatalf("reclaimed %d, %d leases left; want 1 and 2", g.reclaimed, pl.InUse())
	}
	leases, err := st.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		switch l.Client {
		case "away":
			t.Error("the disconnected client's lease is still stored")
		case "online":
			if !l.Updated.Equal(now) {
				t.Errorf("connected client's lease updated %v, want the sweep's %v", l.Updated, now)
			}
		}
	}
	g.sweepOnce(now.Add(25 * time.Hour))
	if g.reclaimed != 1 || pl.InUse() != 2 {
		t.Errorf("a later sweep reclaimed a connected client's or a static device's lease: %d reclaimed, %d left", g.reclaimed, pl.InUse())
	}
}
