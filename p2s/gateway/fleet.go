package gateway

import (
	"context"
	"net/netip"
	"time"

	"intransit/tunnel/control"
)

// Several gateways that share one store (etcd) serve the same clients
// (Options.Holders, Options.Announcer). The gateway that admits a client
// claims it in the store before it answers, and from then on answers for
// the client's addresses on the site LAN (p2s/announce), so that the site
// sends the client's traffic to it. A client runs one session at a time,
// so the newest claim is the truth: the gateway that loses a claim (the
// client moved to another gateway, possibly while this one was cut off
// from the store) withdraws its announcement at once and ends the stale
// session. After a partition heals, exactly one gateway holds and
// announces each client: the claims are fenced by the store's lease and
// revisions (p2s.Holders).

// Timing of the calls to the store for claims.
const (
	claimTimeout   = 3 * time.Second
	releaseTimeout = 3 * time.Second
)

// lostDetail is the detail of a session ended because another gateway
// holds the client now.
const lostDetail = "the client's session moved to another gateway"

// claim records this gateway as the client's holder; a gateway that
// cannot record it refuses the client, since another gateway may hold it.
func (g *Gateway) claim(ctx context.Context, client string) error {
	if g.opts.Holders == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	if err := g.opts.Holders.Claim(ctx, client); err != nil {
		g.log.Error("p2s claim failed", "client", client, "error", err.Error())
		return control.Refuse(control.ReasonInternal, "the gateway cannot record the session in its store")
	}
	return nil
}

// release gives up the claim on a client that has no session here.
func (g *Gateway) release(client string) {
	if g.opts.Holders == nil {
		return
	}
	g.mu.Lock()
	held := g.sessions[client] != nil
	g.mu.Unlock()
	if held {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := g.opts.Holders.Release(ctx, client); err != nil {
		g.log.Warn("p2s claim not released (it expires with the gateway's lease)", "client", client, "error", err.Error())
	}
}

// announce answers for a client's addresses on the site LAN.
func (g *Gateway) announce(client string, addrs []netip.Addr) {
	if g.opts.Announcer == nil {
		return
	}
	if err := g.opts.Announcer.Announce(addrs...); err != nil {
		g.log.Error("p2s announcement failed", "client", client, "error", err.Error())
	}
}

// withdraw stops answering for a client's addresses.
func (g *Gateway) withdraw(client string, addrs []netip.Addr) {
	if g.opts.Announcer == nil {
		return
	}
	if err := g.opts.Announcer.Withdraw(addrs...); err != nil {
		g.log.Error("p2s announcement not withdrawn", "client", client, "error", err.Error())
	}
}

// followLost ends the sessions of clients that another gateway claimed,
// withdrawing their announcements first.
func (g *Gateway) followLost() {
	for {
		select {
		case <-g.ctx.Done():
			return
		case client := <-g.opts.Holders.Lost():
			g.mu.Lock()
			s := g.sessions[client]
			g.mu.Unlock()
			if s == nil {
				continue
			}
			g.withdraw(client, s.addrs)
			g.log.Warn("p2s client held by another gateway now; ending its session here", "client", client)
			s.sess.Close(control.ReasonShutdown, lostDetail)
		}
	}
}
