package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"intransit/internal/atomicfile"
	"intransit/internal/status"
	"intransit/tunnel/failclosed"
)

// GuardFile in the profile directory records what the client's fail-closed
// block guards, so that the next start puts it back before it dials.
const GuardFile = "guard.json"

// guardRepairEvery is how often the client checks that its fail-closed
// table is still there.
const guardRepairEvery = 5 * time.Second

// splitGuard names the split tunnel's guard in the table and the status.
const splitGuard = "split tunnel"

// guardRecord is what GuardFile holds: the split-tunnel routes of the last
// session and the gateway's addresses (always reachable: the tunnel's own
// packets go there).
type guardRecord struct {
	Interface string         `json:"interface"`
	Split     []netip.Prefix `json:"split,omitempty"`
	Gateways  []netip.Addr   `json:"gateways,omitempty"`
}

// guard is the laptop's fail-closed block (see failclosed): while the
// client connects or reconnects, and after it crashed, the split-tunnel
// prefixes of the last session leave only through the tunnel interface;
// with lockdown nothing leaves but through it, to the gateway, on loopback,
// DHCP and IPv6 neighbour discovery. A clean stop lifts the block (the
// user disconnected) and keeps the record for the next start.
type guard struct {
	kernel   failclosed.Kernel
	wall     *failclosed.Wall
	file     string
	lockdown bool

	mu  sync.Mutex // guards rec
	rec guardRecord
}

func newGuard(k failclosed.Kernel, dir, iface string, lockdown bool) *guard {
	return &guard{kernel: k, wall: failclosed.NewWall(k, iface), file: filepath.Join(dir, GuardFile), lockdown: lockdown, rec: guardRecord{Interface: iface}}
}

// policy is the block the record and the lockdown setting ask for; the
// caller holds g.mu.
func (g *guard) policy() failclosed.Policy {
	p := failclosed.Policy{Lockdown: g.lockdown, Exempt: g.rec.Gateways}
	if len(g.rec.Split) > 0 {
		p.Guards = []failclosed.Guard{{Name: splitGuard, Prefixes: g.rec.Split}}
	}
	return p
}

// start reads the record and installs its block before the client dials;
// gateways are the gateways' addresses as resolved now (invalid ones are
// passed over).
func (g *guard) start(ctx context.Context, gateways ...netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	rec, err := readGuardRecord(g.file)
	if err != nil {
		return err
	}
	if rec != nil {
		g.rec.Split, g.rec.Gateways = rec.Split, rec.Gateways
		if rec.Interface != "" && rec.Interface != g.rec.Interface {
			if _, err := failclosed.Lift(ctx, g.kernel, rec.Interface); err != nil {
				return fmt.Errorf("lift the block of the earlier interface: %w", err)
			}
		}
	}
	for _, gateway := range gateways {
		if gateway.IsValid() && !slices.Contains(g.rec.Gateways, gateway) {
			g.rec.Gateways = append(g.rec.Gateways, gateway)
		}
	}
	return g.wall.Apply(ctx, g.policy())
}

// connected records a session's routes (those but the default routes are
// the split tunnel) and the gateway's address, and applies the block.
func (g *guard) connected(ctx context.Context, routes []netip.Prefix, gateway netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var split []netip.Prefix
	for _, r := range routes {
		if r.Bits() > 0 {
			split = append(split, r)
		}
	}
	gws := []netip.Addr{gateway}
	for _, a := range g.rec.Gateways {
		if a != gateway && len(gws) < 4 {
			gws = append(gws, a)
		}
	}
	g.rec.Split, g.rec.Gateways = split, gws
	data, err := json.Marshal(g.rec)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(g.file, data, 0o600); err != nil {
		return fmt.Errorf("fail-closed record: %w", err)
	}
	return g.wall.Apply(ctx, g.policy())
}

// gateways are the gateway addresses known from the record, newest first.
func (g *guard) gateways() []netip.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.rec.Gateways)
}

// lift removes the block, keeping the record.
func (g *guard) lift(ctx context.Context) error { return g.wall.Lift(ctx) }

// blocks describes the block for the status, as the kernel holds it.
func (g *guard) blocks(up bool, why string) []status.Block {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return g.wall.Blocks(ctx, func(string) (bool, string) { return up, why })
}

// liftRecorded removes the block of the profile in dir, as recorded, after
// a client that died left it.
func liftRecorded(ctx context.Context, k failclosed.Kernel, dir string) error {
	rec, err := readGuardRecord(filepath.Join(dir, GuardFile))
	if err != nil || rec == nil {
		return err
	}
	if _, err := failclosed.Lift(ctx, k, rec.Interface); err != nil {
		return fmt.Errorf("lift the fail-closed block: %w", err)
	}
	return nil
}

// readGuardRecord reads a record; none is (nil, nil).
func readGuardRecord(path string) (*guardRecord, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fail-closed record: %w", err)
	}
	var rec guardRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("fail-closed record: %s is damaged: %w", path, err)
	}
	return &rec, nil
}
