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

// guardRepairEvery is how often the daemon checks that its fail-closed
// table is still there (a firewall manager may flush the ruleset).
const guardRepairEvery = 5 * time.Second

// keepGuard puts the fail-closed table back whenever it goes missing,
// until the daemon stops.
func (d *daemon) keepGuard() {
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.guard.Keep(d.ctx, guardRepairEvery, d.log) }()
}

// blocks reads the fail-closed blocks for the status report.
func (d *daemon) blocks(peers []status.Peer) []status.Block {
	ctx, cancel := context.WithTimeout(d.ctx, guardReadTimeout)
	defer cancel()
	return d.guard.Blocks(ctx, tunnelStates(peers))
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
