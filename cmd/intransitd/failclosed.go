package main

import (
	"context"
	"time"

	"intransit/internal/daemonconfig"
	"intransit/internal/status"
	"intransit/tunnel/failclosed"
)

// guardPolicy is the fail-closed policy of a configuration: each remote's
// allowed prefixes, under its name, leave only through the TUN interface.
// The daemon applies it before anything else at start and before the
// remotes change at reload, and leaves it in place when it stops or dies;
// a remote's prefixes are freed only when it leaves the configuration.
func guardPolicy(cfg *daemonconfig.Config) failclosed.Policy {
	p := failclosed.Policy{Interface: cfg.Interface.Name}
	for _, r := range cfg.Remotes {
		p.Guards = append(p.Guards, failclosed.Guard{Name: r.Name, Prefixes: r.Prefixes()})
	}
	return p
}

// poolGuardName names the point-to-site pools' guard.
const poolGuardName = "p2s pools"

// poolGuard is the fail-closed block of the point-to-site pools: traffic
// to the laptops' addresses leaves only through the point-to-site
// interface (none without a p2s section, which also lifts the block a
// configuration with one left on the default interface).
func poolGuard(cfg *daemonconfig.Config) (iface string, p failclosed.Policy) {
	if cfg.P2S == nil {
		return daemonconfig.DefaultP2SInterface, p
	}
	g := failclosed.Guard{Name: poolGuardName}
	for _, pr := range cfg.P2S.Pools {
		g.Prefixes = append(g.Prefixes, pr.Prefix)
	}
	return cfg.P2S.Interface.Name, failclosed.Policy{Guards: []failclosed.Guard{g}}
}

// guards are the daemon's fail-closed blocks.
type guards struct {
	remotes *failclosed.Wall // the remote sites' prefixes, on the s2s interface
	pools   *failclosed.Wall // the laptops' addresses, on the p2s interface
}

// installGuards installs both blocks of a configuration.
func installGuards(ctx context.Context, cfg *daemonconfig.Config) (*guards, error) {
	iface, p := poolGuard(cfg)
	g := &guards{remotes: failclosed.NewWall(failclosed.NFT{}, cfg.Interface.Name), pools: failclosed.NewWall(failclosed.NFT{}, iface)}
	if err := g.remotes.Apply(ctx, guardPolicy(cfg)); err != nil {
		return nil, err
	}
	if err := g.pools.Apply(ctx, p); err != nil {
		return nil, err
	}
	return g, nil
}

// guardRepairEvery is how often the daemon checks that its fail-closed
// table is still there (a firewall manager may flush the ruleset).
const guardRepairEvery = 5 * time.Second

// keepGuard puts the fail-closed tables back whenever it goes missing,
// until the daemon stops.
func (d *daemon) keepGuard() {
	d.wg.Add(2)
	go func() { defer d.wg.Done(); d.guard.remotes.Keep(d.ctx, guardRepairEvery, d.log) }()
	go func() { defer d.wg.Done(); d.guard.pools.Keep(d.ctx, guardRepairEvery, d.log) }()
}

// blocks reads the fail-closed blocks for the status report.
func (d *daemon) blocks(peers []status.Peer) []status.Block {
	ctx, cancel := context.WithTimeout(d.ctx, guardReadTimeout)
	defer cancel()
	blocks := d.guard.remotes.Blocks(ctx, tunnelStates(peers))
	return append(blocks, d.guard.pools.Blocks(ctx, func(string) (bool, string) {
		return d.p2s != nil, "the point-to-site gateway is not running"
	})...)
}

// guardReadTimeout bounds reading the fail-closed table for a status.
const guardReadTimeout = 2 * time.Second

// tunnelStates tells failclosed.Wall.Blocks which remotes' tunnels are up
// and, for the others, why not.
func tunnelStates(peers []status.Peer) failclosed.TunnelState {
	return func(name string) (bool, string) {
		for _, p := range peers {
			if p.Name != name {
				continue
			}
			if p.State == status.StateUp {
				return true, ""
			}
			why := p.State
			if p.Reason != "" {
				why += ": " + p.Reason
			}
			return false, why
		}
		return false, "no session"
	}
}
