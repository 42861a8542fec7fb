package gateway

import (
	"context"
	"strings"
	"time"
)

// leaseSweepEvery is the longest time between two lease sweeps.
const leaseSweepEvery = time.Hour

// sweepInterval is how often leases are swept for an idle time: a quarter
// of it, at most leaseSweepEvery. A client away for longer than idle loses
// its lease at the first sweep after that; after a gateway crash, up to one
// interval earlier, since connected clients are recorded as seen at each
// sweep.
func sweepInterval(idle time.Duration) time.Duration {
	return min(idle/4, leaseSweepEvery)
}

// sweepLeases reclaims idle leases every sweepInterval until the gateway
// stops. The first sweep waits one interval, so that clients have time to
// come back after a gateway restart.
func (g *Gateway) sweepLeases() {
	t := time.NewTicker(sweepInterval(g.opts.LeaseIdle))
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case now := <-t.C:
			g.sweepOnce(now)
		}
	}
}

// sweepOnce records the connected clients as seen at now, then releases
// the leases of clients not seen since now - LeaseIdle. Static devices
// keep theirs: they are removed by hand.
func (g *Gateway) sweepOnce(now time.Time) {
	ctx, cancel := context.WithTimeout(g.ctx, time.Minute)
	defer cancel()
	g.mu.Lock()
	connected := make([]string, 0, len(g.sessions))
	for name := range g.sessions {
		connected = append(connected, name)
	}
	g.mu.Unlock()
	if len(connected) > 0 {
		if err := g.opts.Pool.Touch(ctx, now, connected...); err != nil {
			g.log.Error("p2s lease sweep: recording connected clients failed", "error", err.Error())
			return
		}
	}
	// The connected clients were just seen, and one connecting since was
	// seen in the store when it acquired its lease: neither is idle. keep
	// runs inside the store's transaction, so it must not take g.mu
	// (AddStatic holds g.mu while it calls the pool).
	keep := func(client string) bool { return strings.HasPrefix(client, staticLease("")) }
	freed, err := g.opts.Pool.Reclaim(ctx, now.Add(-g.opts.LeaseIdle), keep)
	if err != nil {
		g.log.Error("p2s lease sweep failed", "error", err.Error())
		return
	}
	if len(freed) == 0 {
		return
	}
	g.mu.Lock()
	g.reclaimed += uint64(len(freed))
	g.mu.Unlock()
	for _, c := range freed {
		g.log.Info("p2s lease reclaimed", "client", c, "idle_for_more_than", g.opts.LeaseIdle.String())
	}
}

// seen records that a client was connected until now, so that its lease
// counts its idle time from its disconnect.
func (g *Gateway) seen(client string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.opts.Pool.Touch(ctx, time.Now(), client); err != nil {
		g.log.Error("p2s lease: recording the disconnect failed", "client", client, "error", err.Error())
	}
}
