package client

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"intransit/internal/status"
	"intransit/tunnel/failclosed"
	"intransit/tunnel/failclosed/failclosedtest"
)

// TestGuardLifecycle walks a laptop's block through a first start, a
// session, a clean stop, a crash and restart, and Restore.
func TestGuardLifecycle(t *testing.T) {
	ctx := context.Background()
	k := &failclosedtest.Memory{}
	dir := t.TempDir()
	table := failclosed.TableName("itc0")
	gw := netip.MustParseAddr("192.0.2.1")

	// First start: no session yet, nothing known, nothing to guard.
	g := newGuard(k, dir, "itc0", false)
	if err := g.start(ctx, gw); err != nil {
		t.Fatal(err)
	}
	if ok, _ := k.Installed(ctx, table); ok {
		t.Fatal("a block before anything was known")
	}
	if b := g.blocks(false, "connecting"); b != nil {
		t.Fatalf("blocks %+v", b)
	}
	// A session pushes a split tunnel and a default route.
	routes := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("fd01::/64")}
	if err := g.connected(ctx, routes, gw); err != nil {
		t.Fatal(err)
	}
	p, ok := k.Table(table)
	if !ok || len(p.Guards) != 1 || p.Guards[0].Name != splitGuard || len(p.Guards[0].Prefixes) != 2 || p.Lockdown ||
		len(p.Exempt) != 1 || p.Exempt[0] != gw {
		t.Fatalf("after the session: %+v, %v", p, ok)
	}
	if b := g.blocks(true, ""); len(b) != 1 || b[0].State != status.BlockArmed || strings.Join(b[0].Prefixes, " ") != "10.1.0.0/24 fd01::/64" {
		t.Fatalf("blocks while up: %+v", b)
	}
	if b := g.blocks(false, "connecting: unreachable"); b[0].State != status.BlockBlocking || !strings.Contains(b[0].Reason, "connecting: unreachable") {
		t.Fatalf("blocks while down: %+v", b)
	}
	// A clean stop lifts the block and keeps the record.
	if err := g.lift(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := k.Installed(ctx, table); ok {
		t.Fatal("the block outlived a clean stop")
	}
	// The next start puts it back before dialing, from the record.
	g = newGuard(k, dir, "itc0", false)
	if err := g.start(ctx, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if p, ok := k.Table(table); !ok || len(p.Guards) != 1 || len(p.Exempt) != 1 {
		t.Fatalf("after a restart: %+v, %v", p, ok)
	}
	if got := g.gateways(); len(got) != 1 || got[0] != gw {
		t.Fatalf("recorded gateways %v", got)
	}
	// After a crash, Restore lifts what the record names.
	if err := liftRecorded(ctx, k, dir); err != nil {
		t.Fatal(err)
	}
	if ok, _ := k.Installed(ctx, table); ok {
		t.Fatal("Restore left the block")
	}
	// The interface changed: the old table goes, the new one comes.
	if err := k.Install(ctx, failclosed.Policy{Interface: "itc0", Lockdown: true}); err != nil {
		t.Fatal(err)
	}
	g = newGuard(k, dir, "itc1", true)
	if err := g.start(ctx, gw); err != nil {
		t.Fatal(err)
	}
	if ok, _ := k.Installed(ctx, table); ok {
		t.Fatal("the earlier interface's block stayed")
	}
	if p, ok := k.Table(failclosed.TableName("itc1")); !ok || !p.Lockdown {
		t.Fatalf("lockdown on itc1: %+v, %v", p, ok)
	}
}

// TestGuardLockdownFirstStart: a lockdown is in force from the first
// start, before any session, and lets the gateway through.
func TestGuardLockdownFirstStart(t *testing.T) {
	k := &failclosedtest.Memory{}
	gw := netip.MustParseAddr("2001:db8::1")
	g := newGuard(k, t.TempDir(), "itc0", true)
	if err := g.start(context.Background(), gw); err != nil {
		t.Fatal(err)
	}
	p, ok := k.Table(failclosed.TableName("itc0"))
	if !ok || !p.Lockdown || len(p.Exempt) != 1 || p.Exempt[0] != gw || len(p.Guards) != 0 {
		t.Fatalf("lockdown: %+v, %v", p, ok)
	}
	if b := g.blocks(false, "connecting"); len(b) != 1 || b[0].Name != failclosed.LockdownName || b[0].State != status.BlockBlocking {
		t.Fatalf("blocks %+v", b)
	}
}

func TestGuardDamagedRecord(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, GuardFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGuard(&failclosedtest.Memory{}, dir, "itc0", false)
	if err := g.start(context.Background(), netip.Addr{}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("start with a damaged record: %v", err)
	}
}
