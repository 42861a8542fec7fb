// Package storeguard watches a gateway's link to its shared store (etcd)
// and keeps every call to the store bounded: while the store does not
// answer, calls fail at once with an error wrapping p2s.ErrUnreachable that
// says since when and why, so that a gateway cut off from the store refuses
// new clients and enrollments with that reason instead of hanging, and
// keeps its established tunnels (fail static).
package storeguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"intransit/p2s"
)

// Defaults of Guard.
const (
	// DefaultEvery is the time between two probes.
	DefaultEvery = 500 * time.Millisecond
	// DefaultProbeTimeout bounds one probe.
	DefaultProbeTimeout = time.Second
	// DefaultCallTimeout bounds one call through the guard: longer than
	// etcd's own request timeout (5 s plus two election timeouts), which a
	// write in flight when the leader dies runs into before it is retried.
	DefaultCallTimeout = 10 * time.Second
	// DefaultDownAfter is how long probes must keep failing before the
	// store counts as unreachable: longer than an etcd leader election
	// (the death of one member of three), which calls ride out.
	DefaultDownAfter = 4 * time.Second
)

// Probe checks that the store answers a read that needs its quorum (a
// linearizable read in etcd). It gives up when ctx ends.
type Probe func(ctx context.Context) error

// Guard follows the store's reachability.
type Guard struct {
	// Name names the store in errors and logs ("etcd").
	Name  string
	Probe Probe
	// Every, ProbeTimeout, CallTimeout and DownAfter default to the
	// constants.
	Every, ProbeTimeout, CallTimeout, DownAfter time.Duration
	Logger                                      *slog.Logger

	mu        sync.Mutex
	down      bool
	since     time.Time
	cause     string
	failSince time.Time // first failure of the current run of failures
}

// Health is the store's reachability as the guard last saw it.
type Health struct {
	// Reachable is false while the store does not answer; Since is when
	// the current state began, Error why it is unreachable.
	Reachable bool
	Since     time.Time
	Error     string
}

func (g *Guard) every() time.Duration { return cmpOr(g.Every, DefaultEvery) }

func (g *Guard) probeTimeout() time.Duration { return cmpOr(g.ProbeTimeout, DefaultProbeTimeout) }

func (g *Guard) callTimeout() time.Duration { return cmpOr(g.CallTimeout, DefaultCallTimeout) }

func (g *Guard) downAfter() time.Duration { return cmpOr(g.DownAfter, DefaultDownAfter) }

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (g *Guard) log() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// Run probes the store every Every until ctx ends.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.every())
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, g.probeTimeout())
		err := g.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		g.observe(err, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// observe records a probe's outcome at now and logs a change: the store
// is unreachable once probes have failed for DownAfter, reachable again at
// the first probe that succeeds.
func (g *Guard) observe(err error, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		g.failSince = time.Time{}
		if g.down {
			g.log().Info("shared store reachable again", "store", g.Name, "unreachable_for", now.Sub(g.since).Round(time.Millisecond).String())
			g.down, g.since, g.cause = false, now, ""
		}
		return
	}
	if g.failSince.IsZero() {
		g.failSince = now
	}
	if g.down || now.Sub(g.failSince) < g.downAfter() {
		return
	}
	g.down, g.since, g.cause = true, g.failSince, err.Error()
	g.log().Error("shared store unreachable: new clients and enrollments are refused (no lease can be recorded); connected clients keep their tunnels",
		"store", g.Name, "since", g.since.UTC().Format(time.RFC3339), "error", g.cause)
}

// Health returns the store's reachability.
func (g *Guard) Health() Health {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Health{Reachable: !g.down, Since: g.since, Error: g.cause}
}

// Err returns an error wrapping p2s.ErrUnreachable while the store is
// unreachable, nil otherwise.
func (g *Guard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.down {
		return nil
	}
	return g.unreachable(g.since, g.cause)
}

func (g *Guard) unreachable(since time.Time, cause string) error {
	return fmt.Errorf("%w: %s unreachable since %s (%s)", p2s.ErrUnreachable, g.Name, since.UTC().Format(time.RFC3339), cause)
}

// Do runs fn unless the store is known unreachable, with a context bounded
// by CallTimeout. A call that runs out of that time (not of the caller's)
// is reported as the store unreachable.
func (g *Guard) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := g.Err(); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, g.callTimeout())
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return g.unreachable(time.Now(), fmt.Sprintf("no answer within %s: %v", g.callTimeout(), err))
	}
	return err
}
