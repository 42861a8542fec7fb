package failclosed_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"intransit/internal/status"
	"intransit/tunnel/failclosed"
	"intransit/tunnel/failclosed/failclosedtest"
)

func TestMemoryContract(t *testing.T) {
	failclosedtest.Run(t, &failclosedtest.Memory{}, "itd0", "itc0")
}

func guards(name string, ps ...string) []failclosed.Guard {
	g := failclosed.Guard{Name: name}
	for _, p := range ps {
		g.Prefixes = append(g.Prefixes, netip.MustParsePrefix(p))
	}
	return []failclosed.Guard{g}
}

// TestWallLifecycle walks a gateway's wall through start, reload, a
// refused change, a restart and the last remote leaving.
func TestWallLifecycle(t *testing.T) {
	ctx := context.Background()
	k := &failclosedtest.Memory{}
	w := failclosed.NewWall(k, "itd0")
	if w.Table() != "intransit_guard_itd0" {
		t.Fatalf("table %q", w.Table())
	}
	if got := w.Blocks(ctx, nil); got != nil {
		t.Fatalf("blocks before anything: %+v", got)
	}
	// Start: the remote's prefixes are guarded; the interface is the wall's.
	if err := w.Apply(ctx, failclosed.Policy{Interface: "ignored", Guards: guards("site-b", "10.2.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	p, ok := k.Table("intransit_guard_itd0")
	if !ok || p.Interface != "itd0" || len(p.Guards) != 1 || p.Guards[0].Name != "site-b" {
		t.Fatalf("installed %+v, %v", p, ok)
	}
	// A failed change keeps what is in force, in the kernel and in the wall.
	k.Failing = errors.New("nft gone")
	if err := w.Apply(ctx, failclosed.Policy{Guards: guards("site-c", "10.3.0.0/24")}); err == nil {
		t.Fatal("Apply succeeded with a failing kernel")
	}
	k.Failing = nil
	if got := w.Policy().Guards[0].Name; got != "site-b" {
		t.Fatalf("policy after a failed Apply guards %s", got)
	}
	// The process goes; the table stays, and the next one replaces it.
	w2 := failclosed.NewWall(k, "itd0")
	if ok, _ := k.Installed(ctx, w2.Table()); !ok {
		t.Fatal("the table went with the wall")
	}
	if err := w2.Apply(ctx, failclosed.Policy{Guards: guards("site-c", "10.3.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	if p, _ := k.Table(w2.Table()); p.Guards[0].Name != "site-c" {
		t.Fatalf("after restart the table guards %+v", p.Guards)
	}
	// The policy handed out is a copy.
	w2.Policy().Guards[0].Prefixes[0] = netip.MustParsePrefix("0.0.0.0/0")
	if got := w2.Policy().Guards[0].Prefixes[0].String(); got != "10.3.0.0/24" {
		t.Fatalf("Policy shares its prefixes: %s", got)
	}
	// The last remote leaves: no table.
	if err := w2.Apply(ctx, failclosed.Policy{Guards: guards("site-c")}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := k.Installed(ctx, w2.Table()); ok {
		t.Fatal("an empty policy left the table")
	}
	if err := w2.Lift(ctx); err != nil {
		t.Fatalf("Lift without a table: %v", err)
	}
}

func TestBlocks(t *testing.T) {
	ctx := context.Background()
	k := &failclosedtest.Memory{}
	w := failclosed.NewWall(k, "itc0")
	p := failclosed.Policy{Guards: append(guards("site-b", "10.2.0.0/24", "fd02::/64"), guards("site-c", "10.3.0.0/24")...),
		Lockdown: true, Exempt: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
	if err := w.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	state := func(name string) (bool, string) { return name == "site-b", "peer silent" }
	got := w.Blocks(ctx, state)
	if len(got) != 3 {
		t.Fatalf("%d blocks, want 3: %+v", len(got), got)
	}
	for i, want := range []struct{ name, state, reason string }{
		{"site-b", status.BlockArmed, "tunnel up: traffic to these prefixes leaves only through itc0"},
		{"site-c", status.BlockBlocking, "tunnel down (peer silent): traffic to these prefixes is rejected"},
		{failclosed.LockdownName, status.BlockBlocking, "all traffic but the tunnel's own is rejected"},
	} {
		b := got[i]
		if b.Name != want.name || b.State != want.state || !strings.Contains(b.Reason, want.reason) || b.Table != "inet intransit_guard_itc0" || b.Interface != "itc0" {
			t.Errorf("block %d = %+v, want %s %s %q", i, b, want.name, want.state, want.reason)
		}
		if len(b.Exempt) != 1 || b.Exempt[0] != "192.0.2.1" {
			t.Errorf("block %d exempts %v", i, b.Exempt)
		}
	}
	if strings.Join(got[0].Prefixes, " ") != "10.2.0.0/24 fd02::/64" || got[2].Prefixes != nil {
		t.Errorf("prefixes %v and %v", got[0].Prefixes, got[2].Prefixes)
	}
	// The table removed behind the wall's back: every block says so.
	if _, err := k.Remove(ctx, w.Table()); err != nil {
		t.Fatal(err)
	}
	for _, b := range w.Blocks(ctx, state) {
		if b.State != status.BlockMissing || !strings.Contains(b.Reason, "not in force") {
			t.Errorf("block of a removed table: %+v", b)
		}
	}
}

func TestLiftChecksTheInterface(t *testing.T) {
	k := &failclosedtest.Memory{}
	if _, err := failclosed.Lift(context.Background(), k, "bad name"); err == nil {
		t.Fatal("Lift accepted an invalid interface name")
	}
	if err := k.Install(context.Background(), failclosed.Policy{Interface: "itd0", Lockdown: true}); err != nil {
		t.Fatal(err)
	}
	if ok, err := failclosed.Lift(context.Background(), k, "itd0"); !ok || err != nil {
		t.Fatalf("Lift = %v, %v", ok, err)
	}
}

// TestWallRepair: a table removed behind the wall's back comes back; an
// empty policy needs none; a kernel that fails is reported.
func TestWallRepair(t *testing.T) {
	ctx := context.Background()
	k := &failclosedtest.Memory{}
	w := failclosed.NewWall(k, "itd0")
	if repaired, err := w.Repair(ctx); repaired || err != nil {
		t.Fatalf("Repair with nothing guarded = %v, %v", repaired, err)
	}
	if err := w.Apply(ctx, failclosed.Policy{Guards: guards("site-b", "10.2.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	if repaired, err := w.Repair(ctx); repaired || err != nil {
		t.Fatalf("Repair with the table in place = %v, %v", repaired, err)
	}
	if _, err := k.Remove(ctx, w.Table()); err != nil {
		t.Fatal(err)
	}
	if repaired, err := w.Repair(ctx); !repaired || err != nil {
		t.Fatalf("Repair of a removed table = %v, %v", repaired, err)
	}
	if p, ok := k.Table(w.Table()); !ok || p.Guards[0].Name != "site-b" {
		t.Fatalf("repaired table %+v, %v", p, ok)
	}
	k.Failing = errors.New("nft gone")
	if _, err := w.Repair(ctx); err == nil {
		t.Fatal("Repair hid a failing kernel")
	}
}
