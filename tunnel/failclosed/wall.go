package failclosed

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"intransit/internal/status"
)

// Wall is the block of one TUN interface as its process keeps it: the
// policy last applied, installed through a Kernel. Methods are safe for
// concurrent use.
type Wall struct {
	k     Kernel
	iface string

	mu sync.Mutex
	p  Policy // the policy in force; Empty when no table is installed
}

// NewWall returns the wall of iface; it changes nothing until Apply.
func NewWall(k Kernel, iface string) *Wall {
	return &Wall{k: k, iface: iface, p: Policy{Interface: iface}}
}

// Table is the wall's nftables table.
func (w *Wall) Table() string { return TableName(w.iface) }

// Apply puts p in force (its Interface is the wall's): a policy that
// guards something replaces the table in one step; an Empty one removes
// the table. On error the policy in force stays.
func (w *Wall) Apply(ctx context.Context, p Policy) error {
	p.Interface = w.iface
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.Empty() {
		if _, err := w.k.Remove(ctx, w.Table()); err != nil {
			return err
		}
	} else if err := w.k.Install(ctx, p); err != nil {
		return err
	}
	w.p = clonePolicy(p)
	return nil
}

// Repair puts the table back when the policy guards something and the
// table is gone (a firewall manager flushed the ruleset, someone deleted
// it), and reports whether it had to.
func (w *Wall) Repair(ctx context.Context) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.p.Empty() {
		return false, nil
	}
	ok, err := w.k.Installed(ctx, w.Table())
	if err != nil || ok {
		return false, err
	}
	if err := w.k.Install(ctx, w.p); err != nil {
		return false, err
	}
	return true, nil
}

// Keep calls Repair every interval until ctx ends, telling log when it
// put the table back or could not.
func (w *Wall) Keep(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		repaired, err := w.Repair(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("fail-closed table missing and not restored", "table", w.Table(), "error", err.Error())
		case repaired:
			log.Warn("fail-closed table was removed by someone else; restored", "table", w.Table())
		}
	}
}

// Lift removes the table, whatever the policy.
func (w *Wall) Lift(ctx context.Context) error {
	return w.Apply(ctx, Policy{})
}

// Policy returns the policy in force.
func (w *Wall) Policy() Policy {
	w.mu.Lock()
	defer w.mu.Unlock()
	return clonePolicy(w.p)
}

// TunnelState tells Blocks whether the tunnel serving a guard (by name) is
// up, and if not, why.
type TunnelState func(guard string) (up bool, why string)

// Blocks describes the blocks in force for a status report, as the kernel
// holds them: one per guard with prefixes, and one for a lockdown, with
// the packets each rejected; a table gone from the kernel shows as
// BlockMissing.
func (w *Wall) Blocks(ctx context.Context, state TunnelState) []status.Block {
	p := w.Policy()
	if p.Empty() {
		return nil
	}
	counts, cerr := w.k.Rejected(ctx, w.Table())
	table := "inet " + TableName(p.Interface)
	var exempt []string
	for _, a := range p.Exempt {
		exempt = append(exempt, a.String())
	}
	block := func(name string, prefixes []netip.Prefix, guarded string) status.Block {
		b := status.Block{Name: name, Table: table, Interface: p.Interface, Exempt: exempt, State: status.BlockArmed}
		for _, pr := range prefixes {
			b.Prefixes = append(b.Prefixes, pr.String())
		}
		up, why := state(name)
		b.Rejected = counts[name]
		if cerr != nil {
			b.State = status.BlockMissing
			b.Reason = fmt.Sprintf("the table is not in force (%v): being restored", cerr)
			return b
		}
		if up {
			b.Reason = fmt.Sprintf("tunnel up: %s leaves only through %s", guarded, p.Interface)
		} else {
			b.State = status.BlockBlocking
			b.Reason = fmt.Sprintf("tunnel down (%s): %s is rejected, never sent in clear", why, guarded)
		}
		return b
	}
	var out []status.Block
	for _, g := range p.Guards {
		if len(g.Prefixes) > 0 {
			out = append(out, block(g.Name, g.Prefixes, "traffic to these prefixes"))
		}
	}
	if p.Lockdown {
		out = append(out, block(LockdownName, nil, "all traffic but the tunnel's own"))
	}
	return out
}

// LockdownName names a lockdown in Blocks and in the TunnelState query.
const LockdownName = "lockdown"

func clonePolicy(p Policy) Policy {
	p.Guards = slices.Clone(p.Guards)
	for i := range p.Guards {
		p.Guards[i].Prefixes = slices.Clone(p.Guards[i].Prefixes)
	}
	p.Exempt = slices.Clone(p.Exempt)
	return p
}

// Lift removes the table of iface through k, whoever installed it, and
// reports whether there was one.
func Lift(ctx context.Context, k Kernel, iface string) (bool, error) {
	if !ifaceName.MatchString(iface) {
		return false, fmt.Errorf("interface %q: want 1 to 15 letters, digits, '_', '.' or '-'", iface)
	}
	return k.Remove(ctx, TableName(iface))
}
